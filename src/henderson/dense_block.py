"""A dense symmetric block of a sparse matrix, kept apart from it.

Genomic relationships put a dense block into K⁻¹: G*⁻¹ for GBLUP, D = τ G*⁻¹ − ω A22⁻¹ at the
genotyped animals for single step (:mod:`henderson.genomic`). With E (n_b × q) picking the
block's `positions` among the q levels::

    K⁻¹ = S + E' M E        S sparse (q × q), M dense symmetric (n_b × n_b)

An exact (factorising) solver needs K⁻¹ as one sparse matrix: :func:`merge` stores the n_b² entries
of M in S's columns. A block may also hold M as products only (single step with APY,
:class:`henderson.genomic.singlestep.SingleStepBlock`): it has the same `positions`, `size`,
`entries`, `times` and `preconditioner_diagonal`, and forms `matrix` only when merged. An iterative solver only needs products, K⁻¹x = S x + E' M (E x): one dense
matrix product, and no sparse matrix with n_b² entries (12–16 bytes each instead of 8) is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["BlockProducts", "DenseBlock", "merge"]


class BlockProducts:
    """What every block of K⁻¹ derives from its `positions` (n_b,) and its product `times`: the
    size, the entries a merge stores, and (S + E'ME) x. Subclasses: :class:`DenseBlock` and the
    blocks held as products (:mod:`henderson.genomic.singlestep`)."""

    positions: np.ndarray

    def times(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(self.positions.size)

    @property
    def entries(self) -> int:
        """Entries of M (n_b²): what merging it into a sparse matrix stores."""
        return self.size * self.size

    def apply(self, sparse: sp.spmatrix, x: np.ndarray) -> np.ndarray:
        """(S + E'ME) x for S (q × q) and x (q,) or (q, m)."""
        out = np.asarray(sparse @ x, dtype=float)
        out[self.positions] += self.times(np.asarray(x, dtype=float)[self.positions])
        return out


@dataclass(frozen=True, eq=False)
class DenseBlock(BlockProducts):
    """M (n_b × n_b, symmetric, float64) at the levels `positions` (n_b,, distinct, any order:
    row i of M belongs to level positions[i])."""

    positions: np.ndarray
    matrix: np.ndarray

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.int64)
        n = positions.size
        if self.matrix.shape != (n, n):
            raise ValueError(f"the dense block is {self.matrix.shape}; {n} positions need {n} × {n}.")
        if np.unique(positions).size != n:
            raise ValueError("the positions of a dense block must be distinct.")
        object.__setattr__(self, "positions", positions)

    def times(self, x: np.ndarray) -> np.ndarray:
        """M x for x (n_b,) or (n_b, m) in the order of `positions`."""
        return self.matrix @ x

    def diagonal(self) -> np.ndarray:
        """diag(M) (n_b,)."""
        return np.diagonal(self.matrix).copy()

    def preconditioner_diagonal(self) -> np.ndarray:
        """What a preconditioner takes for diag(M): here diag(M) itself. Blocks held as products
        (:class:`henderson.genomic.singlestep.SingleStepBlock`) give an approximation."""
        return self.diagonal()

@numba.njit(cache=True)
def _merge_count(indptr, indices, inside, nb):  # pragma: no cover - compiled
    """Column pointers of S + E'ME."""
    n = indptr.size - 1
    count = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        if not inside[j]:
            count[j + 1] = count[j] + indptr[j + 1] - indptr[j]
            continue
        extra = 0
        for p in range(indptr[j], indptr[j + 1]):
            if not inside[indices[p]]:
                extra += 1
        count[j + 1] = count[j] + nb + extra
    return count


@numba.njit(cache=True)
def _merge_fill(indptr, indices, data, inside, rank, order, sorted_pos, block, count, out_idx,
                out_val):  # pragma: no cover - compiled
    """Fill the CSC of S + E'ME (sorted row indices); `block` holds the rows of M."""
    n = indptr.size - 1
    nb = sorted_pos.size
    for j in range(n):
        q = count[j]
        if not inside[j]:
            for p in range(indptr[j], indptr[j + 1]):
                out_idx[q] = indices[p]
                out_val[q] = data[p]
                q += 1
            continue
        row = block[order[rank[j]]]  # M[:, j] = M[j, :] (symmetric), in the order of `positions`
        p = indptr[j]
        end = indptr[j + 1]
        for r in range(nb):
            pos = sorted_pos[r]
            while p < end and indices[p] < pos:
                out_idx[q] = indices[p]
                out_val[q] = data[p]
                q += 1
                p += 1
            v = row[order[r]]
            if p < end and indices[p] == pos:
                v += data[p]
                p += 1
            out_idx[q] = pos
            out_val[q] = v
            q += 1
        while p < end:
            out_idx[q] = indices[p]
            out_val[q] = data[p]
            q += 1
            p += 1


def merge(sparse: sp.spmatrix, block: DenseBlock) -> sp.csc_matrix:
    """S + E'ME (q × q) as one CSC matrix with sorted indices; M is stored dense (every entry,
    both triangles), with 64-bit indices once there are more than 2³¹ entries."""
    a = sp.csc_matrix(sparse)
    a.sort_indices()
    positions = block.positions
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    inside = np.zeros(a.shape[0], dtype=np.bool_)
    inside[positions] = True
    rank = np.full(a.shape[0], -1, dtype=np.int64)
    rank[sorted_pos] = np.arange(sorted_pos.size)
    m = block.matrix
    rows = m if m.flags.c_contiguous else np.ascontiguousarray(m.T)  # rows of M (symmetric)
    indptr = _merge_count(a.indptr, a.indices, inside, sorted_pos.size)
    index_dtype = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    indices = np.empty(indptr[-1], dtype=index_dtype)
    values = np.empty(indptr[-1])
    _merge_fill(a.indptr, a.indices, a.data, inside, rank, order, sorted_pos, rows, indptr, indices, values)
    out = sp.csc_matrix((values, indices, indptr.astype(index_dtype)), shape=a.shape)
    out.has_sorted_indices = True
    return out
