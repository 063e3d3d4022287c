"""Time the sparse Cholesky stages of henderson.linalg on large random SPD matrices.

Matrix: a banded symmetric pattern (half bandwidth ``--band``, each in-band entry kept with
probability ``--band-density``) plus ``--random-per-row`` random long-range off-diagonal pairs per
row, made strictly diagonally dominant (hence positive definite). This mimics the mix of local
(pedigree, contemporary groups) and long-range (sires with progeny everywhere) links in MME.

For each size it prints: n, nnz(A), nnz(L), seconds for analyse / factorize / logdet /
selected_inverse (Takahashi kernel + expansion to the symmetric original-order matrix) /
inverse_diagonal (cached after selected_inverse), and the process peak RSS after the run.
numba compilation is done on a small matrix first and not timed. Peak RSS is the process
maximum so far (it includes building the test matrix). Set OPENBLAS_NUM_THREADS (or
OMP_NUM_THREADS) to the free cores: oversubscribed BLAS threads slow the block operations of the
selected inverse several-fold.

Usage: python benchmarks/bench_selinv.py [--sizes 100000 300000] [--band 60] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import scipy.sparse as sp

from henderson.linalg import SparseCholesky


def random_spd(
    n: int, band: int, band_density: float, random_per_row: float, seed: int
) -> sp.csc_matrix:
    """n × n SPD matrix: random banded entries + random long-range pairs, diagonally dominant."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for offset in range(1, band + 1):
        keep = np.flatnonzero(rng.random(n - offset) < band_density)
        rows.append(keep + offset)
        cols.append(keep)
    n_far = int(random_per_row * n)
    a = rng.integers(0, n, n_far)
    b = rng.integers(0, n, n_far)
    off = a != b
    rows.append(np.maximum(a[off], b[off]))
    cols.append(np.minimum(a[off], b[off]))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = rng.uniform(-1.0, 1.0, r.size)
    lower = sp.csc_matrix((v, (r, c)), shape=(n, n))
    sym = lower + lower.T
    dominance = np.asarray(abs(sym).sum(axis=1)).ravel() + 1.0
    return (sym + sp.diags(dominance)).tocsc()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(n: int, args: argparse.Namespace) -> dict[str, float]:
    a = random_spd(n, args.band, args.band_density, args.random_per_row, args.seed)
    times: dict[str, float] = {"n": n, "nnz_A": a.nnz}
    t = time.perf_counter()
    chol = SparseCholesky(a, mode=args.mode)
    times["analyse"] = time.perf_counter() - t
    t = time.perf_counter()
    chol.factorize(a)
    times["factorize"] = time.perf_counter() - t
    t = time.perf_counter()
    chol.logdet()
    times["logdet"] = time.perf_counter() - t
    t = time.perf_counter()
    z = chol.selected_inverse()
    times["selinv"] = time.perf_counter() - t
    t = time.perf_counter()
    chol.inverse_diagonal()
    times["invdiag"] = time.perf_counter() - t
    times["nnz_L"] = chol.factor_nnz
    times["nnz_Z"] = z.nnz
    times["peak_MiB"] = peak_rss_mib()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--band", type=int, default=60)
    parser.add_argument("--band-density", type=float, default=0.5)
    parser.add_argument("--random-per-row", type=float, default=0.02)
    parser.add_argument(
        "--mode", default="supernodal", choices=["auto", "supernodal", "simplicial"]
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    warm = random_spd(2_000, 10, 0.5, 0.05, 0)  # compile (or load) the numba kernels
    SparseCholesky(warm, mode=args.mode).factorize(warm).selected_inverse()

    header = ("n", "nnz(A)", "nnz(L)", "analyse s", "factor s", "logdet s", "selinv s",
              "invdiag s", "peak RSS MiB")
    print(" | ".join(header))
    for n in args.sizes:
        r = run(n, args)
        print(
            f"{r['n']:,} | {r['nnz_A']:,} | {r['nnz_L']:,} | {r['analyse']:.2f} | "
            f"{r['factorize']:.2f} | {r['logdet']:.3f} | {r['selinv']:.2f} | "
            f"{r['invdiag']:.4f} | {r['peak_MiB']:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
