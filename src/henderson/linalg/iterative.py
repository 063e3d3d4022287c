"""Jacobi-preconditioned conjugate gradients, for systems too large to factor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from henderson.errors import NumericalError

_LOG = logging.getLogger("henderson.linalg")

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
