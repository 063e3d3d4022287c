"""Time the solutions of an animal model by PCG against CHOLMOD, at given variances.

Data: ``henderson.simulate`` (80 % of the animals with one record), model herd_year + sex fixed,
additive animal effect, σ²a = 20, σ²e = 40; ``--traits 3`` for a three-trait model, ``--maternal``
for direct + maternal effects (genetic correlations 0.3 in G0). Each size
runs in its own subprocess (clean peak RSS); the numba cache is warmed first.

Columns: animals, unknowns, set-up seconds (simulation, A⁻¹, model, equations), Cholesky seconds
(symbolic analysis + factorisation + solve; skipped above ``--exact-limit``), PCG seconds
(preconditioner + solve to a relative residual of 1e-10), PCG iterations, the largest difference
of the two solutions relative to the largest solution, peak RSS.

Usage: python benchmarks/bench_pcg.py [--sizes 100000 1000000] [--traits 1] [--maternal] [--exact-limit 300000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_one(n_animals: int, traits: int, exact_limit: int, maternal: bool = False) -> dict:
    import numpy as np

    from henderson.covariance import VarianceComponents
    from henderson.mme import Equations
    from henderson.simulate import SimulationSpec, simulate
    from henderson.simulate.model import simulated_model
    from henderson.solvers import make_solver

    t0 = time.perf_counter()
    data = simulate(SimulationSpec(n_animals=n_animals, seed=1, traits=traits, maternal=maternal))
    model = simulated_model(data)
    t = model.n_traits
    k = (2 if maternal else 1) * t
    vc = VarianceComponents(model.layout, (20.0 * (0.7 * np.eye(k) + 0.3),), 40.0 * (0.6 * np.eye(t) + 0.4))
    eq = Equations(model)
    qs = eq.q_matrices(vc)
    lhs, rhs = eq.assemble(eq.coefficients(vc)), eq.rhs(qs)
    setup = time.perf_counter() - t0
    out = {"animals": n_animals, "traits": t, "maternal": maternal, "unknowns": model.n_unknowns, "setup_s": setup}
    exact = None
    if n_animals <= exact_limit:
        t0 = time.perf_counter()
        chol = make_solver("cholesky", eq)
        chol.update(lhs)
        exact = chol.solve(rhs)
        out["cholesky_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pcg = make_solver("pcg", eq, tol=1e-10)
    pcg.update(lhs)
    x = pcg.solve(rhs)
    out["pcg_s"] = time.perf_counter() - t0
    out["iterations"] = pcg.iterations[-1]
    out["residual"] = pcg.residuals[-1]
    if exact is not None:
        out["difference"] = float(np.abs(x - exact).max() / np.abs(exact).max())
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--traits", type=int, default=1)
    parser.add_argument("--exact-limit", type=int, default=300_000)
    parser.add_argument("--maternal", action="store_true", help="direct + maternal genetic effects")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.traits, args.exact_limit, args.maternal)))
        return
    extra = ["--maternal"] if args.maternal else []
    subprocess.run([sys.executable, __file__, "--one", "2000", "--traits", str(args.traits), *extra], check=True,
                   capture_output=True)
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--traits", str(args.traits), "--exact-limit",
             str(args.exact_limit), *extra],
            check=True, capture_output=True, text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| animals | traits | maternal | unknowns | setup s | Cholesky s | PCG s | PCG iterations | relative residual | max difference | peak RSS MiB |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        chol = f"{r['cholesky_s']:.2f}" if "cholesky_s" in r else "—"
        diff = f"{r['difference']:.1e}" if "difference" in r else "—"
        print(f"| {r['animals']:,} | {r['traits']} | {'yes' if r['maternal'] else 'no'} | {r['unknowns']:,} | {r['setup_s']:.1f} | {chol} | {r['pcg_s']:.2f} "
              f"| {r['iterations']} | {r['residual']:.1e} | {diff} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
