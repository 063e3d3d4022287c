"""Reliabilities without the selected inverse: approximate and sampled PEV against the exact ones.

Data: ``henderson.simulate`` (80 % of the animals with one record; ``--records-per-animal 3``
adds a permanent environment), model herd_year + sex fixed, additive animal effect (with
``--maternal`` direct + maternal, ``--traits 3`` three traits), at the simulated variances
(σ²a = 20, σ²e = 40; several traits or effects: correlations 0.3 in G0, 0.4 in R0, as in
bench_pcg.py). Each method runs in its own subprocess (clean peak RSS, set-up included):
``exact`` (CHOLMOD factor + selected inverse), ``approximate`` (henderson.reliability.approximate),
``sampled`` (``--samples`` data sets solved by PCG at relative residual 1e-8); ``setup`` alone
gives the memory of the model itself. Sizes above ``--exact-limit`` run the approximation only.

Columns: animals, component, method, seconds of the method (set-up excluded), peak RSS of its
process, and against exact: the correlation of the reliabilities of all animals, their mean
bias (method − exact), RMSE; for sampled the mean Monte Carlo SE of a reliability, the mean z
= (sampled − exact)/MC SE and the fraction of animals within 3 MC SE.

Usage: flock /tmp/bench.lock python benchmarks/bench_reliability.py [--sizes 50000 1000000]
           [--exact-limit 300000] [--samples 200] [--maternal] [--traits 1] [--records-per-animal 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _build(n_animals: int, traits: int, maternal: bool, records: int):
    from henderson.covariance import VarianceComponents
    from henderson.simulate import SimulationSpec, simulate
    from henderson.simulate.model import simulated_model

    data = simulate(SimulationSpec(n_animals=n_animals, seed=1, traits=traits, maternal=maternal,
                                   records_per_animal=records))
    model = simulated_model(data, permanent_environment=records > 1)
    t = model.n_traits
    k = (2 if maternal else 1) * t
    g0 = [20.0 * (0.7 * np.eye(k) + 0.3)] + ([10.0 * (0.7 * np.eye(t) + 0.3)] if records > 1 else [])
    return model, VarianceComponents(model.layout, tuple(g0), 40.0 * (0.6 * np.eye(t) + 0.4))


def run_one(args, method: str, out: Path) -> dict:
    from henderson.mme import Equations
    from henderson.reliability import (
        approximate_inverse_diagonal,
        prior_variances,
        sampled_inverse_diagonal,
    )
    from henderson.solvers import make_solver

    t0 = time.perf_counter()
    model, vc = _build(args.one, args.traits, args.maternal, args.records_per_animal)
    setup = time.perf_counter() - t0
    result = {"setup_s": setup}
    t0 = time.perf_counter()
    if method == "exact":
        eq = Equations(model)
        solver = make_solver("cholesky", eq)
        solver.update(eq.assemble(eq.coefficients(vc)))
        diag = solver.inverse_diagonal()
    elif method == "approximate":
        diag = approximate_inverse_diagonal(model, vc)
    elif method == "sampled":
        eq = Equations(model)
        solver = make_solver("pcg", eq, tol=1e-8, log_every=0)
        solver.update(eq.assemble(eq.coefficients(vc)))
        sampled = sampled_inverse_diagonal(model, vc, eq, solver, samples=args.samples, seed=1)
        diag = sampled.diagonal
        result["iterations"] = int(sum(solver.iterations))
    if method != "setup":
        result["seconds"] = time.perf_counter() - t0
        prior = prior_variances(model, vc)
        blocks = {}
        for m, term in enumerate(model.terms[:1]):
            for c, (e, j) in enumerate(term.components):
                lo, hi = model.block(m, c)
                blocks[f"{term.effects[e]}:{model.traits[j]}"] = (lo, hi)
                np.save(out / f"{method}_{c}.npy", 1.0 - diag[lo:hi] / prior[lo:hi])
                if method == "sampled":
                    np.save(out / f"mcse_{c}.npy", sampled.mc_se[lo:hi] / prior[lo:hi])
        result["components"] = list(blocks)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return result


def _child(args, n: int, method: str, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--one", str(n), "--method", method, "--out", str(out), "--samples",
           str(args.samples), "--traits", str(args.traits), "--records-per-animal", str(args.records_per_animal)]
    if args.maternal:
        cmd.append("--maternal")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--exact-limit", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--traits", type=int, default=1)
    parser.add_argument("--maternal", action="store_true")
    parser.add_argument("--records-per-animal", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=["setup", "exact", "approximate", "sampled"])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args, args.method, args.out)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        warm.mkdir()
        _child(argparse.Namespace(**{**vars(args), "samples": 4}), 2000, "sampled", warm)  # numba cache
        print("| animals | component | method | seconds | peak RSS MiB | corr. with exact | mean bias | RMSE "
              "| mean MC SE | mean z | within 3 SE |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.sizes:
            out = Path(tmp) / str(n)
            out.mkdir()
            methods = [m for m in args.methods if n <= args.exact_limit or m in ("setup", "approximate")]
            runs = {m: _child(args, n, m, out) for m in methods}
            comps = next((r["components"] for r in runs.values() if "components" in r), [])
            if "setup" in runs:
                print(f"| {n:,} | — | setup | {runs['setup']['setup_s']:.1f} | {runs['setup']['peak_rss_mib']:.0f} "
                      "| | | | | | |")
            for c, name in enumerate(comps):
                exact = np.load(out / f"exact_{c}.npy") if "exact" in runs else None
                for m in ("exact", "approximate", "sampled"):
                    if m not in runs:
                        continue
                    rel = np.load(out / f"{m}_{c}.npy")
                    cells = ["", "", "", "", "", ""]
                    if exact is not None and m != "exact":
                        diff = rel - exact
                        cells[:3] = [f"{np.corrcoef(rel, exact)[0, 1]:.4f}", f"{diff.mean():+.4f}",
                                     f"{np.sqrt(np.mean(diff**2)):.4f}"]
                        if m == "sampled":
                            se = np.load(out / f"mcse_{c}.npy")
                            ok = se > 0
                            z = -diff[ok] / se[ok]  # reliability error = −PEV error / prior
                            cells[3:] = [f"{se.mean():.4f}", f"{z.mean():+.3f}", f"{np.mean(np.abs(z) < 3):.3f}"]
                    print(f"| {n:,} | {name} | {m} | {runs[m]['seconds']:.1f} | {runs[m]['peak_rss_mib']:.0f} | "
                          + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
