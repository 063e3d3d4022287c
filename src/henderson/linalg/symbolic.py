"""The size of a Cholesky factor before it is computed: the elimination tree (Liu's algorithm
with path compression) and the row subtrees of L, from the pattern alone, in O(nnz(L)) time and
O(n) memory. The column counts c_j of L give its entries (Σ c_j) and the factorization's work
(about Σ c_j² flops); a postorder of the tree gives the same factor with every subtree's columns
contiguous."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True)
def _tree_and_counts(n, indptr, indices, perm, position):  # pragma: no cover - compiled
    """The elimination tree (parent of each column, -1 at roots) and the entries of each column
    of L (lower triangle, diagonal included), both in elimination order, for the symmetric CSC
    pattern (indptr, indices) eliminated in the order `perm` (`position`
    its inverse: the step at which each row is eliminated); the permuted matrix is never
    formed."""
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
    counts = np.ones(n, np.int64)
    for i in range(n):
        mark[i] = i
        col = perm[i]
        for q in range(indptr[col], indptr[col + 1]):
            j = position[indices[q]]
            if j >= i:
                continue
            while mark[j] != i:  # the row subtree of row i: L[i, j] != 0
                mark[j] = i
                counts[j] += 1
                j = parent[j]
    return parent, counts


@numba.njit(cache=True)
def _postorder(parent):  # pragma: no cover - compiled
    """A postorder of the forest `parent` (-1 at roots): children before their parent, each
    subtree contiguous; children and roots in increasing order."""
    n = parent.size
    head = np.full(n, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    for j in range(n - 1, -1, -1):  # child lists in increasing order
        p = parent[j]
        if p >= 0:
            nxt[j] = head[p]
            head[p] = j
    order = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    k = 0
    for root in range(n):
        if parent[root] >= 0:
            continue
        top = 0
        stack[0] = root
        while top >= 0:
            j = stack[top]
            child = head[j]
            if child == -1:
                top -= 1
                order[k] = j
                k += 1
            else:
                head[j] = nxt[child]
                top += 1
                stack[top] = child
    return order


def elimination_tree(pattern: sp.spmatrix, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The elimination tree of P A P' (parent of each column, -1 at roots) and the entries of
    each column of its Cholesky factor L (lower triangle, diagonal included), both of length n
    in elimination order, for a symmetric pattern A and the elimination order `perm` (row k of
    the permuted matrix is row perm[k] of A)."""
    a = pattern if sp.isspmatrix_csc(pattern) else sp.csc_matrix(pattern)
    perm = np.asarray(perm, dtype=np.int64)
    position = np.empty_like(perm)
    position[perm] = np.arange(perm.size, dtype=np.int64)
    return _tree_and_counts(a.shape[0], a.indptr.astype(np.int64), a.indices.astype(np.int64), perm, position)


def column_counts(pattern: sp.spmatrix, perm: np.ndarray) -> np.ndarray:
    """Entries of each column of the Cholesky factor of P A P' (:func:`elimination_tree`)."""
    return elimination_tree(pattern, perm)[1]


def postorder(parent: np.ndarray) -> np.ndarray:
    """A postorder of the elimination tree `parent`: the same factor (same fill), with each
    subtree's columns contiguous, as supernodes need (positions into `parent`'s order)."""
    return _postorder(np.asarray(parent, dtype=np.int64))


def factor_entries(pattern: sp.spmatrix, perm: np.ndarray) -> int:
    """nnz of the lower triangle of the Cholesky factor of P A P' (:func:`column_counts`)."""
    return int(column_counts(pattern, perm).sum())
