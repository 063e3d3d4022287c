"""Inbreeding coefficients (Colleau's indirect method) and Mendelian-sampling variances."""

from __future__ import annotations

import numba
import numpy as np

from henderson.pedigree.structure import Pedigree

# --------------------------------------------------------------------------------------------
# Generations and inbreeding
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _sift_down(keys: np.ndarray, vals: np.ndarray, root: int, end: int) -> None:
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and keys[child + 1] > keys[child]:
            child += 1
        if keys[root] >= keys[child]:
            return
        keys[root], keys[child] = keys[child], keys[root]
        vals[root], vals[child] = vals[child], vals[root]
        root = child


@numba.njit(cache=True)
def _sort_pairs(keys: np.ndarray, vals: np.ndarray, m: int) -> None:
    """Sort ``keys[:m]`` ascending in place, moving ``vals[:m]`` along (distinct keys).

    Insertion sort for short runs, heapsort otherwise: O(m log m), no allocation, and much
    cheaper to compile than numba's generic ``np.sort``/``np.argsort``.
    """
    if m <= 32:
        for k in range(1, m):
            key = keys[k]
            val = vals[k]
            j = k - 1
            while j >= 0 and keys[j] > key:
                keys[j + 1] = keys[j]
                vals[j + 1] = vals[j]
                j -= 1
            keys[j + 1] = key
            vals[j + 1] = val
        return
    for root in range(m // 2 - 1, -1, -1):
        _sift_down(keys, vals, root, m)
    for end in range(m - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        vals[0], vals[end] = vals[end], vals[0]
        _sift_down(keys, vals, 0, end)


@numba.njit(cache=True)
def _mendelian(i: int, sire: np.ndarray, dam: np.ndarray, F: np.ndarray) -> float:
    b = 1.0
    if sire[i] >= 0:
        b -= 0.25 * (1.0 + F[sire[i]])
    if dam[i] >= 0:
        b -= 0.25 * (1.0 + F[dam[i]])
    return b


@numba.njit(cache=True)
def _ancestors_postorder(
    roots: np.ndarray,
    floor: int,
    sire: np.ndarray,
    dam: np.ndarray,
    stamp: np.ndarray,
    tag: int,
    stack: np.ndarray,
    edge: np.ndarray,
    out: np.ndarray,
) -> int:
    """Write the roots and their ancestors at positions ``>= floor`` to ``out`` in post-order.

    Post-order of the child -> parent graph lists every animal after its parents (a topological
    order without sorting); ``stamp[v] == tag`` marks the visited. Returns how many were written.
    """
    count = 0
    for r in range(roots.size):
        root = roots[r]
        if root < floor or stamp[root] == tag:
            continue
        stamp[root] = tag
        top = 0
        stack[0] = root
        edge[0] = 0
        while top >= 0:
            v = stack[top]
            e = edge[top]
            if e < 2:
                edge[top] = e + 1
                p = sire[v] if e == 0 else dam[v]
                if p >= floor and stamp[p] != tag:
                    stamp[p] = tag
                    top += 1
                    stack[top] = p
                    edge[top] = 0
            else:
                out[count] = v
                count += 1
                top -= 1
    return count


@numba.njit(cache=True)
def _families(sire: np.ndarray, dam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offspring with both parents known, grouped by sire (counting sort, stable in position):
    sire s's offspring are ``offspring[start[s]:start[s + 1]]`` and their dams ``mates[…]``."""
    n = sire.size
    start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        if sire[i] >= 0 and dam[i] >= 0:
            start[sire[i] + 1] += 1
    for s in range(n):
        start[s + 1] += start[s]
    fill = start[:-1].copy()
    mates = np.empty(start[n], dtype=np.int64)
    offspring = np.empty(start[n], dtype=np.int64)
    for i in range(n):
        if sire[i] >= 0 and dam[i] >= 0:
            offspring[fill[sire[i]]] = i
            mates[fill[sire[i]]] = dam[i]
            fill[sire[i]] += 1
    return start, mates, offspring


@numba.njit(cache=True)
def _inbreeding_kernel(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """F for a sorted pedigree, one paternal family at a time (after Sargolzaei et al. 2005).

    For each sire s (in pedigree order) the column ``a = A e_s = T B T' e_s`` is needed only at
    the dams mated to s, since ``F_i = a(s, d_i)/2`` for every offspring i of s with a known dam:

    1. ``u = T' e_s`` (the contributions of s's ancestors to s) on ``S = {s} ∪ ancestors(s)``,
       propagated from s towards older animals, offspring before parents: ``u_p += u_j/2``.
    2. ``v = B u`` on S; ``b_j`` needs F of j's parents, which are ancestors of s and were
       finished with the families of their own (earlier) sires.
    3. ``a = T v``, i.e. ``a_j = v_j + (a_{s_j} + a_{d_j})/2``, parents before offspring, on
       ``R = {mates} ∪ ancestors(mates)``. Animals before ``min(S)`` have ``a = 0`` (all their
       ancestors precede S), so the search for R stops there.

    Selfing needs no special case: s is then one of its own mates (``a_ss = 1 + F_s``), and an
    animal whose two parents are one animal passes ``u_j/2`` to it twice in step 1 and takes
    ``a_p/2`` from it twice in step 3.

    Both orders come from a depth-first post-order, so no sorting is needed: the cost per sire
    is O(|S| + |R|). The sire's ancestry is traced once per family rather than once per
    offspring, and the mates' shared ancestors once per family. Work arrays are dense (n,) and
    reset after use.
    """
    n = sire.size
    F = np.zeros(n)
    start, mates, offspring = _families(sire, dam)

    u = np.zeros(n)
    a = np.zeros(n)
    stamp = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    edge = np.empty(n, dtype=np.int8)
    S = np.empty(n, dtype=np.int64)
    R = np.empty(n, dtype=np.int64)
    root = np.empty(1, dtype=np.int64)
    for s in range(n):
        lo = start[s]
        hi = start[s + 1]
        if lo == hi:
            continue
        # 1. S = {s} ∪ ancestors(s), parents before offspring; u = T' e_s
        root[0] = s
        n_s = _ancestors_postorder(root, 0, sire, dam, stamp, 2 * s, stack, edge, S)
        u[s] = 1.0
        oldest = s
        for k in range(n_s - 1, -1, -1):
            j = S[k]
            oldest = min(oldest, j)
            half = 0.5 * u[j]
            if sire[j] >= 0:
                u[sire[j]] += half
            if dam[j] >= 0:
                u[dam[j]] += half
        # 2. v = B u, kept in u
        for k in range(n_s):
            j = S[k]
            u[j] *= _mendelian(j, sire, dam, F)
        # 3. R = mates ∪ their ancestors from position `oldest` on; a = T v on R
        n_r = _ancestors_postorder(
            mates[lo:hi], oldest, sire, dam, stamp, 2 * s + 1, stack, edge, R
        )
        for k in range(n_r):
            j = R[k]
            value = u[j]
            if sire[j] >= oldest:
                value += 0.5 * a[sire[j]]
            if dam[j] >= oldest:
                value += 0.5 * a[dam[j]]
            a[j] = value
        for k in range(lo, hi):
            F[offspring[k]] = 0.5 * a[mates[k]]
        for k in range(n_s):
            u[S[k]] = 0.0
        for k in range(n_r):
            a[R[k]] = 0.0
    return F


def inbreeding(ped: Pedigree) -> np.ndarray:
    """Inbreeding coefficients F, shape (n,), float64, in pedigree order.

    ``F_i = a(s_i, d_i)/2`` when both parents are known, else 0; exact (no approximation),
    computed family by family with the indirect method of Colleau (2002) as organised by
    Sargolzaei, Iwaisaki & Colleau (2005). Always ``0 <= F < 1``.

    Cost: O(Σ over sires of |ancestors(sire)| + |ancestors(its mates)|) time, about 70 bytes
    per animal of work memory. Fast when sires are few with many offspring each (AI-style
    pedigrees: 1M simulated animals with 900 sires take ~0.3 s); deep pedigrees with tens of
    thousands of sires each mated to a few dams are the slow case (tens of seconds at 1M).
    """
    return inbreeding_from_parents(ped.sire, ped.dam)


def inbreeding_from_parents(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """`inbreeding` on bare parent arrays: sire, dam (n,) int64 indices with parents before
    offspring (-1 = unknown). For callers that grow a pedigree cohort by cohort."""
    return _inbreeding_kernel(np.ascontiguousarray(sire, dtype=np.int64), np.ascontiguousarray(dam, dtype=np.int64))


def mendelian_variances(ped: Pedigree, F: np.ndarray) -> np.ndarray:
    """Mendelian-sampling variance factors b, shape (n,): ``b_i = 1 - Σ_known p (1 + F_p)/4``.

    ``b_i = 1`` for founders, ``3/4 - F_p/4`` with one known parent, ``1/2 - (F_s + F_d)/4``
    with both, hence ``(1 - F_p)/2`` for a selfed animal (s = d = p); ``A = T diag(b) T'``.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.shape != (ped.n,):
        raise ValueError(f"F must have shape ({ped.n},); got {F.shape}")
    if not np.all(np.isfinite(F)) or F.min(initial=0.0) < 0.0 or F.max(initial=0.0) >= 1.0:
        raise ValueError("F must be finite with 0 <= F < 1")
    with_zero = np.append(F, 0.0)
    b = np.ones(ped.n)
    b -= np.where(ped.sire >= 0, 0.25 * (1.0 + with_zero[ped.sire]), 0.0)
    b -= np.where(ped.dam >= 0, 0.25 * (1.0 + with_zero[ped.dam]), 0.0)
    return b


