"""A⁻¹ by Henderson's rules with inbreeding, and the dense tabular A (test oracle)."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from henderson.pedigree.inbreeding import _sort_pairs, inbreeding, mendelian_variances
from henderson.pedigree.structure import Pedigree

# --------------------------------------------------------------------------------------------
# A-inverse and the dense oracle
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _ainv_csc(
    sire: np.ndarray, dam: np.ndarray, delta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSC arrays (indptr, indices, data) of ``A⁻¹ = Σ_i δ_i c_i c_i'`` with rows sorted.

    Column j collects its own term (``δ_j`` at j, ``-δ_j/2`` at its parents) and, for every
    offspring i of j, ``δ_i/4`` at j, ``-δ_i/2`` at i and ``δ_i/4`` at i's other parent.
    Repeated rows (full sibs share both parents; a parent can also be a mate) are summed via a
    dense row -> slot map, then each column is sorted by row. O(nnz log(column length)).
    """
    n = sire.size
    # offspring lists: child i appears under its sire and under its dam (twice when selfed)
    count = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        if sire[i] >= 0:
            count[sire[i] + 1] += 1
        if dam[i] >= 0:
            count[dam[i] + 1] += 1
    for j in range(n):
        count[j + 1] += count[j]
    child = np.empty(count[n], dtype=np.int64)
    as_sire = np.empty(count[n], dtype=np.bool_)
    fill = count[:-1].copy()
    for i in range(n):
        if sire[i] >= 0:
            child[fill[sire[i]]] = i
            as_sire[fill[sire[i]]] = True
            fill[sire[i]] += 1
        if dam[i] >= 0:
            child[fill[dam[i]]] = i
            as_sire[fill[dam[i]]] = False
            fill[dam[i]] += 1
    # upper bound of entries per column: itself, two parents, per offspring the child and a mate
    bound = 0
    widest = 0
    for j in range(n):
        width = 3 + 2 * (count[j + 1] - count[j])
        bound += width
        widest = max(widest, width)
    indices = np.empty(bound, dtype=np.int64)
    data = np.empty(bound)
    indptr = np.zeros(n + 1, dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    rows = np.empty(widest, dtype=np.int64)
    vals = np.empty(widest)
    nnz = 0
    for j in range(n):
        used = 0
        # own term
        rows[0] = j
        vals[0] = delta[j]
        slot[j] = 0
        used = 1
        for p in (sire[j], dam[j]):
            if p >= 0:
                if slot[p] < 0:
                    slot[p] = used
                    rows[used] = p
                    vals[used] = 0.0
                    used += 1
                vals[slot[p]] -= 0.5 * delta[j]
        for k in range(count[j], count[j + 1]):
            i = child[k]
            quarter = 0.25 * delta[i]
            vals[0] += quarter
            if slot[i] < 0:
                slot[i] = used
                rows[used] = i
                vals[used] = 0.0
                used += 1
            vals[slot[i]] -= 0.5 * delta[i]
            mate = dam[i] if as_sire[k] else sire[i]
            if mate >= 0:
                if slot[mate] < 0:
                    slot[mate] = used
                    rows[used] = mate
                    vals[used] = 0.0
                    used += 1
                vals[slot[mate]] += quarter
        for k in range(used):
            slot[rows[k]] = -1
        _sort_pairs(rows, vals, used)
        indices[nnz : nnz + used] = rows[:used]
        data[nnz : nnz + used] = vals[:used]
        nnz += used
        indptr[j + 1] = nnz
    return indptr, indices[:nnz].copy(), data[:nnz].copy()


def ainv(ped: Pedigree, F: np.ndarray | None = None) -> sp.csc_matrix:
    """A⁻¹ (n×n, symmetric, CSC with sorted indices, pedigree order) by Henderson's rules.

    With ``δ_i = 1/b_i`` (see :func:`mendelian_variances`; inbreeding as in Quaas 1976), each
    animal i with sire s and dam d adds ``δ_i·c c'`` where ``c = e_i - e_s/2 - e_d/2`` (terms of
    unknown parents left out): ``+δ_i`` at (i,i); ``-δ_i/2`` at (i,s), (s,i), (i,d), (d,i);
    ``+δ_i/4`` at (s,s), (d,d), (s,d), (d,s); for a selfed animal (s = d) these add up to
    ``-δ_i`` at (i,s), (s,i) and ``+δ_i`` at (s,s). Contributions are summed in a fixed order, so
    the result is deterministic. ``F`` defaults to :func:`inbreeding`. Index arrays are int32 when
    they fit (as scipy makes them).
    """
    if F is None:
        F = inbreeding(ped)
    b = mendelian_variances(ped, F)  # >= 1/2 - 2/4 * max F > 0, as F < 1 is checked there
    indptr, indices, data = _ainv_csc(ped.sire, ped.dam, 1.0 / b)
    index_dtype = np.int32 if max(ped.n, indices.size) < np.iinfo(np.int32).max else np.int64
    matrix = sp.csc_matrix(
        (data, indices.astype(index_dtype), indptr.astype(index_dtype)), shape=(ped.n, ped.n)
    )
    matrix.has_sorted_indices = True
    return matrix


def relationship_matrix_dense(ped: Pedigree) -> np.ndarray:
    """Oracle: the numerator relationship matrix A (n×n, dense) by the tabular method. O(n²).

    ``a_ii = 1 + a(s,d)/2`` (``1`` with a parent unknown), ``a_ij = (a_js + a_jd)/2`` for j < i,
    with unknown-parent terms 0; with selfing (s = d) ``a_ii = 1 + a_ss/2`` and ``a_ij = a_js``.
    For tests and tiny pedigrees only.
    """
    n = ped.n
    A = np.zeros((n, n))
    for i in range(n):
        s, d = int(ped.sire[i]), int(ped.dam[i])
        row = np.zeros(i)
        if s >= 0:
            row += 0.5 * A[s, :i]
        if d >= 0:
            row += 0.5 * A[d, :i]
        A[i, :i] = row
        A[:i, i] = row
        A[i, i] = 1.0 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0.0)
    return A


