"""Time univariate animal-model AI-REML (henderson.reml.fit_reml) on simulated data.

Data: ``henderson.simulate.simulate(SimulationSpec(n_animals, seed))`` — 10 yearly cohorts, 20
herds, 80 % of the animals with one record; model ``y = herd_year + sex + animal + e`` with A⁻¹
from the simulated pedigree (the simulated age effect is not fitted, so it adds about 2 to
σ²_e). Each size runs in its own subprocess (clean peak RSS, no shared caches except numba's
on-disk cache; compilation is triggered on a tiny problem first and not timed).

Columns: animals, records, unknowns of the MME, set-up seconds (simulation, pedigree, A⁻¹,
designs, W'W), AI-REML iterations, seconds per iteration, REML wall-clock seconds in total
(symbolic analysis, every factorization, selected inverse, AI matrix, standard errors) and the
process CPU seconds of the same (threads summed; wall ≫ CPU/threads means a busy machine), peak
RSS of the subprocess, and the estimates with the simulated values (σ²_a = 20, σ²_e = 40).

Usage: python benchmarks/bench_reml.py [--sizes 10000 50000 100000] [--seed 1]
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


def _model(n_animals: int, seed: int):
    from henderson.design import additive_effect
    from henderson.model import build_model
    from henderson.pedigree import sort_pedigree
    from henderson.relationship import pedigree_relationship_from
    from henderson.simulate import SimulationSpec, simulate

    data = simulate(SimulationSpec(n_animals=n_animals, seed=seed))
    ped_frame = data.pedigree
    ped = sort_pedigree(list(ped_frame["id"].astype(str)), _known(ped_frame["sire"]), _known(ped_frame["dam"]))
    records = data.phenotypes
    trait = data.phenotypes.columns[-1]  # the single simulated trait
    animal = additive_effect("animal", records["id"], pedigree_relationship_from(ped))
    return build_model(records, [trait], (("herd_year", "sex"), ()), [animal])


def run_one(n_animals: int, seed: int) -> dict[str, float]:
    from henderson.reml import default_start, fit_reml

    warm = _model(500, seed)  # compile the numba kernels (cached on disk) outside the timing
    fit_reml(warm, default_start(warm))
    t = time.perf_counter()
    model = _model(n_animals, seed)
    setup = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    fit = fit_reml(model, default_start(model))
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "animals": n_animals,
        "records": model.n_records,
        "unknowns": model.n_unknowns,
        "setup_s": setup,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "s_per_iteration": total / max(fit.iterations, 1),
        "total_s": total,
        "cpu_s": cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "animal": fit.values["animal"],
        "residual": fit.values["residual"],
        "h2": fit.ratios["h2"]["estimate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.seed)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        "| animals | records | unknowns | setup s | iterations | s / iteration | REML total s "
        "| REML CPU s | peak RSS MiB | σ²a (20) | σ²e (40) | h2 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['animals']} | {r['records']} | {r['unknowns']} | {r['setup_s']:.1f} | {r['iterations']}"
            f"{'' if r['converged'] else ' (not converged)'} | {r['s_per_iteration']:.2f} | {r['total_s']:.1f} "
            f"| {r['cpu_s']:.1f} "
            f"| {r['peak_rss_mib']:.0f} | {r['animal']:.2f} | {r['residual']:.2f} | {r['h2']:.3f} |"
        )


if __name__ == "__main__":
    main()
