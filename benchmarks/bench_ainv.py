"""Time pedigree sorting, inbreeding and A⁻¹ (henderson.pedigree) on simulated pedigrees.

Pedigrees come from ``henderson.simulate.simulate_pedigree(n, seed)`` (unknown parent "0"),
shuffled (fixed seed) so that sorting has work to do, and passed to ``sort_pedigree`` as object
arrays of ``str`` (unknown = ``None``). Each size runs in a fresh subprocess, so
the peak RSS (``resource.getrusage``) is that size's own. In each subprocess every step is run
twice on the full pedigree:

* "first call": what a workflow rule pays, including loading the numba kernels from the on-disk
  cache (``cache=True``);
* "repeat": the compiled kernels only.

Before the sizes, two probes on a tiny pedigree measure the numba overhead of all pedigree
kernels: compiling from an empty cache (a temporary ``NUMBA_CACHE_DIR``) and loading from a
warm cache. Peak RSS includes the simulated table and the Python interpreter; "RSS before" is
the resident size after simulating, before the first step.

Usage: python benchmarks/bench_ainv.py [--sizes 10000 100000 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

STEPS = ("sort", "inbreeding", "ainv")


def rss_mib() -> float:
    """Current resident set size of this process (Linux /proc), MiB."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_pedigree(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated pedigree as object arrays (id, sire, dam), unknown = None, rows shuffled.

    The shuffled table goes through CSV text and back, so its string objects are created in
    row order, as when a shuffled file is read (shuffling the arrays alone would leave them
    scattered in memory and time cache misses rather than the code).
    """
    from henderson.simulate import simulate_pedigree

    frame = simulate_pedigree(n, seed)[["id", "sire", "dam"]]
    order = np.random.default_rng(seed).permutation(n)
    text = frame.iloc[order].to_csv(index=False)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    ids = frame["id"].to_numpy(dtype=object)
    sires = frame["sire"].to_numpy(dtype=object)
    dams = frame["dam"].to_numpy(dtype=object)
    sires[sires == "0"] = None
    dams[dams == "0"] = None
    return ids, sires, dams


def run_steps(
    ids: np.ndarray, sires: np.ndarray, dams: np.ndarray
) -> tuple[dict[str, float], dict]:
    from henderson.pedigree import ainv, inbreeding, sort_pedigree

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    ped = sort_pedigree(ids, sires, dams)
    seconds["sort"] = time.perf_counter() - t
    t = time.perf_counter()
    F = inbreeding(ped)
    seconds["inbreeding"] = time.perf_counter() - t
    t = time.perf_counter()
    matrix = ainv(ped, F)
    seconds["ainv"] = time.perf_counter() - t
    info = {"nnz": int(matrix.nnz), "mean_F": float(F.mean()), "inbred": int((F > 0).sum())}
    return seconds, info


def one_size(n: int, seed: int) -> dict:
    t = time.perf_counter()
    ids, sires, dams = load_pedigree(n, seed)
    simulate_s = time.perf_counter() - t
    rss_before = rss_mib()
    first, info = run_steps(ids, sires, dams)
    repeat, _ = run_steps(ids, sires, dams)
    return {
        "n": n,
        "simulate_s": simulate_s,
        "first": first,
        "repeat": repeat,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        **info,
    }


def jit_probe() -> dict:
    """Seconds to get every pedigree kernel ready (compile or cache load) on a tiny pedigree."""
    t = time.perf_counter()
    from henderson.pedigree import ainv, generations, inbreeding, sort_pedigree

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    ped = sort_pedigree(["a", "b", "c", "d"], [None, None, "a", "c"], [None, None, "b", "b"])
    ainv(ped, inbreeding(ped))
    generations(ped)
    return {"import_s": import_s, "jit_s": time.perf_counter() - t}


def child(args: list[str], env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(jit_probe()))
        return
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.seed)))
        return

    with tempfile.TemporaryDirectory() as cache:
        cold = child(["--probe"], env={**os.environ, "NUMBA_CACHE_DIR": cache})
    child(["--probe"])  # make sure the default on-disk cache is populated
    warm = child(["--probe"])
    print(f"numba, all pedigree kernels: compile {cold['jit_s']:.2f} s (empty cache), "
          f"load {warm['jit_s']:.2f} s (warm cache)\n")

    rows = [child(["--one", str(n), "--seed", str(args.seed)]) for n in args.sizes]
    header = (
        "| animals | sort (s) | inbreeding (s) | A⁻¹ (s) | total (s) | total, first call (s) "
        "| nnz(A⁻¹) | inbred | RSS before (MiB) | peak RSS (MiB) |"
    )
    print(header)
    print("|" + "---:|" * (header.count("|") - 1))
    for r in rows:
        rep, first = r["repeat"], r["first"]
        print(
            f"| {r['n']:,} | {rep['sort']:.3f} | {rep['inbreeding']:.3f} | {rep['ainv']:.3f} "
            f"| {sum(rep[s] for s in STEPS):.3f} | {sum(first[s] for s in STEPS):.3f} "
            f"| {r['nnz']:,} | {r['inbred']:,} | {r['rss_before_mib']:.0f} "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    print("\nfirst call per step (s): " + "; ".join(
        f"{r['n']:,}: " + ", ".join(f"{s} {r['first'][s]:.3f}" for s in STEPS) for r in rows
    ))


if __name__ == "__main__":
    main()
