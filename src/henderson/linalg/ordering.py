"""The elimination order and the kind of factor behind `SparseCholesky`.

`elimination_order(pattern, "default")`: CHOLMOD's AMD on the sparse columns; the dense ones go
last, by increasing degree (stored entries). In mixed model equations these are the fixed-effect
levels with many records, sires with many progeny and, in a single-step H⁻¹, the genotyped
animals. AMD's own rule sets aside only columns above 10√n, and columns of a few hundred to a few
thousand entries left in make its degree updates slow: 64 s for a simulated animal model of 1M
animals (200 herd-years of about 4,000 records, sires with thousands of progeny) whose factor
then takes 2 s. Dense here (`dense_limit`): every column above 2√n entries, and those above √n,
densest first, as long as no more than 2√n columns go last (a trailing block of at most 4n
entries, four per column of the matrix). Measured on simulated data (benchmarks/README.md): an
animal model of 100k animals has 421 columns between √n and 2√n and none above (AMD 0.75–0.9 s
with them in, 0.12–0.2 s without; 3.7 % more entries in L, numeric factorization about 0.03 s
slower, selected inverse as fast); at 1M animals 468 columns above 2√n and 305 between (the
analysis 15.1 → 5.1 s; factorization and selected inverse as fast, 1 % more entries in L); a
maternal model of 100k animals: analysis 2.0 → 0.8 s, each factorization 0.17 s slower and each
selected inverse 0.19 s faster. The lowered limit serves sparse (simplicial) factors only:
`SparseCholesky` orders again with the limit at 2√n (`lowered=False`) where the factor on the
lowered order would be supernodal, as in multi-trait models, whose sires then stay in AMD's
order (with them last, bench_multitrait's two- and three-trait models of 50k animals iterated
10–20 % slower; setting aside every column above √n, however many, put 12 % more entries in L
of three traits at 100k animals). Other names ("amd", "metis", "nesdis", "best", "natural") are
CHOLMOD's orderings of the whole pattern.

`factor_kind(counts)`: CHOLMOD's supernodal factorization (dense blocks, BLAS) pays off when the
work per entry of L is large: in multi-trait, maternal and genomic models. An animal model's
factor is so sparse outside its few dense columns that the supernodal form pads L with explicit
zeros (about 3×) and its numeric factorization is 2–3× slower than the simplicial one; CHOLMOD's
own switch (work per entry ≥ 40) picks supernodal there because the dense trailing block of the
fixed effects holds most of the flops. Measured on simulated data (benchmarks/README.md): work
per entry 31 (animal model, 1M animals), 101 (animal model, 100k), 107 (repeatability, 100k) and
169 (animal model, 50k): simplicial 1.6–3× faster; 234 (maternal, 100k), 306 (three traits,
100k), 416 (two traits with maternal effects, 100k): supernodal 1.3–4× faster.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sksparse import cholmod

# Columns with more stored entries than DENSE_FACTOR·√n (and than MIN_DENSE) are ordered last,
# and those above √n as long as no more than DENSE_BLOCK·√n columns go last.
DENSE_FACTOR = 2.0
DENSE_BLOCK = 2.0
MIN_DENSE = 16
# Supernodal when the factorization's work per entry of L (Σ c_j² / Σ c_j) reaches this.
SUPERNODAL_WORK_PER_ENTRY = 200.0

CHOLMOD_ORDERINGS = ("amd", "metis", "nesdis", "best", "natural")


def dense_limit(degree: np.ndarray, *, lowered: bool = True) -> float:
    """The degree above which a column of a symmetric pattern with column degrees `degree` is
    ordered last: 2√n; with `lowered`, lowered towards √n as long as at most 2√n columns
    (:data:`DENSE_BLOCK` · √n) exceed it, the densest first (module docstring); never below
    :data:`MIN_DENSE`."""
    n = degree.size
    root = float(np.sqrt(n))
    limit = max(MIN_DENSE, DENSE_FACTOR * root)
    budget = int(DENSE_BLOCK * root)
    if lowered and n > budget:
        # the (budget + 1)-th largest degree: no more than `budget` columns lie above it
        kth = float(np.partition(degree, n - budget - 1)[n - budget - 1])
        limit = min(limit, max(MIN_DENSE, root, kth))
    return limit


def dense_columns(pattern: sp.csc_matrix, *, lowered: bool = True) -> np.ndarray:
    """Indices of the columns of `pattern` (symmetric, both triangles stored) with more stored
    entries than :func:`dense_limit`, in increasing order of their entries."""
    degree = np.diff(pattern.indptr)
    dense = np.flatnonzero(degree > dense_limit(degree, lowered=lowered))
    return dense[np.argsort(degree[dense], kind="stable")]


def elimination_order(pattern: sp.csc_matrix, method: str = "default", *, lowered: bool = True) -> np.ndarray:
    """The fill-reducing order of the symmetric `pattern` (n × n CSC, both triangles stored):
    int64 array of length n, row k of the permuted matrix being row order[k] of `pattern`.
    "default": AMD on all but the dense columns (:func:`dense_columns`, with `lowered`), which
    follow; any other name: CHOLMOD's ordering of that name on the whole pattern."""
    n = pattern.shape[0]
    if method == "natural":
        return np.arange(n, dtype=np.int64)
    if method != "default":
        if method not in CHOLMOD_ORDERINGS:
            raise ValueError(f"ordering must be 'default' or one of {CHOLMOD_ORDERINGS}, got {method!r}")
        return _cholmod_order(pattern, method)
    dense = dense_columns(pattern, lowered=lowered)
    if dense.size == 0:
        return _cholmod_order(pattern, "amd")
    keep = np.ones(n, dtype=bool)
    keep[dense] = False
    rest = np.flatnonzero(keep)
    if rest.size == 0:
        return dense.astype(np.int64)
    sparse_part = sp.csc_matrix(pattern[rest][:, rest])
    return np.concatenate([rest[_cholmod_order(sparse_part, "amd")], dense]).astype(np.int64)


def _cholmod_order(pattern: sp.csc_matrix, method: str) -> np.ndarray:
    if not pattern.has_sorted_indices:
        pattern = pattern.sorted_indices()
    symbolic = cholmod.analyze(pattern, mode="simplicial", ordering_method=method)
    return np.asarray(symbolic.P(), dtype=np.int64)


def factor_kind(counts: np.ndarray) -> str:
    """"supernodal" or "simplicial" for a factor with column counts `counts` (entries of each
    column of L, diagonal included): supernodal when Σ c_j² ≥ SUPERNODAL_WORK_PER_ENTRY · Σ c_j."""
    c = np.asarray(counts, dtype=np.float64)
    return "supernodal" if float(c @ c) >= SUPERNODAL_WORK_PER_ENTRY * float(c.sum()) else "simplicial"


def permuted_lower(pattern: sp.csc_matrix, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lower triangle of pattern[order][:, order] as CSC (indptr, indices: sorted) and, for
    each of its entries, the position in `pattern`'s stored entries it takes its value from
    (int32 when that fits): ``values[gather]`` permutes a matrix on that pattern."""
    n = pattern.shape[0]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n, dtype=np.int64)
    cols = position[np.repeat(np.arange(n, dtype=np.int64), np.diff(pattern.indptr))]
    rows = position[pattern.indices.astype(np.int64)]
    source = np.flatnonzero(rows >= cols)
    # exact in float64 (below 2**53); the CSC conversion sorts the entries by column, then row
    lower = sp.csc_matrix((source.astype(np.float64), (rows[source], cols[source])), shape=(n, n))
    lower.sort_indices()
    if lower.nnz != source.size:
        raise RuntimeError("the permuted pattern lost entries; pass a pattern without duplicate entries")
    index_type = np.int32 if pattern.nnz <= np.iinfo(np.int32).max else np.int64
    gather = lower.data.astype(index_type)
    return lower.indptr, lower.indices, gather
