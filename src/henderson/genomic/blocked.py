"""Blocked (tiled) products, Cholesky factor and inverse of large dense symmetric matrices, in place.

OpenBLAS's threaded rank-k update (syrk) crashes (SIGSEGV) on a 30,000 × 30,000 double
matrix with 2 threads: a single dsyrk with k = 1,118 does (VanRaden's G), and so does LAPACK's
potrf, which calls it on the trailing matrix (see benchmarks/README.md; OpenMathLib/OpenBLAS#2562,
#1413 report the same at 32,768 with 2 threads). Here every step is one BLAS call on a tile
column of at most `tile` columns, addressed with the leading dimension (no copies), and no syrk
on the large matrix; the LAPACK algorithms are those of potrf, trtri and lauum (lower, blocked):

* ``lower_rank_update``: lower(C) += A A' one tile column at a time (gemm), for G = ZZ'/s;
* ``blocked_cholesky`` (right-looking): for each block column k, L_kk = chol(A_kk) (potrf),
  L_ik = A_ik L_kk⁻ᵀ (trsm), then the trailing lower(A) −= L_·k L_·k' (``lower_rank_update``);
* ``blocked_inverse``: L ← L⁻¹ from the last block column back (dtrtri: with the block below
  already inverted, L⁻¹_(below, j) = −L⁻¹_below L_(below, j) L_jj⁻¹ by trmm tile by tile and trsm;
  L_jj⁻¹ by trtri), then M⁻¹ = L⁻ᵀ L⁻¹ in the lower triangle (dlauum: per block row i, trmm with
  L⁻¹_iiᵀ, lauum of the diagonal tile, gemm with the rows below).

The BLAS and LAPACK are scipy's (its Cython API, called through ctypes with pointers into the
arrays): the same library and threads, on calls whose operands span at most n × tile entries.
The strict upper triangle is scratch; callers mirror the lower one.
"""

from __future__ import annotations

import ctypes

import numpy as np
import scipy.linalg.cython_blas as _blas
import scipy.linalg.cython_lapack as _lapack

__all__ = ["TILE", "blocked_cholesky", "blocked_inverse", "lower_rank_update"]

#: Tile size (columns per block step).
TILE = 2048

_C = ctypes.c_char_p
_I = ctypes.POINTER(ctypes.c_int)
_S = ctypes.POINTER(ctypes.c_double)  # a scalar (alpha, beta)
_F = ctypes.POINTER(ctypes.c_float)
_D = ctypes.c_void_p  # an address inside an array


def _function(module, name: str, argtypes: list) -> ctypes._CFuncPtr:
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.CFUNCTYPE(None, *argtypes)(get_pointer(capsule, get_name(capsule)))


_DGEMM = _function(_blas, "dgemm", [_C, _C, _I, _I, _I, _S, _D, _I, _D, _I, _S, _D, _I])
_SGEMM = _function(_blas, "sgemm", [_C, _C, _I, _I, _I, _F, _D, _I, _D, _I, _F, _D, _I])
_DTRSM = _function(_blas, "dtrsm", [_C, _C, _C, _C, _I, _I, _S, _D, _I, _D, _I])
_DTRMM = _function(_blas, "dtrmm", [_C, _C, _C, _C, _I, _I, _S, _D, _I, _D, _I])
_DPOTRF = _function(_lapack, "dpotrf", [_C, _I, _D, _I, _I])
_DTRTRI = _function(_lapack, "dtrtri", [_C, _C, _I, _D, _I, _I])
_DLAUUM = _function(_lapack, "dlauum", [_C, _I, _D, _I, _I])


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _scalar(v: float, single: bool = False):
    return ctypes.byref(ctypes.c_float(v) if single else ctypes.c_double(v))


class _Tiles:
    """Addresses of sub-blocks of a Fortran-order matrix (leading dimension: its rows)."""

    def __init__(self, a: np.ndarray, square: bool = True, dtypes: tuple = (np.float64,)) -> None:
        if a.dtype not in dtypes or not a.flags.f_contiguous or a.ndim != 2 or (square and a.shape[0] != a.shape[1]):
            raise ValueError(f"the blocked routines need a{' square' if square else ''} {' or '.join(np.dtype(d).name for d in dtypes)} "
                             "matrix in Fortran order.")
        self.base = a.ctypes.data
        self.size = a.itemsize
        self.n = a.shape[0]
        self.ld = _int(self.n)

    def at(self, i: int, j: int) -> ctypes.c_void_p:
        return ctypes.c_void_p(self.base + self.size * (i + j * self.n))


def lower_rank_update(c: np.ndarray, a: np.ndarray, *, alpha: float = 1.0, columns: tuple[int, int] | None = None,
                      tile: int = TILE) -> None:
    """lower(C) += α A A' in place, C (n × n) and A (n × k), both Fortran order, float64 or both
    float32 (the strict upper triangle of C's diagonal tiles gets scratch values). `columns`:
    (first, last) columns of A to use (default all)."""
    tc = _Tiles(c, dtypes=(np.float64, np.float32))
    ta = _Tiles(a, square=False, dtypes=(c.dtype.type,))
    if a.shape[0] != c.shape[0]:
        raise ValueError(f"A has {a.shape[0]} rows; C is {c.shape[0]} × {c.shape[0]}.")
    first, last = (0, a.shape[1]) if columns is None else columns
    k = last - first
    if k <= 0:
        return
    single = c.dtype == np.float32
    gemm = _SGEMM if single else _DGEMM
    one, scale = _scalar(1.0, single), _scalar(alpha, single)
    n = tc.n
    for j in range(0, n, tile):
        jb = min(tile, n - j)
        gemm(b"N", b"T", _int(n - j), _int(jb), _int(k), scale, ta.at(j, first), ta.ld, ta.at(j, first), ta.ld, one,
             tc.at(j, j), tc.ld)


def blocked_cholesky(a: np.ndarray, tile: int = TILE) -> int:
    """L with A = L L' into the lower triangle of `a` (n × n, float64, Fortran order), in place;
    the strict upper triangle is left with scratch values. Returns LAPACK's info: 0, or the
    1-based row whose pivot was not positive."""
    t = _Tiles(a)
    n, ld = t.n, t.ld
    one = _scalar(1.0)
    info = ctypes.c_int(0)
    for k in range(0, n, tile):
        kb = min(tile, n - k)
        _DPOTRF(b"L", _int(kb), t.at(k, k), ld, ctypes.byref(info))
        if info.value:
            return k + info.value
        rest = n - k - kb
        if not rest:
            break
        below = k + kb
        # L_ik = A_ik L_kk⁻ᵀ for the rows below the tile
        _DTRSM(b"R", b"L", b"T", b"N", _int(rest), _int(kb), one, t.at(k, k), ld, t.at(below, k), ld)
        _trailing_update(t, below, k, kb, tile)
    return 0


def _trailing_update(t: _Tiles, below: int, k: int, kb: int, tile: int) -> None:
    """lower(A[below:, below:]) −= A[below:, k:k+kb] A[below:, k:k+kb]' tile column by column."""
    one, minus = _scalar(1.0), _scalar(-1.0)
    for j in range(below, t.n, tile):
        jb = min(tile, t.n - j)
        _DGEMM(b"N", b"T", _int(t.n - j), _int(jb), _int(kb), minus, t.at(j, k), t.ld, t.at(j, k), t.ld, one,
               t.at(j, j), t.ld)


def blocked_inverse(a: np.ndarray, tile: int = TILE) -> int:
    """From L in the lower triangle of `a` (:func:`blocked_cholesky`), (L L')⁻¹ into the lower
    triangle, in place. Returns LAPACK's info (0; > 0: a zero diagonal entry of L)."""
    t = _Tiles(a)
    n, ld = t.n, t.ld
    one, minus = _scalar(1.0), _scalar(-1.0)
    info = ctypes.c_int(0)
    starts = list(range(0, n, tile))
    for j in reversed(starts):  # L ← L⁻¹ (dtrtri, lower)
        jb = min(tile, n - j)
        below = j + jb
        if below < n:
            _lower_times(t, below, j, jb, tile)
            _DTRSM(b"R", b"L", b"N", b"N", _int(n - below), _int(jb), minus, t.at(j, j), ld, t.at(below, j), ld)
        _DTRTRI(b"L", b"N", _int(jb), t.at(j, j), ld, ctypes.byref(info))
        if info.value:
            return j + info.value
    for i in starts:  # L⁻ᵀ L⁻¹ (dlauum, lower)
        ib = min(tile, n - i)
        below = i + ib
        if i:
            _DTRMM(b"L", b"L", b"T", b"N", _int(ib), _int(i), one, t.at(i, i), ld, t.at(i, 0), ld)
        _DLAUUM(b"L", _int(ib), t.at(i, i), ld, ctypes.byref(info))
        if below < n:  # A(i, 0:i+ib) += A(below:, i:i+ib)' A(below:, 0:i+ib), the diagonal tile included
            _DGEMM(b"T", b"N", _int(ib), _int(below), _int(n - below), one, t.at(below, i), ld, t.at(below, 0), ld,
                   one, t.at(i, 0), ld)
    return 0


def _lower_times(t: _Tiles, below: int, j: int, jb: int, tile: int) -> None:
    """B ← T B for B = A[below:, j:j+jb] and T the lower triangle of A[below:, below:], by row
    tiles from the bottom up (each tile of T B needs B's tiles above it unchanged): the diagonal
    tile by trmm, the rest by one gemm."""
    one = _scalar(1.0)
    for r in reversed(range(below, t.n, tile)):
        rb = min(tile, t.n - r)
        _DTRMM(b"L", b"L", b"N", b"N", _int(rb), _int(jb), one, t.at(r, r), t.ld, t.at(r, j), t.ld)
        if r > below:
            _DGEMM(b"N", b"N", _int(rb), _int(jb), _int(r - below), one, t.at(r, below), t.ld, t.at(below, j), t.ld,
                   one, t.at(r, j), t.ld)
