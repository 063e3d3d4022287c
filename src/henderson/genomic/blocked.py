"""Blocked (tiled) Cholesky factor and inverse of a large dense SPD matrix, in place.

OpenBLAS's own multithreaded potrf/potri has crashed (SIGSEGV) on matrices of about 30,000 and
more with 2 threads (OpenMathLib/OpenBLAS#2562, #1413: inside the threaded rank-k update it
schedules itself). Here the same LAPACK algorithms run tile by tile in Python, each step one BLAS
level-3 call on sub-blocks addressed with the leading dimension (no copies), the diagonal tiles
by LAPACK on nb × nb:

* factor (right-looking): for each block column k, L_kk = chol(A_kk) (potrf), L_ik = A_ik L_kk⁻ᵀ
  (trsm), then the trailing A_ij −= L_ik L_jkᵀ one tile column at a time (gemm);
* inverse of L, in place (LAPACK's dtrtri, lower, blocked, from the last block column back):
  with the block below already inverted, L⁻¹_(below, j) = −L⁻¹_below L_(below, j) L_jj⁻¹ (trmm,
  trsm), L_jj⁻¹ by trtri;
* M⁻¹ = L⁻ᵀ L⁻¹, lower triangle, in place (LAPACK's dlauum, lower, blocked): per block row i,
  trmm with L⁻¹_iiᵀ, lauum of the diagonal tile, gemm and syrk with the rows below.

The BLAS and LAPACK are scipy's (its Cython API, called through ctypes with pointers into the
array): the same library, with its threads, on calls of at most nb columns.
"""

from __future__ import annotations

import ctypes

import numpy as np
import scipy.linalg.cython_blas as _blas
import scipy.linalg.cython_lapack as _lapack

__all__ = ["TILE", "blocked_cholesky", "blocked_inverse"]

#: Tile size (columns per block step).
TILE = 2048

_C = ctypes.c_char_p
_I = ctypes.POINTER(ctypes.c_int)
_S = ctypes.POINTER(ctypes.c_double)  # a scalar (alpha, beta)
_D = ctypes.c_void_p  # double *, an address inside the array


def _function(module, name: str, argtypes: list) -> ctypes._CFuncPtr:
    capsule = module.__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.CFUNCTYPE(None, *argtypes)(get_pointer(capsule, get_name(capsule)))


_DGEMM = _function(_blas, "dgemm", [_C, _C, _I, _I, _I, _S, _D, _I, _D, _I, _S, _D, _I])
_DSYRK = _function(_blas, "dsyrk", [_C, _C, _I, _I, _S, _D, _I, _S, _D, _I])
_DTRSM = _function(_blas, "dtrsm", [_C, _C, _C, _C, _I, _I, _S, _D, _I, _D, _I])
_DTRMM = _function(_blas, "dtrmm", [_C, _C, _C, _C, _I, _I, _S, _D, _I, _D, _I])
_DPOTRF = _function(_lapack, "dpotrf", [_C, _I, _D, _I, _I])
_DTRTRI = _function(_lapack, "dtrtri", [_C, _C, _I, _D, _I, _I])
_DLAUUM = _function(_lapack, "dlauum", [_C, _I, _D, _I, _I])


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _scalar(v: float):
    return ctypes.byref(ctypes.c_double(v))


class _Tiles:
    """Addresses of sub-blocks of a Fortran-order float64 matrix (leading dimension n)."""

    def __init__(self, a: np.ndarray) -> None:
        if a.dtype != np.float64 or not a.flags.f_contiguous or a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError("the blocked Cholesky needs a square float64 matrix in Fortran order.")
        self.base = a.ctypes.data
        self.n = a.shape[0]
        self.ld = _int(self.n)

    def at(self, i: int, j: int) -> ctypes.c_void_p:
        return ctypes.c_void_p(self.base + 8 * (i + j * self.n))


def blocked_cholesky(a: np.ndarray, tile: int = TILE) -> int:
    """L with A = L L' into the lower triangle of `a` (n × n, float64, Fortran order), in place;
    the strict upper triangle is left with scratch values. Returns LAPACK's info: 0, or the
    1-based row whose pivot was not positive."""
    t = _Tiles(a)
    n, ld = t.n, t.ld
    one, minus = _scalar(1.0), _scalar(-1.0)
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
        for j in range(below, n, tile):  # trailing update, one tile column at a time (lower part)
            jb = min(tile, n - j)
            _DGEMM(b"N", b"T", _int(n - j), _int(jb), _int(kb), minus, t.at(j, k), ld, t.at(j, k), ld, one,
                   t.at(j, j), ld)
    return 0


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
            _DTRMM(b"L", b"L", b"N", b"N", _int(n - below), _int(jb), one, t.at(below, below), ld, t.at(below, j), ld)
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
        if below < n:
            if i:
                _DGEMM(b"T", b"N", _int(ib), _int(i), _int(n - below), one, t.at(below, i), ld, t.at(below, 0), ld,
                       one, t.at(i, 0), ld)
            _DSYRK(b"L", b"T", _int(ib), _int(n - below), one, t.at(below, i), ld, one, t.at(i, i), ld)
    return 0
