"""Numba kernels of the selected inverse: supernodes, Takahashi recurrences, symmetric expansion.

`SparseCholesky.selected_inverse` runs them on the factor ``L`` (lower CSC, permuted order):
`_find_supernodes` groups its columns into dense blocks, `_takahashi` computes ``A⁻¹`` on the
pattern of ``L`` with BLAS / LAPACK calls per supernode, and `_expand_symmetric` maps the result
to a full symmetric matrix in the original order. `_gallop` is the sorted-row search they share
with the trace kernel.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address


@numba.njit(cache=True)
def _find_supernodes(indptr, indices):  # pragma: no cover - compiled
    """Fundamental supernodes of a lower-triangular CSC pattern (sorted rows, diagonal first).

    Column j+1 joins the supernode of column j when struct(L[:, j]) = {j} ∪ struct(L[:, j+1]),
    i.e. the two columns form a dense lower-trapezoidal block. Returns the first column of every
    supernode followed by n (length nsuper + 1).
    """
    n = indptr.shape[0] - 1
    starts = np.empty(n + 1, np.int64)
    starts[0] = 0
    ns = 1
    for j in range(n - 1):
        a0 = indptr[j]
        a1 = indptr[j + 1]
        b0 = indptr[j + 1]
        b1 = indptr[j + 2]
        same = (a1 - a0 == b1 - b0 + 1) and (a1 - a0 >= 2) and indices[a0 + 1] == j + 1
        if same:
            for q in range(b1 - b0 - 1):
                if indices[a0 + 2 + q] != indices[b0 + 1 + q]:
                    same = False
                    break
        if not same:
            starts[ns] = j + 1
            ns += 1
    starts[ns] = n
    return starts[: ns + 1].copy()


# BLAS / LAPACK from scipy's Cython wrappers (LP64, Fortran conventions: every argument is a
# pointer). Registered under fixed symbol names so that the compiled kernels stay cacheable; the
# kernels pass addresses as integers (`array.ctypes.data` + byte offset).
def _external(module: str, name: str, nargs: int) -> types.ExternalFunction:
    symbol = f"henderson_linalg_{name}"
    llvm.add_symbol(symbol, get_cython_function_address(module, name))
    return types.ExternalFunction(symbol, types.void(*([types.intp] * nargs)))


_dtrsm = _external("scipy.linalg.cython_blas", "dtrsm", 11)
_dsymm = _external("scipy.linalg.cython_blas", "dsymm", 12)
_dgemm = _external("scipy.linalg.cython_blas", "dgemm", 13)
_dpotri = _external("scipy.linalg.cython_lapack", "dpotri", 5)


@numba.njit(cache=True)
def _gallop(arr, lo, hi, target):  # pragma: no cover - compiled
    """Position of ``target`` in the sorted slice arr[lo:hi], or -1 (exponential + binary search)."""
    if lo >= hi:
        return -1
    if arr[lo] >= target:
        return lo if arr[lo] == target else -1
    left = lo  # invariant: arr[left] < target
    step = 1
    right = lo + 1
    while right < hi and arr[right] < target:
        left = right
        step *= 2
        right = left + step
    right = min(right, hi)
    a = left + 1
    b = right
    while a < b:
        mid = (a + b) // 2
        if arr[mid] < target:
            a = mid + 1
        else:
            b = mid
    if a < hi and arr[a] == target:
        return a
    return -1


@numba.njit(cache=True)
def _takahashi(indptr, indices, ldata, sup_start):  # pragma: no cover - compiled
    """Selected inverse Z = A⁻¹ on the pattern of L, for A = L L' (L lower, CSC, permuted order).

    Supernodal form of the Takahashi recurrences. For a supernode J (columns f..f+nc-1, dense
    diagonal block L_JJ, the m rows U below it with block L_UJ) and Z known on every later
    supernode, the columns J of Z L = L'⁻¹ (upper triangular) give
        Y    = L_UJ L_JJ⁻¹                         (m × nc, dtrsm)
        Z_UJ = -Z_UU Y                             (m × nc, dsymm)
        Z_JJ = (L_JJ L_JJ')⁻¹ - Z_UJ' Y            (nc × nc, dpotri then dgemm).
    For one column (nc = 1, unit-diagonal L̃ = L / l_jj, d_j = l_jj²) this is the scalar recurrence
    Z_ij = -Σ_{k∈S_j} L̃_kj Z_ik, Z_jj = 1/d_j - Σ_{k∈S_j} L̃_kj Z_kj. Every entry of Z_UU lies on
    the pattern of L (the filled graph is chordal); it is gathered from the supernode K holding
    its column through relative row indices found by galloping search in K's row list.

    Returns (zdata, status): zdata has the layout of ldata; status 0 on success, 1 + column f
    when the block of column f needed an entry outside the pattern (pattern not closed), or
    -(1 + f) when its diagonal block was singular.
    """
    n = indptr.shape[0] - 1
    nsuper = sup_start.shape[0] - 1
    zdata = np.zeros(ldata.shape[0])
    sup_of = np.empty(n, np.int64)
    max_blk = 1
    max_uu = 1
    max_uj = 1
    for s in range(nsuper):
        f = sup_start[s]
        nc = sup_start[s + 1] - f
        m = indptr[f + 1] - indptr[f] - nc
        max_blk = max(max_blk, (nc + m) * nc)
        max_uu = max(max_uu, m * m)
        max_uj = max(max_uj, m * nc)
        for c in range(f, f + nc):
            sup_of[c] = s
    # Column-major work arrays: blk = [L_JJ; L_UJ] (ld = nc + m), zuu (ld = m), zuj (ld = m).
    blk = np.empty(max_blk)
    zuu = np.empty(max_uu)
    zuj = np.empty(max_uj)
    ints = np.zeros(8, np.int32)
    dbl = np.array([1.0, -1.0, 0.0])
    chars = np.array([ord("L"), ord("R"), ord("N"), ord("T")], np.uint8)
    p_int = ints.ctypes.data
    p_one = dbl.ctypes.data
    p_mone = p_one + 8
    p_zero = p_one + 16
    c_l = chars.ctypes.data
    c_r = c_l + 1
    c_n = c_l + 2
    c_t = c_l + 3
    p_blk = blk.ctypes.data
    p_zuu = zuu.ctypes.data
    p_zuj = zuj.ctypes.data
    p_m = p_int
    p_nc = p_int + 4
    p_ld = p_int + 8
    p_info = p_int + 12
    rel = np.empty(n, np.int64)
    for sj in range(nsuper - 1, -1, -1):
        f = sup_start[sj]
        nc = sup_start[sj + 1] - f
        ujs = indptr[f] + nc  # U = indices[ujs : ujs + m]
        m = indptr[f + 1] - ujs
        ld = nc + m
        # Column f+t of L stores block rows t..ld-1 contiguously (upper part of blk is unused).
        for t in range(nc):
            q = indptr[f + t] - t
            for r in range(t, ld):
                blk[r + t * ld] = ldata[q + r]
        ints[0] = m
        ints[1] = nc
        ints[2] = ld
        ints[3] = 0
        if m > 0:  # Y = L_UJ L_JJ⁻¹, in place of L_UJ
            _dtrsm(c_r, c_l, c_n, c_n, p_m, p_nc, p_one, p_blk, p_ld, p_blk + 8 * nc, p_ld)
        _dpotri(c_l, p_nc, p_blk, p_ld, p_info)  # lower of (L_JJ L_JJ')⁻¹, in place of L_JJ
        if ints[3] != 0:
            return zdata, -(1 + f)
        if m > 0:
            b = 0
            while b < m:
                u = indices[ujs + b]
                sk = sup_of[u]
                fk = sup_start[sk]
                lk = sup_start[sk + 1]
                b1 = b
                while b1 < m and indices[ujs + b1] < lk:
                    rel[b1] = indices[ujs + b1] - fk
                    b1 += 1
                qk = indptr[fk]
                endk = indptr[fk + 1]
                lo = qk + (lk - fk)
                for a in range(b1, m):
                    pos = _gallop(indices, lo, endk, indices[ujs + a])
                    if pos < 0:
                        return zdata, 1 + f
                    rel[a] = pos - qk
                    lo = pos + 1
                for bb in range(b, b1):  # lower triangle of column bb of Z_UU
                    t = indices[ujs + bb] - fk
                    q = indptr[fk + t] - t
                    col = bb * m
                    for a in range(bb, m):
                        zuu[col + a] = zdata[q + rel[a]]
                b = b1
            # Z_UJ = -Z_UU Y ;  Z_JJ -= Z_UJ' Y
            _dsymm(c_l, c_l, p_m, p_nc, p_mone, p_zuu, p_m, p_blk + 8 * nc, p_ld, p_zero, p_zuj,
                   p_m)
            _dgemm(c_t, c_n, p_nc, p_nc, p_m, p_mone, p_zuj, p_m, p_blk + 8 * nc, p_ld, p_one,
                   p_blk, p_ld)
            for t in range(nc):
                q = indptr[f + t] - t + nc
                for a in range(m):
                    zdata[q + a] = zuj[a + t * m]
        for t in range(nc):
            q = indptr[f + t] - t
            for r in range(t, nc):
                zdata[q + r] = blk[r + t * ld]
    return zdata, 0


@numba.njit(cache=True)
def _expand_symmetric(indptr, indices, data, perm):  # pragma: no cover - compiled
    """Full symmetric CSC in the original order from a lower-triangular CSC in permuted order.

    Entry (i, j), i ≥ j, of the permuted lower triangle is entry (perm[i], perm[j]) and
    (perm[j], perm[i]) of the result. Two counting passes (by row, then by column while walking
    rows in increasing order) give sorted row indices without a comparison sort.
    Returns (indptr int64, indices int32, data).
    """
    n = perm.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for j in range(n):
        pj = perm[j]
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            ptr[perm[i] + 1] += 1
            if i != j:
                ptr[pj + 1] += 1
    for r in range(n):
        ptr[r + 1] += ptr[r]
    nnz = ptr[n]
    row_cols = np.empty(nnz, np.int32)
    row_vals = np.empty(nnz)
    nxt = ptr[:n].copy()
    for j in range(n):
        pj = perm[j]
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            pi = perm[i]
            v = data[q]
            row_cols[nxt[pi]] = pj
            row_vals[nxt[pi]] = v
            nxt[pi] += 1
            if i != j:
                row_cols[nxt[pj]] = pi
                row_vals[nxt[pj]] = v
                nxt[pj] += 1
    # Symmetric: column c holds as many entries as row c, so the column pointers equal ptr.
    out_idx = np.empty(nnz, np.int32)
    out_val = np.empty(nnz)
    nxt[:] = ptr[:n]
    for r in range(n):
        for q in range(ptr[r], ptr[r + 1]):
            c = row_cols[q]
            out_idx[nxt[c]] = r
            out_val[nxt[c]] = row_vals[q]
            nxt[c] += 1
    return ptr, out_idx, out_val


@numba.njit(cache=True)
def _lower_positions(l_indptr, l_indices, inverse_perm, indptr, indices):  # pragma: no cover - compiled
    """Where each stored entry (i, j) of a CSC pattern (original order) lies in the data of a
    lower-triangular CSC in permuted order (entry (max, min) of (inverse_perm[i],
    inverse_perm[j]); its rows sorted per column): a search per entry. Returns
    (positions (nnz,) int64, the first entry not found or −1)."""
    out = np.empty(indices.size, np.int64)
    for j in range(indptr.size - 1):
        pj = inverse_perm[j]
        for q in range(indptr[j], indptr[j + 1]):
            pi = inverse_perm[indices[q]]
            r, c = (pi, pj) if pi >= pj else (pj, pi)
            at = _gallop(l_indices, l_indptr[c], l_indptr[c + 1], r)
            if at < 0:
                return out, q
            out[q] = at
    return out, -1
