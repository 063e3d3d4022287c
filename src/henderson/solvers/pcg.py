"""The iterative solver: preconditioned conjugate gradients on the assembled C.

Preconditioner: block diagonal, one block per level of every random term over the term's
components (k × k: 1 for a univariate animal model, t for t traits, 2t with a maternal effect),
taken from C itself, and the diagonal of C for the fixed effects. Several right-hand sides are
solved with one preconditioner; each column starts from a given guess (a warm start) or zero and
stops when ‖r‖ ≤ tol·‖b‖.

It has no log-determinant, no exact traces and no diagonal of C⁻¹: REML and reliabilities need
the sampled and approximated versions of those (not part of this solver).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from henderson.errors import ConfigError, NumericalError
from henderson.mme import Equations

__all__ = ["PCGSolver"]

_LOG = logging.getLogger("henderson.solvers")


class PCGSolver:
    """Preconditioned conjugate gradients on C (module docstring); `tol` is the relative
    residual at which a column stops, `max_iter` the cap per column."""

    name = "pcg"
    exact = False

    def __init__(self, equations: Equations, tol: float = 1e-10, max_iter: int = 10_000, log_every: int = 100) -> None:
        if not tol > 0 or max_iter < 1:
            raise ConfigError(f"pcg: tol must be > 0 and max_iter >= 1, got {tol!r}, {max_iter!r}.")
        self.equations = equations
        self.tol, self.max_iter, self.log_every = float(tol), int(max_iter), int(log_every)
        self.lhs: sp.csr_matrix | None = None
        self.guess: np.ndarray | None = None
        self.iterations: list[int] = []
        self.residuals: list[float] = []
        self._blocks: list[tuple[int, int, int, np.ndarray]] = []
        self._fixed_inv = np.zeros(0)

    def update(self, lhs: sp.csc_matrix) -> None:
        """New values of C: rebuild the preconditioner."""
        model = self.equations.model
        self.lhs = sp.csr_matrix(lhs)
        diag = self.lhs.diagonal()
        n_fixed = int(model.offsets[model.n_traits])
        bad = np.flatnonzero(~(diag > 0))
        if bad.size:
            raise NumericalError(
                f"pcg: the diagonal of the coefficient matrix is {diag[bad[0]]:g} at unknown {int(bad[0])}; a "
                "positive definite system has a positive diagonal. Check for effect levels without records."
            )
        self._fixed_inv = 1.0 / diag[:n_fixed]
        self._blocks = []
        for t, term in enumerate(model.terms):
            k, q = term.k, term.q
            lo = model.block(t, 0)[0]
            block = np.empty((q, k, k))
            for a in range(k):
                for b in range(k):
                    ra, rb = lo + a * q, lo + b * q
                    block[:, a, b] = self.lhs[ra : ra + q, rb : rb + q].diagonal()
            try:
                inverse = np.linalg.inv(block)
            except np.linalg.LinAlgError:
                raise NumericalError(f"pcg: a diagonal block of {term.name} is singular.") from None
            self._blocks.append((lo, k, q, inverse))

    def _precondition(self, r: np.ndarray) -> np.ndarray:
        """M⁻¹r for r (N, m)."""
        out = np.empty_like(r)
        nf = self._fixed_inv.size
        out[:nf] = self._fixed_inv[:, None] * r[:nf]
        for lo, k, q, inverse in self._blocks:
            seg = r[lo : lo + k * q].reshape(k, q, -1)  # component-major: (k, q, m)
            out[lo : lo + k * q] = np.einsum("jab,bjm->ajm", inverse, seg).reshape(k * q, -1)
        return out

    def solve(self, rhs: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
        """C⁻¹B for B (N,) or (N, m), all columns together (one product with C per iteration);
        `guess` (same shape; default: the solver's `guess` attribute for one column, else 0) is
        the starting point. Iterations and relative residuals per call are kept in
        `iterations` and `residuals`."""
        if self.lhs is None:
            raise RuntimeError("call update() first")
        b = np.asarray(rhs, dtype=float)
        single = b.ndim == 1
        b = b.reshape(b.shape[0], -1)
        if guess is None and single and self.guess is not None and self.guess.shape == (b.shape[0],):
            guess = self.guess
        x = np.zeros_like(b) if guess is None else np.asarray(guess, dtype=float).reshape(b.shape).copy()
        bnorm = np.linalg.norm(b, axis=0)
        bnorm[bnorm == 0] = 1.0
        r = b - self.lhs @ x
        active = np.linalg.norm(r, axis=0) / bnorm > self.tol
        z = self._precondition(r)
        p = z.copy()
        rz = np.einsum("ij,ij->j", r, z)
        clock = time.perf_counter()
        it = 0
        while active.any() and it < self.max_iter:
            it += 1
            q = self.lhs @ p
            pq = np.einsum("ij,ij->j", p, q)
            if np.any(active & ~(pq > 0)):
                raise NumericalError(
                    f"pcg: a search direction with p'Cp <= 0 at iteration {it}: the coefficient matrix is not "
                    "positive definite. Check the model for dependent effects and the variances for positivity."
                )
            alpha = np.where(active, rz / np.where(pq > 0, pq, 1.0), 0.0)
            x += alpha * p
            r -= alpha * q
            rel = np.linalg.norm(r, axis=0) / bnorm
            active &= rel > self.tol
            if self.log_every and it % self.log_every == 0:
                _LOG.info("pcg: iteration %d, largest relative residual %.3e, %.1f s", it, rel.max(),
                          time.perf_counter() - clock)
            z = self._precondition(r)
            rz_new = np.einsum("ij,ij->j", r, z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
            p = z + beta * p
            rz = rz_new
        final = np.linalg.norm(b - self.lhs @ x, axis=0) / bnorm
        if np.any(final > 10 * self.tol) and it >= self.max_iter:
            raise NumericalError(
                f"pcg: no convergence in {self.max_iter} iterations (relative residual {final.max():.3e}, "
                f"tolerance {self.tol:.1e}). Raise the iteration cap or check the model for nearly dependent effects."
            )
        self.iterations.append(it)
        self.residuals.append(float(final.max()))
        _LOG.info("pcg: %d right-hand side(s) in %d iterations, relative residual %.3e, %.2f s",
                  b.shape[1], it, final.max(), time.perf_counter() - clock)
        return x[:, 0] if single else x

    def logdet(self) -> None:
        return None

    def traces(self) -> np.ndarray:
        raise ConfigError(
            "REML needs the traces of C⁻¹, which the pcg solver does not compute; use solver: cholesky for "
            "estimate: ai or em, or give the variances (estimate: none)."
        )

    def inverse_diagonal(self) -> None:
        """No diagonal of C⁻¹ (no PEV): the solutions then have no se or reliability."""
        return
