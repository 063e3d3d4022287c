"""Sparse symmetric positive definite systems: Cholesky, log-determinant, selected inverse, PCG.

This is the only module that touches CHOLMOD (through ``sksparse.cholmod``) and scipy
factorizations. Everything above it (mixed model equations, REML) sees four operations on a
symmetric positive definite coefficient matrix ``A`` (n × n, scipy sparse, both triangles stored):

* ``SparseCholesky(pattern)`` — symbolic analysis once: a fill-reducing permutation ``P`` and the
  pattern of the factor ``L`` with ``L L' = A[P, :][:, P]``;
* ``.factorize(A)`` — numeric factorization, repeated for every new set of values on that pattern
  (REML evaluates the objective at many variance ratios, the pattern never changes);
* ``.solve(b)``, ``.logdet()`` — ``A⁻¹ b`` and ``log|A|``;
* ``.selected_inverse()`` — the entries of ``A⁻¹`` on the pattern of ``L + L'`` (which contains
  the pattern of ``A``), by the Takahashi / Erisman–Tinney recurrences, never a dense inverse.
  ``trace_of_product(Z, B) = tr(A⁻¹ B)`` then needs only those entries when ``B`` lies inside the
  pattern of ``A`` (e.g. ``tr(A⁻¹ · K⁻¹)`` for a relationship-matrix block in REML).

``pcg`` solves systems too large to factor by Jacobi-preconditioned conjugate gradients.

Index convention: every index in an argument, a result or an error message is 0-based in the
caller's (original) ordering; the permutation is internal.

Threads: CHOLMOD and the selected inverse spend their time in BLAS. Set the BLAS thread count
(``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS``) to the cores the job
owns; more BLAS threads than free cores makes the many medium-sized block operations of the
selected inverse several times slower.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

import llvmlite.binding as llvm
import numba
import numpy as np
import scipy.sparse as sp
from numba import types
from numba.extending import get_cython_function_address
from sksparse import cholmod
from threadpoolctl import threadpool_limits

from henderson.errors import NumericalError

__all__ = ["SparseCholesky", "trace_of_product", "pcg", "PCGResult"]

_LOG = logging.getLogger(__name__)

FactorMode = Literal["auto", "supernodal", "simplicial"]
Ordering = Literal["default", "amd", "metis", "nesdis", "best", "natural"]

# Accepted values, passed through to CHOLMOD (`analyze(mode=..., ordering_method=...)`).
_MODES = ("auto", "supernodal", "simplicial")
_ORDERINGS = ("default", "amd", "metis", "nesdis", "best", "natural")


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------
def _as_square_csc(matrix: sp.spmatrix, what: str) -> sp.csc_matrix:
    """``matrix`` as a float64 ``csc_matrix`` with sorted, unique indices (never mutates input)."""
    if not sp.issparse(matrix):
        raise TypeError(f"{what} must be a scipy sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{what} must be square, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{what} is empty (0 × 0)")
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    if not csc.has_canonical_format:
        csc = csc.copy()
        csc.sum_duplicates()  # also sorts the indices
    return csc


def _lower_pattern(csc: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray, int]:
    """Pattern of the lower triangle (indptr, indices) and the number of strictly upper entries."""
    cols = np.repeat(np.arange(csc.shape[1], dtype=np.int64), np.diff(csc.indptr))
    rows = csc.indices.astype(np.int64, copy=False)
    keep = rows >= cols
    indptr = np.zeros(csc.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols[keep], minlength=csc.shape[1]), out=indptr[1:])
    n_upper = int(np.count_nonzero(rows < cols))
    return indptr, rows[keep].astype(np.int32), n_upper


def _check_structurally_symmetric(csc: sp.csc_matrix, n_upper: int, what: str) -> None:
    n_strict_lower = int(np.count_nonzero(csc.indices > np.repeat(
        np.arange(csc.shape[1]), np.diff(csc.indptr))))
    if n_strict_lower != n_upper:
        raise ValueError(
            f"{what} is not stored as a full symmetric matrix ({n_strict_lower} entries below "
            f"the diagonal, {n_upper} above); pass both triangles, e.g. M + M.T - diag(M)"
        )


# --------------------------------------------------------------------------------------------
# numba kernels: supernodes, Takahashi recurrences, symmetric expansion, trace
# --------------------------------------------------------------------------------------------
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
    if right > hi:
        right = hi
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
def _trace_kernel(z_indptr, z_indices, z_data, b_indptr, b_indices, b_data):  # pragma: no cover
    """Σ_{(r,c) ∈ B} Z_rc B_rc, looking each entry of B up in column c of Z (sorted rows).

    Returns (total, missing_row, missing_col); missing_row = -1 when every nonzero of B was found.
    """
    n = b_indptr.shape[0] - 1
    total = 0.0
    for c in range(n):
        z0 = z_indptr[c]
        z1 = z_indptr[c + 1]
        lo = z0
        for q in range(b_indptr[c], b_indptr[c + 1]):
            v = b_data[q]
            if v == 0.0:
                continue
            r = b_indices[q]
            pos = _gallop(z_indices, lo, z1, r)
            if pos < 0:
                return total, r, c
            total += z_data[pos] * v
            lo = pos + 1
    return total, -1, -1


# --------------------------------------------------------------------------------------------
# SparseCholesky
# --------------------------------------------------------------------------------------------
class SparseCholesky:
    """Sparse Cholesky of a symmetric positive definite matrix: symbolic analysis once
    (fill-reducing ordering), numeric factorization per call of `factorize` for matrices with the
    same pattern.

    ``L L' = A[P, :][:, P]`` with ``P`` the permutation chosen at analysis (CHOLMOD). Matrices are
    n × n scipy sparse with both triangles stored; only the lower triangle is read.

    Parameters
    ----------
    pattern
        Any matrix with the sparsity pattern of the matrices to factor (values are ignored;
        explicitly stored zeros count as part of the pattern).
    mode
        CHOLMOD factorization kind: ``"auto"`` (CHOLMOD decides from the flop count),
        ``"supernodal"`` (dense blocks, BLAS; best for large MME) or ``"simplicial"``.
    ordering
        Fill-reducing ordering: ``"default"`` (AMD, METIS when AMD fills badly), ``"amd"``,
        ``"metis"``, ``"nesdis"``, ``"best"`` (tries several; slow analysis) or ``"natural"``.

    Example
    -------
    >>> chol = SparseCholesky(lhs).factorize(lhs)        # doctest: +SKIP
    >>> x, logdet = chol.solve(rhs), chol.logdet()      # doctest: +SKIP
    """

    def __init__(
        self,
        pattern: sp.spmatrix,
        *,
        mode: FactorMode = "auto",
        ordering: Ordering = "default",
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if ordering not in _ORDERINGS:
            raise ValueError(f"ordering must be one of {_ORDERINGS}, got {ordering!r}")
        csc = _as_square_csc(pattern, "pattern")
        indptr, indices, n_upper = _lower_pattern(csc)
        _check_structurally_symmetric(csc, n_upper, "pattern")
        self._n = int(csc.shape[0])
        self._lower_indptr = indptr
        self._lower_indices = indices
        self._full_indptr = csc.indptr.copy()  # fast path of the pattern check in factorize
        self._full_indices = csc.indices.copy()
        start = time.perf_counter()
        try:
            self._factor = cholmod.analyze(csc, mode=mode, ordering_method=ordering)
        except (cholmod.CholmodTooLargeError, cholmod.CholmodOutOfMemoryError) as exc:
            raise self._too_large_error(csc, exc) from None
        self._perm = np.asarray(self._factor.P(), dtype=np.int64).copy()
        self._factorized = False
        # Pattern of L (fixed for the analysed pattern) and its supernodes, filled on first use.
        self._l_indptr: np.ndarray | None = None
        self._l_indices: np.ndarray | None = None
        self._supernodes: np.ndarray | None = None
        self._zdata: np.ndarray | None = None  # selected inverse on the pattern of L (permuted)
        _LOG.debug(
            "analysed %d x %d pattern (%d stored entries, mode=%s, ordering=%s) in %.2f s",
            self._n, self._n, csc.nnz, mode, ordering, time.perf_counter() - start,
        )

    # ---------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Order of the matrix (number of unknowns)."""
        return self._n

    @property
    def permutation(self) -> np.ndarray:
        """Fill-reducing permutation P (length n): row k of the factor is original row P[k]."""
        return self._perm.copy()

    @property
    def factor_nnz(self) -> int:
        """Stored entries of L (lower triangle incl. diagonal and supernodal padding).

        Requires a factorization; extracts the factor once (the pattern is then cached)."""
        self._require_factor()
        if self._l_indptr is None:
            self._extract_factor()
        assert self._l_indptr is not None
        return int(self._l_indptr[-1])

    # ---------------------------------------------------------------------------------------
    def factorize(self, matrix: sp.spmatrix) -> SparseCholesky:
        """Numeric factorization of ``matrix`` (n × n, pattern inside the analysed one).

        Returns ``self``. Raises `henderson.errors.NumericalError` naming the original row at
        which elimination met a pivot ≤ 0 when ``matrix`` is not positive definite, and
        ValueError when ``matrix`` has entries outside the analysed pattern.
        """
        csc = _as_square_csc(matrix, "matrix")
        if csc.shape[0] != self._n:
            raise ValueError(
                f"matrix is {csc.shape[0]} x {csc.shape[0]}; analysed {self._n} x {self._n}"
            )
        self._check_pattern(csc)
        self._factorized = False
        self._zdata = None
        start = time.perf_counter()
        try:
            self._factor.cholesky_inplace(csc)
        except cholmod.CholmodNotPositiveDefiniteError:
            raise self._not_positive_definite(csc) from None
        except (cholmod.CholmodTooLargeError, cholmod.CholmodOutOfMemoryError) as exc:
            raise self._too_large_error(csc, exc) from None
        pivots = np.asarray(self._factor.D())
        bad = np.flatnonzero(~(pivots > 0.0))  # also catches NaN
        if bad.size:
            # Simplicial LDL' does not stop at a negative pivot; the first one marks the failure.
            raise self._pd_error(int(self._perm[bad[0]]), float(pivots[bad[0]]))
        self._factorized = True
        _LOG.debug(
            "factorized %d x %d matrix in %.2f s", self._n, self._n, time.perf_counter() - start
        )
        return self

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """x = A⁻¹ rhs for rhs of shape (n,) or (n, k); the result has the shape of rhs."""
        self._require_factor()
        b = np.asarray(rhs, dtype=np.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self._n:
            raise ValueError(f"rhs must have shape ({self._n},) or ({self._n}, k), got {b.shape}")
        if b.ndim == 2 and b.shape[1] == 0:
            return np.empty_like(b)
        x = np.asarray(self._factor.solve_A(b))
        return x.reshape(b.shape)

    def logdet(self) -> float:
        """log|A| = Σ_k log d_k over the pivots of the factorization (natural log)."""
        self._require_factor()
        return float(np.sum(np.log(np.asarray(self._factor.D()))))

    def selected_inverse(self) -> sp.csc_matrix:
        """Entries of A⁻¹ on the pattern of L + L', mapped back to the original ordering.

        Symmetric n × n ``csc_matrix`` with sorted row indices; its pattern contains every
        structural entry of A (and the fill of the factor). Entries outside the pattern are not
        zero in A⁻¹, they are simply not computed. Cost: a few times that of the factorization.
        """
        zdata = self._selected_inverse_data()
        assert self._l_indptr is not None and self._l_indices is not None
        start = time.perf_counter()
        ptr, idx, val = _expand_symmetric(self._l_indptr, self._l_indices, zdata, self._perm)
        if ptr[-1] <= np.iinfo(np.int32).max:
            ptr = ptr.astype(np.int32)
        else:
            idx = idx.astype(np.int64)
        out = sp.csc_matrix((val, idx, ptr), shape=(self._n, self._n))
        out.has_sorted_indices = True
        _LOG.debug(
            "expanded selected inverse (%d entries) in %.2f s", out.nnz, time.perf_counter() - start
        )
        return out

    def inverse_diagonal(self) -> np.ndarray:
        """diag(A⁻¹) in the original order (length n), from the selected inverse."""
        zdata = self._selected_inverse_data()
        assert self._l_indptr is not None
        out = np.empty(self._n)
        out[self._perm] = zdata[self._l_indptr[:-1]]  # the diagonal heads every column of L
        return out

    # ---------------------------------------------------------------------------------------
    def _require_factor(self) -> None:
        if not self._factorized:
            raise RuntimeError("call factorize() with a positive definite matrix first")

    def _check_pattern(self, csc: sp.csc_matrix) -> None:
        if np.array_equal(csc.indptr, self._full_indptr) and np.array_equal(
            csc.indices, self._full_indices
        ):
            return
        indptr, indices, n_upper = _lower_pattern(csc)
        _check_structurally_symmetric(csc, n_upper, "matrix")
        if np.array_equal(indptr, self._lower_indptr) and np.array_equal(
            indices, self._lower_indices
        ):
            return
        n = self._n
        new = sp.csc_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
        old = sp.csc_matrix(
            (np.ones(self._lower_indices.size), self._lower_indices, self._lower_indptr),
            shape=(n, n),
        )
        extra = (new + old).nnz - old.nnz
        if extra:
            raise ValueError(
                f"matrix has {extra} entries (lower triangle) outside the analysed pattern; "
                "create a new SparseCholesky for a new pattern"
            )

    def _pd_error(self, row: int | None, pivot: float | None) -> NumericalError:
        where = (
            f"elimination met pivot {pivot:.6g} at row {row} (0-based, original order)"
            if row is not None
            else "CHOLMOD reported a pivot <= 0"
        )
        return NumericalError(
            f"The {self._n} x {self._n} coefficient matrix is not positive definite: {where}. "
            "The equations are singular or indefinite at or before that unknown: check that the "
            "effect level it belongs to has records, that no design columns are linearly dependent "
            "(e.g. an intercept plus every level of a factor), and that every variance component "
            "is positive."
        )

    def _too_large_error(self, csc: sp.csc_matrix, exc: Exception) -> NumericalError:
        return NumericalError(
            f"The {csc.shape[0]} x {csc.shape[0]} coefficient matrix ({csc.nnz} stored entries) "
            f"is too large to factor on this machine ({exc}). Use the iterative solver (pcg) for "
            "the solutions, or run on a machine with more memory."
        )

    def _not_positive_definite(self, csc: sp.csc_matrix) -> NumericalError:
        """Locate the failing pivot after CHOLMOD's supernodal LL' refused the matrix.

        The supernodal error does not say where; an LDL' factorization in the same order does
        not stop at negative pivots, and its first pivot ≤ 0 is the failing one (pivot k is
        det(A_k)/det(A_{k-1}) of the leading blocks in that order).
        """
        perm = self._perm
        permuted = sp.csc_matrix(csc[perm, :][:, perm])
        permuted.sort_indices()
        diag = cholmod.analyze(permuted, mode="simplicial", ordering_method="natural")
        try:
            diag.cholesky_inplace(permuted)
        except cholmod.CholmodError:
            pass  # a zero pivot also raises; the pivots up to it are still there
        try:
            pivots = np.asarray(diag.D())
        except cholmod.CholmodError:
            return self._pd_error(None, None)
        inner = np.asarray(diag.P(), dtype=np.int64)
        bad = np.flatnonzero(~(pivots > 0.0))
        if not bad.size:
            return self._pd_error(None, None)
        k = int(bad[0])
        return self._pd_error(int(perm[inner[k]]), float(pivots[k]))

    def _extract_factor(self) -> np.ndarray:
        """Values of L (LL' form, permuted order); caches the pattern and supernodes of L."""
        lfac = self._factor.L()  # a converted copy; the factor itself keeps its form
        if not lfac.has_sorted_indices:
            lfac.sort_indices()
        indptr = lfac.indptr.astype(np.int64)
        indices = lfac.indices.astype(np.int32)
        if (
            self._l_indptr is None
            or not np.array_equal(indptr, self._l_indptr)
            or not np.array_equal(indices, self._l_indices)
        ):
            if not np.array_equal(indices[indptr[:-1]], np.arange(self._n, dtype=np.int32)):
                raise RuntimeError("CHOLMOD factor columns do not start with their diagonal")
            self._l_indptr = indptr
            self._l_indices = indices
            self._supernodes = _find_supernodes(indptr, indices)
        return np.asarray(lfac.data, dtype=np.float64)

    def _selected_inverse_data(self) -> np.ndarray:
        self._require_factor()
        if self._zdata is None:
            start = time.perf_counter()
            ldata = self._extract_factor()
            assert self._l_indices is not None and self._supernodes is not None
            # The kernel makes many small BLAS calls (one set per supernode): threaded BLAS only
            # adds synchronisation, and on a loaded machine it is 10-1000x slower.
            with threadpool_limits(limits=1, user_api="blas"):
                zdata, status = _takahashi(self._l_indptr, self._l_indices, ldata, self._supernodes)
            if status > 0:
                raise RuntimeError(
                    f"factor pattern is not closed under elimination at column {status - 1}"
                )
            if status < 0 or not np.all(np.isfinite(zdata)):
                raise NumericalError(
                    f"The selected inverse of the {self._n} x {self._n} coefficient matrix "
                    "overflowed; the matrix is numerically singular. Check the model for "
                    "dependent effects or tiny variance ratios."
                )
            self._zdata = zdata
            _LOG.debug(
                "selected inverse: %d factor entries, %d supernodes, %.2f s",
                ldata.size, self._supernodes.size - 1, time.perf_counter() - start,
            )
        return self._zdata


# --------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------
def trace_of_product(selected_inverse: sp.csc_matrix, B: sp.spmatrix) -> float:
    """tr(A⁻¹ B) = Σ_ij (A⁻¹)_ij B_ji for B whose pattern lies inside the selected inverse's.

    ``selected_inverse`` is the output of `SparseCholesky.selected_inverse` (symmetric, n × n).
    Because A⁻¹ is symmetric, Σ_ij (A⁻¹)_ij B_ji = Σ_ij (A⁻¹)_ij B_ij, so B need not itself be
    symmetric. Explicitly stored zeros of B are ignored. Raises ValueError when a nonzero of B
    falls outside the selected pattern (those entries of A⁻¹ were not computed).
    """
    z = selected_inverse
    if not sp.issparse(z) or z.format != "csc":
        raise TypeError("selected_inverse must be the csc_matrix returned by selected_inverse()")
    if not sp.issparse(B):
        raise TypeError(f"B must be a scipy sparse matrix, got {type(B).__name__}")
    if B.shape != z.shape:
        raise ValueError(f"B has shape {B.shape}, the selected inverse {z.shape}")
    if not z.has_sorted_indices:
        z = z.sorted_indices()
    b = sp.csc_matrix(B, dtype=np.float64)
    if not b.has_canonical_format:
        b = b.copy()
        b.sum_duplicates()
    total, row, col = _trace_kernel(
        z.indptr.astype(np.int64, copy=False), z.indices, z.data,
        b.indptr.astype(np.int64, copy=False), b.indices, b.data,
    )
    if row >= 0:
        raise ValueError(
            f"B has a nonzero at ({row}, {col}) outside the pattern of the selected inverse; "
            "tr(A⁻¹ B) needs B inside the pattern of A (or of L + L')"
        )
    return float(total)


# --------------------------------------------------------------------------------------------
# Preconditioned conjugate gradients
# --------------------------------------------------------------------------------------------
class PCGResult(NamedTuple):
    """Solution, iterations used and relative residual ‖rhs − A x‖₂ / ‖rhs‖₂ of the solution."""

    x: np.ndarray
    iterations: int
    residual_norm: float


def pcg(
    matvec: Callable[[np.ndarray], np.ndarray] | sp.spmatrix,
    rhs: np.ndarray,
    *,
    precond_diag: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    log_every: int = 100,
) -> PCGResult:
    """Jacobi-preconditioned conjugate gradients (for systems too large to factor).

    Solves A x = rhs for symmetric positive definite A given as ``matvec(v) = A v`` (or a sparse
    matrix), rhs of shape (n,), with preconditioner M = diag(precond_diag) (usually diag(A)).
    Iterates from x = 0 until the recursively updated residual satisfies
    ‖r‖₂ ≤ tol · ‖rhs‖₂. Returns ``PCGResult(x, iterations, residual_norm)`` (unpacks as a
    tuple), where residual_norm is the relative residual recomputed from x at the end (one extra
    product). Raises `henderson.errors.NumericalError` when pᵀAp ≤ 0 (A not positive definite)
    or when ``max_iter`` iterations do not reach ``tol``.
    """
    apply = (lambda v: matvec @ v) if sp.issparse(matvec) else matvec
    b = np.asarray(rhs, dtype=np.float64)
    if b.ndim != 1:
        raise ValueError(f"rhs must have shape (n,), got {b.shape}")
    n = b.shape[0]
    diag = np.asarray(precond_diag, dtype=np.float64)
    if diag.shape != (n,):
        raise ValueError(f"precond_diag must have shape ({n},), got {diag.shape}")
    bad = np.flatnonzero(~(diag > 0.0) | ~np.isfinite(diag))
    if bad.size:
        raise NumericalError(
            f"The preconditioner diagonal is {diag[bad[0]]!r} at row {int(bad[0])} (0-based); a "
            "positive definite system has a positive diagonal. Check the equation of that "
            "unknown (an effect level without records, or a non-positive variance)."
        )
    if tol <= 0 or max_iter < 1:
        raise ValueError("tol must be > 0 and max_iter >= 1")
    bnorm = float(np.linalg.norm(b))
    x = np.zeros(n)
    if bnorm == 0.0:
        return PCGResult(x, 0, 0.0)
    inv_diag = 1.0 / diag
    r = b.copy()
    z = inv_diag * r
    p = z.copy()
    rz = float(r @ z)
    start = time.perf_counter()
    rel = 1.0
    iterations = 0
    converged = False
    for iterations in range(1, max_iter + 1):
        q = np.asarray(apply(p), dtype=np.float64).reshape(n)
        pq = float(p @ q)
        if not pq > 0.0:
            raise NumericalError(
                f"Conjugate gradients met a direction with p'Ap = {pq:.6g} <= 0 at iteration "
                f"{iterations}: the {n} x {n} coefficient matrix is not positive definite. Check "
                "the model for dependent effects and every variance component for positivity."
            )
        alpha = rz / pq
        x += alpha * p
        r -= alpha * q
        rel = float(np.linalg.norm(r)) / bnorm
        if log_every and iterations % log_every == 0:
            _LOG.info("pcg: iteration %d, relative residual %.3e, %.1f s",
                      iterations, rel, time.perf_counter() - start)
        if rel <= tol:
            converged = True
            break
        z = inv_diag * r
        rz_new = float(r @ z)
        p *= rz_new / rz
        p += z
        rz = rz_new
    true_rel = float(np.linalg.norm(b - np.asarray(apply(x), dtype=np.float64).reshape(n))) / bnorm
    if not converged:
        raise NumericalError(
            f"Conjugate gradients did not converge in {max_iter} iterations for the {n} x {n} "
            f"system (relative residual {rel:.3e}, tolerance {tol:.1e}). Raise max_iter or tol, "
            "or check the model for nearly dependent effects."
        )
    _LOG.info("pcg: converged in %d iterations, relative residual %.3e, %.1f s",
              iterations, true_rel, time.perf_counter() - start)
    return PCGResult(x, iterations, true_rel)
