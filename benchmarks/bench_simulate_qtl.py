"""What genomic data from the simulator are worth, and what the QTL cost.

1. Accuracy: for each seed and each ``--history`` (0 and 100), 5,000 animals in 10 cohorts, half
   genotyped at 2,000 linked SNPs, 200 QTL off the panel, h² 0.3; the last cohort's records are
   removed and its genotyped animals predicted by pedigree BLUP and by single-step GBLUP (default
   genomic options, the simulator's model, true variances). Prints corr(EBV, TBV), corr(GEBV, TBV)
   and the gain.
2. Cost: ``simulate`` for 100,000 animals, 10 % genotyped at 10,000 linked SNPs, without QTL, with
   500 QTL, and with 500 QTL after 100 historical generations: seconds and peak RSS, each in a
   fresh subprocess.

Usage: python benchmarks/bench_simulate_qtl.py [--seeds 6] [--skip-cost]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from henderson.simulate import SimulationSpec, simulate
from henderson.simulate.accuracy import young_genotyped_accuracy

COST = r"""
import json, resource, sys, time
from henderson.simulate import SimulationSpec, simulate
extra = json.loads(sys.argv[1])
start = time.perf_counter()
simulate(SimulationSpec(n_animals=100_000, seed=1, genotyped=0.1, snps=10_000, ld=True, **extra))
print(json.dumps({"seconds": time.perf_counter() - start,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def accuracies(seed: int, history: int) -> tuple[float, float, int]:
    """(corr(EBV, TBV), corr(GEBV, TBV), animals) over the last cohort's genotyped animals."""
    acc = young_genotyped_accuracy(simulate(SimulationSpec(n_animals=5000, seed=seed, genotyped=0.5, snps=2000,
                                                           qtl=200, h2=0.3, ld=True, history=history)))
    return acc.pedigree, acc.single_step, acc.animals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    print("| history | seed | young genotyped | pedigree BLUP | single step | gain |")
    print("|---:|---:|---:|---:|---:|---:|")
    for history in (100, 0):
        gains = []
        for seed in range(1, args.seeds + 1):
            ped, ss, n = accuracies(seed, history)
            gains.append(ss - ped)
            print(f"| {history} | {seed} | {n} | {ped:.3f} | {ss:.3f} | {ss - ped:+.3f} |", flush=True)
        print(f"| {history} | mean | | | | {np.mean(gains):+.3f} |", flush=True)
    if args.skip_cost:
        return
    print("\n| simulate 100k animals, 10k SNPs | seconds | peak RSS (MiB) |")
    print("|---|---:|---:|")
    for extra in ({}, {"qtl": 500}, {"qtl": 500, "history": 100}):
        run = subprocess.run([sys.executable, "-c", COST, json.dumps(extra)], capture_output=True, text=True, check=True)
        result = json.loads(run.stdout)
        label = " ".join(f"--{k} {v}" for k, v in extra.items()) or "no QTL"
        print(f"| {label} | {result['seconds']:.1f} | {result['rss']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
