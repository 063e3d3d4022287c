"""The size of a Cholesky factor before it is computed: the elimination tree (Liu's algorithm
with path compression) and the row subtrees of L, from the pattern alone, in O(nnz(L)) time and
O(n) memory."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True)
def _factor_entries(n, indptr, indices, perm, position):  # pragma: no cover - compiled
    """nnz of the lower triangle of L (diagonal included) for the symmetric CSC pattern
    (indptr, indices) eliminated in the order `perm` (`position` its inverse: the step at which
    each row is eliminated); the permuted matrix is never formed."""
    parent = np.full(n, -1, np.int64)
    ancestor = np.full(n, -1, np.int64)
    for i in range(n):
        col = perm[i]
        for q in range(indptr[col], indptr[col + 1]):
            r = position[indices[q]]
            if r >= i:
                continue
            while ancestor[r] != -1 and ancestor[r] != i:
                t = ancestor[r]
                ancestor[r] = i
                r = t
            if ancestor[r] == -1:
                ancestor[r] = i
                parent[r] = i
    mark = np.full(n, -1, np.int64)
    total = n
    for i in range(n):
        mark[i] = i
        col = perm[i]
        for q in range(indptr[col], indptr[col + 1]):
            j = position[indices[q]]
            if j >= i:
                continue
            while mark[j] != i:  # the row subtree of row i: L[i, j] != 0
                mark[j] = i
                total += 1
                j = parent[j]
    return total


def factor_entries(pattern: sp.spmatrix, perm: np.ndarray) -> int:
    """nnz of the lower triangle of the Cholesky factor of P A P' for a symmetric pattern A and
    the elimination order `perm` (row k of the permuted matrix is row perm[k] of A)."""
    a = pattern if sp.isspmatrix_csc(pattern) else sp.csc_matrix(pattern)
    perm = np.asarray(perm, dtype=np.int64)
    position = np.empty_like(perm)
    position[perm] = np.arange(perm.size, dtype=np.int64)
    return int(_factor_entries(a.shape[0], a.indptr.astype(np.int64), a.indices.astype(np.int64), perm, position))
