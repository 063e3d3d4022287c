"""Time A⁻¹ with unknown parent groups (Quaas' A*⁻¹) and the metafounder A^Γ⁻¹ on simulated
pedigrees, against the ordinary A⁻¹.

Pedigrees come from ``henderson.simulate.simulate_pedigree(n, seed)``; a share of the known
parents (``--blank``, default 5 %) is blanked out (imports of unknown origin) and every animal
gets an origin among 5 (fixed seed). The unknown parents are grouped by rules
(:func:`henderson.pedigree.groups.assign_groups`): ``by: [birth_year, sex_of_parent, origin]``
with 2-year intervals, which gives 5 × 2 × 5 = 50 groups. Each size runs in a fresh subprocess,
so the peak RSS (``resource.getrusage``) is that size's own; it includes the simulated table.

Steps: ``assign`` (groups by rules), ``sort`` (the grouped pedigree), ``inbreeding``,
``ainv`` (the ordinary A⁻¹, for comparison), ``ainv_groups`` (A*⁻¹ of fixed groups),
``deviations`` (a = u − Qg for one solution vector, as REML's AI step needs), and with
``--metafounders`` the A^Γ⁻¹ with a random positive definite Γ (inbreeding with Γ included).
With ``--gamma GENOTYPED SNPS`` also ``estimate_gamma``: Γ of the groups' metafounders estimated
from genotypes of GENOTYPED animals drawn at random at SNPS SNPs
(:func:`henderson.genomic.metafounder_gamma.estimate_gamma`; codes drawn at random with 1 %
missing, so the estimate itself means nothing: the step is timed). Every step runs once after a
warm-up on a small pedigree (numba kernels compiled or loaded).

Usage: flock /tmp/bench.lock python benchmarks/bench_groups.py [--sizes 100000 1000000] [--metafounders]
       [--gamma 10000 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_pedigree(n: int, seed: int, blank: float) -> pd.DataFrame:
    from henderson.simulate import simulate_pedigree

    frame = simulate_pedigree(n, seed)[["id", "sire", "dam", "birth_year"]].astype({"birth_year": "Int64"})
    rng = np.random.default_rng(seed)
    for role in ("sire", "dam"):
        values = frame[role].to_numpy(dtype=object)
        values[values == "0"] = None
        values[rng.random(n) < blank] = None
        frame[role] = values
    frame["origin"] = np.array(list("ABCDE"), dtype=object)[rng.integers(0, 5, n)]
    return frame


def run(n: int, seed: int, blank: float, metafounders: bool, gamma_size: tuple[int, int] | None = None) -> dict:
    from henderson.pedigree import ainv, inbreeding
    from henderson.pedigree.ainv_groups import ainv_groups, group_deviations
    from henderson.pedigree.groups import assign_groups, grouped_pedigree, groups_spec
    from henderson.pedigree.metafounders import ainv_metafounders

    table = make_pedigree(n, seed, blank)
    first, last = int(table["birth_year"].min()), int(table["birth_year"].max())
    width = max(1, -(-(last - first + 1) // 5))  # 5 birth-year intervals
    spec = groups_spec({"assign": "rules", "by": ["birth_year", "sex_of_parent", "origin"], "width": width})
    seconds = {}
    t = time.perf_counter()
    assignment = assign_groups(table, spec)
    seconds["assign"] = time.perf_counter() - t
    t = time.perf_counter()
    grouped = grouped_pedigree(assignment)
    seconds["sort"] = time.perf_counter() - t
    t = time.perf_counter()
    f = inbreeding(grouped.ped)
    seconds["inbreeding"] = time.perf_counter() - t
    t = time.perf_counter()
    plain = ainv(grouped.ped, f)
    seconds["ainv"] = time.perf_counter() - t
    t = time.perf_counter()
    star = ainv_groups(grouped, f)
    seconds["ainv_groups"] = time.perf_counter() - t
    t = time.perf_counter()
    group_deviations(grouped, np.random.default_rng(seed).normal(size=(grouped.n + grouped.n_groups, 1)))
    seconds["deviations"] = time.perf_counter() - t
    if metafounders:
        g = grouped.n_groups
        m = np.random.default_rng(seed).normal(size=(g, g))
        gamma = m @ m.T + g * np.eye(g)
        gamma *= 0.5 / np.diag(gamma).max()
        t = time.perf_counter()
        ainv_metafounders(grouped, gamma)
        seconds["ainv_metafounders"] = time.perf_counter() - t
    if gamma_size is not None:
        from henderson.genomic.metafounder_gamma import estimate_gamma

        genotyped, snps = min(gamma_size[0], grouped.n), gamma_size[1]
        rng = np.random.default_rng(seed)
        p = rng.uniform(0.05, 0.95, snps)
        codes = (rng.random((genotyped, snps), dtype=np.float32) < p).astype(np.int8)
        codes += (rng.random((genotyped, snps), dtype=np.float32) < p).astype(np.int8)
        codes[rng.random((genotyped, snps), dtype=np.float32) < 0.01] = -1
        t = time.perf_counter()
        chosen = np.sort(rng.choice(grouped.n, genotyped, replace=False))
        estimate_gamma(grouped, grouped.ped.ids[chosen], codes)
        seconds["estimate_gamma"] = time.perf_counter() - t
    return {
        "n": n, "groups": grouped.n_groups, "unknown_parents": int(grouped.group_sizes().sum()),
        "nnz_ainv": int(plain.nnz), "nnz_ainv_groups": int(star.nnz),
        "seconds": {k: round(v, 3) for k, v in seconds.items()}, "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--blank", type=float, default=0.05)
    parser.add_argument("--metafounders", action="store_true")
    parser.add_argument("--gamma", type=int, nargs=2, metavar=("GENOTYPED", "SNPS"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        gamma = tuple(args.gamma) if args.gamma else None
        run(2000, args.seed, args.blank, args.metafounders, (2000, 200) if gamma else None)  # warm-up: numba kernels
        print(json.dumps(run(args.one, args.seed, args.blank, args.metafounders, gamma)))
        return
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(n), "--seed", str(args.seed), "--blank", str(args.blank)]
        if args.metafounders:
            cmd.append("--metafounders")
        if args.gamma:
            cmd += ["--gamma", *map(str, args.gamma)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    steps = list(rows[0]["seconds"])
    header = ["animals", "groups", "unknown parents", *[f"{s} s" for s in steps], "peak RSS MiB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        cells = [f"{r['n']:,}", str(r["groups"]), f"{r['unknown_parents']:,}",
                 *[f"{r['seconds'][s]:.2f}" for s in steps], f"{r['peak_rss_mib']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    print(f"nnz: A⁻¹ {rows[-1]['nnz_ainv']:,}, A*⁻¹ {rows[-1]['nnz_ainv_groups']:,} (n = {rows[-1]['n']:,})")


if __name__ == "__main__":
    main()
