"""Time multi-trait animal-model AI-REML (henderson.reml.fit_reml, t traits) on simulated data.

Data: ``henderson.simulate.simulate(SimulationSpec(n_animals, seed, traits=t,
missing_fraction=0.2))`` — 10 yearly cohorts, 20 herds, 80 % of the animals with a record, each
trait missing on 20 % of the records; model per trait ``y_j = herd_year + sex + animal + e``
(herd_year and sex fixed per trait, additive animal effect with A⁻¹, unstructured G0 and R0).
Each case runs in its own subprocess (clean peak RSS); the numba kernels are compiled on a tiny
problem first and that is not timed.

Columns: traits, animals, records, observed values, unknowns of the MME, set-up seconds
(simulation, pedigree, A⁻¹, designs), seconds for the univariate starting values (one univariate
AI-REML per trait), multi-trait AI-REML iterations, seconds per iteration, multi-trait REML
wall-clock seconds (symbolic analysis, every factorization, selected inverse, AI matrix, SEs),
peak RSS of the subprocess, and the estimated genetic and residual correlation of the first two
traits (simulated: 0.6 and 0.5).

Usage: python benchmarks/bench_multitrait.py [--sizes 20000 50000] [--traits 2 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _known(values) -> list[str | None]:
    """Parent IDs with the simulator's "0" (unknown) as None."""
    return [None if v == "0" else v for v in values.astype(str)]


def _model(n_animals: int, traits: int, seed: int):
    from henderson.design import additive_effect
    from henderson.model import build_model
    from henderson.pedigree import sort_pedigree
    from henderson.relationship import pedigree_relationship_from
    from henderson.simulate import SimulationSpec, simulate

    data = simulate(SimulationSpec(n_animals=n_animals, seed=seed, traits=traits, missing_fraction=0.2))
    ped_frame = data.pedigree
    ped = sort_pedigree(list(ped_frame["id"].astype(str)), _known(ped_frame["sire"]), _known(ped_frame["dam"]))
    names = list(data.parameters["traits"])
    records = data.phenotypes
    records = records[records[names].notna().any(axis=1)].reset_index(drop=True)
    animal = additive_effect("animal", records["id"], pedigree_relationship_from(ped))
    return build_model(records, names, (("herd_year", "sex"), ()), [animal])


def run_one(n_animals: int, traits: int, seed: int) -> dict[str, float]:
    from henderson.reml import ConvergenceCriteria, default_start, fit_reml

    warm = _model(500, traits, seed)  # compile the numba kernels (cached on disk) outside the timing
    fit_reml(warm, criteria=ConvergenceCriteria(max_iterations=2))
    t = time.perf_counter()
    model = _model(n_animals, traits, seed)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    start_values = default_start(model)
    start = time.perf_counter() - t
    t = time.perf_counter()
    result = fit_reml(model, start_values)
    total = time.perf_counter() - t
    g, r = result.components.g0[0], result.components.r0
    return {
        "traits": traits,
        "animals": n_animals,
        "records": model.n_records,
        "observed": model.n_observed,
        "unknowns": model.n_unknowns,
        "setup_s": setup,
        "start_s": start,
        "iterations": result.iterations,
        "converged": result.converged,
        "s_per_iteration": total / max(result.iterations, 1),
        "total_s": total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "rg": float(g[0, 1] / (g[0, 0] * g[1, 1]) ** 0.5),
        "re": float(r[0, 1] / (r[0, 0] * r[1, 1]) ** 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--traits", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one[0], args.one[1], args.seed)))
        return
    rows = []
    for t in args.traits:
        for n in args.sizes:
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), str(t), "--seed", str(args.seed)],
                check=True, capture_output=True, text=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        "| traits | animals | records | observed | unknowns | setup s | start s | iterations | s / iteration "
        "| REML total s | peak RSS MiB | r_g (0.6) | r_e (0.5) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['traits']} | {r['animals']:,} | {r['records']:,} | {r['observed']:,} | {r['unknowns']:,} "
            f"| {r['setup_s']:.1f} | {r['start_s']:.1f} | {r['iterations']}{'' if r['converged'] else ' (not converged)'} "
            f"| {r['s_per_iteration']:.2f} | {r['total_s']:.1f} | {r['peak_rss_mib']:.0f} | {r['rg']:.3f} | {r['re']:.3f} |"
        )


if __name__ == "__main__":
    main()
