"""Monte Carlo REML (henderson.reml.stochastic) against exact AI-REML, and its time at scale.

Data and model as in bench_reml.py: ``henderson.simulate`` with ``n_animals`` (10 cohorts,
80 % with one record), ``y = herd_year + sex + animal + e`` with A⁻¹ (σ²_a = 20, σ²_e ≈ 42).

Three tables, each size in its own subprocess (clean peak RSS; numba compiled on a tiny model
first, not timed):

* ``--compare N…``: exact AI-REML (CHOLMOD) and Monte Carlo REML (``probes: auto``, target
  0.1) on the same data: estimates, SE, MC SE, z = (MC − exact)/MC SE, probes, seconds.
* ``--seeds K --seed-size N --seed-probes P``: K seeds of P probes on one data set: the SD of
  the estimates over seeds beside the mean reported MC SE (they should agree).
* ``--large N…``: Monte Carlo REML alone (``probes: auto``), seconds in total, AI iterations,
  probes, peak RSS.

Usage: python benchmarks/bench_stochastic_reml.py --compare 20000 50000 --seeds 10 --large 100000 200000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _model(n_animals: int, seed: int):
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_reml import _model as model

    return model(n_animals, seed)


def _mc(model, mc_seed: int, probes, target: float = 0.1):
    from henderson.reml import default_start
    from henderson.reml.stochastic import MonteCarlo, estimate_stochastic

    t = time.perf_counter()
    fit, _, _ = estimate_stochastic(model, default_start(model), mc=MonteCarlo(probes=probes, seed=mc_seed,
                                                                             target=target))
    return fit, time.perf_counter() - t


def _warm() -> None:
    from henderson.reml import default_start, fit_reml

    small = _model(500, 1)
    fit_reml(small, default_start(small))
    _mc(small, 1, 4)


def run_compare(n: int, seed: int) -> dict:
    from henderson.reml import default_start, fit_reml

    _warm()
    model = _model(n, seed)
    t = time.perf_counter()
    exact = fit_reml(model, default_start(model))
    exact_s = time.perf_counter() - t
    fit, mc_s = _mc(model, 1, "auto")
    z = (fit.components.theta - exact.components.theta) / fit.monte_carlo_se
    return {"animals": n, "records": model.n_records, "exact_s": exact_s, "mc_s": mc_s,
            "probes": fit.monte_carlo["probes"], "names": list(fit.names),
            "exact": exact.components.theta.tolist(), "exact_se": exact.se_vector.tolist(),
            "mc": fit.components.theta.tolist(), "mc_se": fit.se_vector.tolist(),
            "mcse": fit.monte_carlo_se.tolist(), "z": z.tolist(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def run_seeds(n: int, seed: int, seeds: int, probes: int) -> dict:
    import numpy as np

    _warm()
    model = _model(n, seed)
    theta, reported = [], []
    for s in range(seeds):
        fit, _ = _mc(model, 100 + s, probes)
        theta.append(fit.components.theta)
        reported.append(fit.monte_carlo_se)
    theta, reported = np.array(theta), np.array(reported)
    return {"animals": n, "seeds": seeds, "probes": probes, "names": list(fit.names),
            "mean": theta.mean(axis=0).tolist(), "spread": theta.std(axis=0, ddof=1).tolist(),
            "reported": reported.mean(axis=0).tolist()}


def run_large(n: int, seed: int) -> dict:
    _warm()
    t = time.perf_counter()
    model = _model(n, seed)
    setup = time.perf_counter() - t
    fit, mc_s = _mc(model, 1, "auto")
    return {"animals": n, "records": model.n_records, "unknowns": model.n_unknowns, "setup_s": setup,
            "mc_s": mc_s, "iterations": fit.monte_carlo["iterations"], "probes": fit.monte_carlo["probes"],
            "ratio": fit.monte_carlo["ratio"], "theta": dict(fit.values),
            "mcse": fit.monte_carlo_se.tolist(), "se": fit.se_vector.tolist(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def f(values) -> str:
    return " ".join(f"{x:8.3f}" for x in values)


def _sub(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", type=int, nargs="*", default=[])
    parser.add_argument("--seeds", type=int, default=0)
    parser.add_argument("--seed-size", type=int, default=20_000)
    parser.add_argument("--seed-probes", type=int, default=50)
    parser.add_argument("--large", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        values = [int(v) for v in rest]
        result = {"compare": run_compare, "seeds": run_seeds, "large": run_large}[kind](*values)
        print(json.dumps(result))
        return
    if args.compare:
        print("## Monte Carlo REML (probes auto, target 0.1) against exact AI-REML")
        for n in args.compare:
            r = _sub(["compare", str(n), str(args.seed)])
            print(f"animals {r['animals']:,}  records {r['records']:,}  exact {r['exact_s']:.1f} s  MC {r['mc_s']:.1f} s "
                  f"({r['probes']} probes)  peak {r['peak_rss_mib']:.0f} MiB   [{', '.join(r['names'])}]")
            print(f"  exact {f(r['exact'])}  se {f(r['exact_se'])}")
            print(f"  MC    {f(r['mc'])}  se {f(r['mc_se'])}  MC SE {f(r['mcse'])}  z {f(r['z'])}")
    if args.seeds:
        r = _sub(["seeds", str(args.seed_size), str(args.seed), str(args.seeds), str(args.seed_probes)])
        print(f"## {r['seeds']} seeds of {r['probes']} probes, {r['animals']:,} animals  [{', '.join(r['names'])}]")
        print(f"  mean {f(r['mean'])}  SD over seeds {f(r['spread'])}  mean reported MC SE {f(r['reported'])}")
    if args.large:
        print("## Monte Carlo REML at scale (probes auto, target 0.1)")
        print("animals     records    unknowns  setup_s    mc_s  AI_iter probes  ratio  peak_MiB  estimates (MC SE)")
        for n in args.large:
            r = _sub(["large", str(n), str(args.seed)])
            est = ", ".join(f"{k} {v:.3f} ({m:.3f})" for (k, v), m in zip(r["theta"].items(), r["mcse"]))
            print(f"{r['animals']:>9,} {r['records']:>10,} {r['unknowns']:>11,} {r['setup_s']:>8.1f} {r['mc_s']:>7.1f} "
                  f"{r['iterations']:>8} {r['probes']:>6} {r['ratio']:>6.3f} {r['peak_rss_mib']:>9.0f}  {est}")


if __name__ == "__main__":
    main()
