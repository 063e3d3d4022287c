"""Fused kernels of block conjugate gradients on many columns at once (x, r, p, q: (n, m)).

Each iteration of PCG on m columns is bound by memory traffic, not arithmetic: with numpy every
vector operation reads and writes whole (n, m) arrays (about 21 passes per iteration). Here the
per-column dot products are accumulated while the arrays are traversed for another reason, and a
diagonal preconditioner is applied on the fly instead of storing z = M⁻¹r (about 14 passes).
Rows are split into chunks run in parallel; per-column sums are accumulated per chunk and added
at the end (deterministic for a given number of chunks).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["chunk_bounds", "direction", "direction_diagonal", "product", "product_dots", "step"]


def chunk_bounds(n: int, chunks: int | None = None) -> np.ndarray:
    """Row bounds (chunks + 1,) splitting n rows into about 4 chunks per thread."""
    chunks = max(1, min(n, chunks if chunks is not None else 4 * numba.get_num_threads()))
    return np.linspace(0, n, chunks + 1).astype(np.int64)


@numba.njit(parallel=True, cache=True)
def _product_dots(indptr, indices, data, p, q, bounds, partial, with_dots):  # pragma: no cover - compiled
    n_chunks = bounds.shape[0] - 1
    m = p.shape[1]
    for c in numba.prange(n_chunks):
        for j in range(m):
            partial[c, j] = 0.0
        for i in range(bounds[c], bounds[c + 1]):
            for j in range(m):
                q[i, j] = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                col = indices[k]
                v = data[k]
                for j in range(m):
                    q[i, j] += v * p[col, j]
            if with_dots:
                for j in range(m):
                    partial[c, j] += p[i, j] * q[i, j]


def product_dots(lhs, p: np.ndarray, q: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """q = A p for A in CSR (n × n), in place; returns the column dots p'q (m,)."""
    partial = np.empty((bounds.size - 1, p.shape[1]))
    _product_dots(lhs.indptr, lhs.indices, lhs.data, p, q, bounds, partial, True)
    return partial.sum(axis=0)


def product(lhs, x: np.ndarray, out: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
    """out = A x for A in CSR (n × n) and x (n, m), rows in parallel (scipy's product with many
    columns is single-threaded); returns out."""
    bounds = chunk_bounds(x.shape[0]) if bounds is None else bounds
    _product_dots(lhs.indptr, lhs.indices, lhs.data, x, out, bounds, np.empty((bounds.size - 1, x.shape[1])), False)
    return out


@numba.njit(parallel=True, cache=True)
def _step(x, r, p, q, alpha, dinv, bounds, partial):  # pragma: no cover - compiled
    n_chunks = bounds.shape[0] - 1
    m = x.shape[1]
    diagonal = dinv.shape[0] > 0
    for c in numba.prange(n_chunks):
        for j in range(m):
            partial[0, c, j] = 0.0
            partial[1, c, j] = 0.0
        for i in range(bounds[c], bounds[c + 1]):
            for j in range(m):
                x[i, j] += alpha[j] * p[i, j]
                ri = r[i, j] - alpha[j] * q[i, j]
                r[i, j] = ri
                partial[0, c, j] += ri * ri
                if diagonal:
                    partial[1, c, j] += dinv[i] * ri * ri


def step(x: np.ndarray, r: np.ndarray, p: np.ndarray, q: np.ndarray, alpha: np.ndarray, dinv: np.ndarray,
         bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """x += αp, r −= αq in place (α per column); returns r'r (m,) and, for a diagonal
    preconditioner `dinv` (n,) (empty: none), r'M⁻¹r (m,)."""
    partial = np.empty((2, bounds.size - 1, x.shape[1]))
    _step(x, r, p, q, alpha, dinv, bounds, partial)
    sums = partial.sum(axis=1)
    return sums[0], (sums[1] if dinv.size else None)


@numba.njit(parallel=True, cache=True)
def _direction_diagonal(p, r, dinv, beta, bounds):  # pragma: no cover - compiled
    m = p.shape[1]
    for c in numba.prange(bounds.shape[0] - 1):
        for i in range(bounds[c], bounds[c + 1]):
            d = dinv[i]
            for j in range(m):
                p[i, j] = d * r[i, j] + beta[j] * p[i, j]


def direction_diagonal(p: np.ndarray, r: np.ndarray, dinv: np.ndarray, beta: np.ndarray, bounds: np.ndarray) -> None:
    """p ← M⁻¹r + βp in place, for the diagonal preconditioner M⁻¹ = diag(dinv)."""
    _direction_diagonal(p, r, dinv, beta, bounds)


@numba.njit(parallel=True, cache=True)
def _direction(p, z, beta, bounds):  # pragma: no cover - compiled
    m = p.shape[1]
    for c in numba.prange(bounds.shape[0] - 1):
        for i in range(bounds[c], bounds[c + 1]):
            for j in range(m):
                p[i, j] = z[i, j] + beta[j] * p[i, j]


def direction(p: np.ndarray, z: np.ndarray, beta: np.ndarray, bounds: np.ndarray) -> None:
    """p ← z + βp in place."""
    _direction(p, z, beta, bounds)
