"""Time reading genotypes (CSV through pyarrow, PLINK through bed-reader), the genotype QC and
saving the kept matrix, with the peak resident memory of each step.

Data: n animals × m SNPs with allele frequencies uniform on [0.05, 0.95], 1 % of calls missing:
in one CSV as ``9`` (one character per cell: the reader's fast path), in another as empty cells
(pyarrow's column parser), in PLINK as missing; written once into a temporary folder (CSV by
``henderson.simulate.genotypes.write_genotype_csv``, PLINK by bed-reader's ``to_bed``). Each
measurement runs in a fresh subprocess so its peak RSS (``resource.getrusage``) is its own;
"matrix" is the n × m int8 matrix's size for comparison.

Usage: python benchmarks/bench_genotypes.py [--animals 10000] [--snps 50000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from henderson.genotypes import QCSettings, qc_genotypes, read_genotypes, save_genotypes
path, step, out = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
g = read_genotypes(path)
seconds = {"read": time.perf_counter() - start}
if step == "all":
    start = time.perf_counter()
    result = qc_genotypes(g, QCSettings())
    seconds["qc"] = time.perf_counter() - start
    start = time.perf_counter()
    save_genotypes(out, result.genotypes)
    seconds["save"] = time.perf_counter() - start
    seconds["kept"] = list(result.genotypes.shape)
seconds["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(seconds))
"""


def make_files(folder: Path, n: int, m: int, seed: int) -> dict[str, Path]:
    from bed_reader import to_bed

    from henderson.genotypes import Genotypes
    from henderson.simulate.genotypes import snp_names, write_genotype_csv

    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, m)
    codes = np.empty((n, m), dtype=np.int8)
    for start in range(0, n, 1000):
        k = min(1000, n - start)
        block = (rng.random((k, m)) < p).astype(np.int8) + (rng.random((k, m)) < p).astype(np.int8)
        block[rng.random((k, m)) < 0.01] = -1
        codes[start:start + k] = block
    ids = np.array([f"A{k:07d}" for k in range(n)], dtype=object)
    genotypes = Genotypes(ids, snp_names(m), codes)
    one_char = folder / "one_char.csv"
    write_genotype_csv(genotypes, one_char, missing="9")
    empty = folder / "empty_cells.csv"
    write_genotype_csv(genotypes, empty)
    bed = folder / "genotypes.bed"
    to_bed(bed, np.where(codes < 0, -127, codes).astype(np.int8),
           properties={"iid": list(ids), "sid": list(genotypes.snps)})
    return {"CSV, missing as 9 (one-character cells)": one_char, "CSV, missing as empty cells": empty,
            "PLINK": bed}


def run(path: Path, step: str, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), step, str(out)], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--animals", type=int, default=10_000)
    parser.add_argument("--snps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n, m = args.animals, args.snps
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        files = make_files(folder, n, m, args.seed)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.0f} MiB" for p in files.values())
        print(f"# data written in {time.perf_counter() - start:.1f} s; {sizes}; int8 matrix {n * m / 2**20:.0f} MiB")
        print("| input | animals | SNPs | read (s) | read peak RSS (MiB) | QC (s) | save (s) | read+QC+save peak RSS (MiB) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for kind, path in files.items():
            read = run(path, "read", folder / "out")
            full = run(path, "all", folder / "out" / "genotypes")
            print(f"| {kind} | {n:,} | {m:,} | {read['read']:.1f} | {read['peak_mib']:.0f} | {full['qc']:.1f} | "
                  f"{full['save']:.1f} | {full['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
