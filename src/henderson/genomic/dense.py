"""Dense symmetric positive definite matrices: inverse and log-determinant from one Cholesky
factor (LAPACK potrf + potri), in place when asked. Never an explicit inverse of a matrix that
is not positive definite: the factorisation fails first and the error names the remedy.

Above BLOCKED_SIZE rows (double precision) the same factor and inverse run tile by tile
(:mod:`henderson.genomic.blocked`): OpenBLAS's own threaded potrf crashed at 30,000 rows."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from henderson.errors import NumericalError
from henderson.genomic.blocked import blocked_cholesky, blocked_inverse

__all__ = ["BLOCKED_SIZE", "SINGULAR", "cholesky_inverse", "cholesky_logdet", "mirror_lower"]

#: A Cholesky pivot below SINGULAR × the largest diagonal entry marks the matrix as singular.
SINGULAR = 1e-10
#: Matrices (double precision) with more rows than this are factored and inverted tile by tile.
BLOCKED_SIZE = 16_384


def _blocked(a: np.ndarray) -> bool:
    return a.dtype == np.float64 and a.shape[0] > BLOCKED_SIZE


def _factor(matrix: np.ndarray, what: str, remedy: str, overwrite: bool) -> np.ndarray:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{what} must be square; got {matrix.shape}.")
    potrf = lapack.spotrf if matrix.dtype == np.float32 else lapack.dpotrf
    scale = float(np.max(np.abs(np.diagonal(matrix)))) if matrix.shape[0] else 1.0  # before an in-place factor
    a = matrix if overwrite and matrix.flags.f_contiguous else np.asfortranarray(matrix) if overwrite else np.array(matrix, order="F")
    if _blocked(a):
        c, info = a, blocked_cholesky(a)
    else:
        c, info = potrf(a, lower=1, overwrite_a=1, clean=0)
    if info > 0:
        raise NumericalError(
            f"{what} ({matrix.shape[0]} × {matrix.shape[0]}) is not positive definite (Cholesky failed at "
            f"row {info - 1}, 0-based). {remedy}"
        )
    if info < 0:
        raise ValueError(f"LAPACK potrf: illegal argument {-info}.")
    pivots = np.diagonal(c).astype(np.float64) ** 2
    low = np.flatnonzero(pivots <= SINGULAR * scale)
    if low.size:  # a singular PSD matrix can pass potrf with rounding-sized pivots
        raise NumericalError(
            f"{what} ({matrix.shape[0]} × {matrix.shape[0]}) is singular to working precision (Cholesky pivot "
            f"{pivots[low[0]]:.3g} at row {low[0]}, 0-based, against a largest diagonal of {scale:.3g}). {remedy}"
        )
    return c


def _logdet_of_factor(c: np.ndarray) -> float:
    return float(2.0 * np.sum(np.log(np.diagonal(c).astype(np.float64))))


def cholesky_logdet(matrix: np.ndarray, *, what: str = "matrix", remedy: str = "") -> float:
    """log|M| of a symmetric positive definite M (n × n; a copy is factored)."""
    return _logdet_of_factor(_factor(matrix, what, remedy, overwrite=False))


def cholesky_inverse(
    matrix: np.ndarray, *, what: str = "matrix", remedy: str = "", overwrite: bool = False
) -> tuple[np.ndarray, float]:
    """(M⁻¹, log|M|) of a symmetric positive definite M (n × n) from M = L L': potrf then potri.
    With `overwrite` (and M in Fortran order, or any symmetric M whose transpose is Fortran) the
    inverse takes M's memory. Raises NumericalError (with `remedy`) when M is not PD."""
    if overwrite and not matrix.flags.f_contiguous and matrix.flags.c_contiguous:
        matrix = matrix.T  # symmetric: its transpose is the same matrix in Fortran order
    c = _factor(matrix, what, remedy, overwrite)
    logdet = _logdet_of_factor(c)
    potri = lapack.spotri if c.dtype == np.float32 else lapack.dpotri
    inv, info = (c, blocked_inverse(c)) if _blocked(c) else potri(c, lower=1, overwrite_c=1)
    if info != 0:
        raise NumericalError(f"{what}: the inverse from its Cholesky factor failed (LAPACK info {info}).")
    mirror_lower(inv)
    return inv, logdet


def mirror_lower(m: np.ndarray, rows: int = 256) -> None:
    """Lower triangle onto the upper one, in place, `rows` rows at a time (temporaries of
    `rows` × n entries: no index arrays of the triangle)."""
    n = m.shape[0]
    upper = np.triu(np.ones((rows, rows), dtype=bool), 1)
    for i in range(0, n, rows):
        k = min(i + rows, n)
        blk = m[i:k, i:k]
        np.copyto(blk, blk.T, where=upper[: k - i, : k - i])
        if k < n:
            m[i:k, k:] = m[k:, i:k].T
