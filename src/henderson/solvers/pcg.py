"""The iterative solver: preconditioned conjugate gradients on the assembled C, or on C as an
operator whose dense genomic blocks stay out of the sparse matrix
(:class:`henderson.mme.CoefficientOperator`: each product adds G0⁻¹ ⊗ M x of the blocks; the
preconditioner's blocks add G0⁻¹ diag(M)).

Preconditioner: block diagonal, one block per level of every random term over the term's
components (k × k: 1 for a univariate animal model, t for t traits, 2t with a maternal effect),
taken from C itself, and the diagonal of C for the fixed effects. Several right-hand sides are
solved with one preconditioner; each column starts from a given guess (a warm start) or zero and
stops when ‖r‖ ≤ tol·‖b‖.

It has no log-determinant and no diagonal of C⁻¹. Its traces tr(C⁻¹ M_c) are sampled
(:mod:`henderson.linalg.stochastic`): with `probes` > 0, the same Rademacher probes of `seed` are
solved at every update (blocks of `probe_block` columns, each probe warm-started from its
previous solution, to the relative residual `trace_tolerance`), and `probe_traces` keeps the
per-probe values for the Monte Carlo error.
"""

from __future__ import annotations

import logging
import time

import numba
import numpy as np
import scipy.sparse as sp

from henderson.errors import ConfigError, NumericalError
from henderson.linalg.stochastic import (
    ProbeTraces,
    component_entries,
    probe_products,
    rademacher,
)
from henderson.mme import CoefficientOperator, Equations

__all__ = ["PCGSolver"]

_LOG = logging.getLogger("henderson.solvers")


@numba.njit(parallel=True, cache=True)
def _csr_matmat(indptr, indices, data, x, out):  # pragma: no cover - compiled
    """out = A x for A in CSR (n × n) and x (n, m), rows in parallel (many right-hand sides:
    scipy's product is single-threaded)."""
    n, m = out.shape
    for i in numba.prange(n):
        for j in range(m):
            out[i, j] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            c = indices[k]
            v = data[k]
            for j in range(m):
                out[i, j] += v * x[c, j]


@numba.njit(parallel=True, cache=True)
def _advance(x, r, p, q, alpha):  # pragma: no cover - compiled
    """x += alpha p, r -= alpha q, column by column, in place."""
    n, m = x.shape
    for i in numba.prange(n):
        for j in range(m):
            x[i, j] += alpha[j] * p[i, j]
            r[i, j] -= alpha[j] * q[i, j]


# Below this many entries of x, numpy and scipy (no thread start-up) are faster.
PARALLEL_SIZE = 1 << 20


def _product(lhs: sp.csr_matrix, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """C x for x (N, m)."""
    if x.shape[1] == 1 or x.size < PARALLEL_SIZE:
        return lhs @ x
    out = np.empty_like(x) if out is None else out
    _csr_matmat(lhs.indptr, lhs.indices, lhs.data, np.ascontiguousarray(x), out)
    return out


class PCGSolver:
    """Preconditioned conjugate gradients on C (module docstring); `tol` is the relative
    residual at which a column stops, `max_iter` the cap per column."""

    name = "pcg"
    exact = False
    operator = True
    """It takes C as a :class:`~henderson.mme.CoefficientOperator` (dense blocks kept apart)."""

    def __init__(self, equations: Equations, tol: float = 1e-10, max_iter: int = 10_000, log_every: int = 100,
                 probes: int = 0, seed: int = 0, trace_tolerance: float = 1e-8, probe_block: int = 32) -> None:
        if not tol > 0 or max_iter < 1:
            raise ConfigError(f"pcg: tol must be > 0 and max_iter >= 1, got {tol!r}, {max_iter!r}.")
        if probes < 0 or probe_block < 1 or not trace_tolerance > 0:
            raise ConfigError(f"pcg: probes >= 0, probe_block >= 1 and trace_tolerance > 0 needed, got {probes!r}, "
                              f"{probe_block!r}, {trace_tolerance!r}.")
        self.equations = equations
        self.tol, self.max_iter, self.log_every = float(tol), int(max_iter), int(log_every)
        self.probes, self.seed = int(probes), int(seed)
        self.trace_tolerance, self.probe_block = float(trace_tolerance), int(probe_block)
        self.probe_traces: ProbeTraces | None = None
        self._probe_x: np.ndarray | None = None
        self._entries = None
        self.lhs: sp.csr_matrix | None = None
        self._dense: CoefficientOperator | None = None
        self.guess: np.ndarray | None = None
        self.iterations: list[int] = []
        self.residuals: list[float] = []
        self._blocks: list[tuple[int, int, int, np.ndarray]] = []
        self._fixed_inv = np.zeros(0)

    def update(self, lhs: sp.csc_matrix | CoefficientOperator) -> None:
        """New values of C (a sparse matrix, or the operator with dense blocks): rebuild the
        preconditioner."""
        model = self.equations.model
        self._dense = lhs if isinstance(lhs, CoefficientOperator) and lhs.dense else None
        self.lhs = sp.csr_matrix(lhs.sparse if isinstance(lhs, CoefficientOperator) else lhs)
        diag = self.lhs.diagonal() if self._dense is None else self._dense.diagonal()
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
            for dense, ginv in self._dense.dense if self._dense is not None else ():
                if dense.term == t:
                    block[dense.block.positions] += dense.block.preconditioner_diagonal()[:, None, None] * ginv[None]
            try:
                inverse = np.linalg.inv(block)
            except np.linalg.LinAlgError:
                raise NumericalError(f"pcg: a diagonal block of {term.name} is singular.") from None
            self._blocks.append((lo, k, q, inverse))

    def _times(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """C x for x (N, m), with the dense blocks when C is an operator."""
        y = _product(self.lhs, x, out)
        return y if self._dense is None else self._dense.add_dense(x, y)

    def _precondition(self, r: np.ndarray) -> np.ndarray:
        """M⁻¹r for r (N, m)."""
        out = np.empty_like(r)
        nf = self._fixed_inv.size
        out[:nf] = self._fixed_inv[:, None] * r[:nf]
        for lo, k, q, inverse in self._blocks:
            if k == 1:
                np.multiply(inverse[:, 0, 0][:, None], r[lo : lo + q], out=out[lo : lo + q])
                continue
            seg = r[lo : lo + k * q].reshape(k, q, -1)  # component-major: (k, q, m)
            out[lo : lo + k * q] = np.einsum("jab,bjm->ajm", inverse, seg).reshape(k * q, -1)
        return out

    def solve(self, rhs: np.ndarray, guess: np.ndarray | None = None, tol: float | None = None) -> np.ndarray:
        """C⁻¹B for B (N,) or (N, m), all columns together (one product with C per iteration);
        `guess` (same shape; default: the solver's `guess` attribute for one column, else 0) is
        the starting point; `tol` (default the solver's) the relative residual to reach.
        Iterations and relative residuals per call are kept in `iterations` and `residuals`."""
        if self.lhs is None:
            raise RuntimeError("call update() first")
        tol = self.tol if tol is None else float(tol)
        b = np.asarray(rhs, dtype=float)
        single = b.ndim == 1
        b = b.reshape(b.shape[0], -1)
        if guess is None and single and self.guess is not None and self.guess.shape == (b.shape[0],):
            guess = self.guess
        x = np.zeros_like(b) if guess is None else np.asarray(guess, dtype=float).reshape(b.shape).copy()
        bnorm = np.linalg.norm(b, axis=0)
        bnorm[bnorm == 0] = 1.0
        r = b - self._times(x)
        active = np.linalg.norm(r, axis=0) / bnorm > tol
        z = self._precondition(r)
        p = z.copy()
        rz = np.einsum("ij,ij->j", r, z)
        clock = time.perf_counter()
        it = 0
        q = np.empty_like(p)
        while active.any() and it < self.max_iter:
            it += 1
            q = self._times(p, q)
            pq = np.einsum("ij,ij->j", p, q)
            if np.any(active & ~(pq > 0)):
                raise NumericalError(
                    f"pcg: a search direction with p'Cp <= 0 at iteration {it}: the coefficient matrix is not "
                    "positive definite. Check the model for dependent effects and the variances for positivity."
                )
            alpha = np.where(active, rz / np.where(pq > 0, pq, 1.0), 0.0)
            if x.size < PARALLEL_SIZE:
                x += alpha * p
                r -= alpha * q
            else:
                _advance(x, r, p, q, alpha)
            rel = np.sqrt(np.einsum("ij,ij->j", r, r)) / bnorm
            active &= rel > tol
            if self.log_every and it % self.log_every == 0:
                _LOG.info("pcg: iteration %d, largest relative residual %.3e, %.1f s", it, rel.max(),
                          time.perf_counter() - clock)
            z = self._precondition(r)
            rz_new = np.einsum("ij,ij->j", r, z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
            p *= beta
            p += z
            rz = rz_new
        final = np.linalg.norm(b - self._times(x), axis=0) / bnorm
        if np.any(final > 10 * tol) and it >= self.max_iter:
            raise NumericalError(
                f"pcg: no convergence in {self.max_iter} iterations (relative residual {final.max():.3e}, "
                f"tolerance {tol:.1e}). Raise the iteration cap or check the model for nearly dependent effects."
            )
        self.iterations.append(it)
        self.residuals.append(float(final.max()))
        _LOG.info("pcg: %d right-hand side(s) in %d iterations, relative residual %.3e, %.2f s",
                  b.shape[1], it, final.max(), time.perf_counter() - clock)
        return x[:, 0] if single else x

    def logdet(self) -> None:
        return None

    def traces(self) -> np.ndarray:
        """Hutchinson estimates of tr(C⁻¹ M_c) (components,) from `probes` probes (module
        docstring); the per-probe values are kept in `probe_traces`."""
        if self.probes < 1:
            raise ConfigError(
                "REML needs the traces of C⁻¹; the pcg solver samples them only with probes > 0 (reml: probes: "
                "auto or a number), or use solver: cholesky, or give the variances (estimate: none)."
            )
        if self.lhs is None:
            raise RuntimeError("call update() first")
        if self._entries is None:
            self._entries = component_entries(self.equations)
        n = self.lhs.shape[0]
        old = self._probe_x
        if old is None or old.shape[0] != n:
            old = np.zeros((n, 0))
        x_all = np.empty((n, self.probes))
        samples = []
        clock = time.perf_counter()
        for first in range(0, self.probes, self.probe_block):
            count = min(self.probe_block, self.probes - first)
            z = rademacher(n, first, count, self.seed)
            guess = np.zeros((n, count))
            have = max(0, min(old.shape[1] - first, count))
            if have:
                guess[:, :have] = old[:, first : first + have]
            x = self.solve(z, guess=guess, tol=self.trace_tolerance)
            x_all[:, first : first + count] = x
            sample = probe_products(self._entries, x, z)
            if self.equations.dense_terms:
                sample += self.equations.dense_probe_products(x, z)
            samples.append(sample)
        self._probe_x = x_all
        self.probe_traces = ProbeTraces(np.vstack(samples))
        _LOG.info("pcg: traces from %d probes in %.1f s", self.probes, time.perf_counter() - clock)
        return self.probe_traces.mean

    def inverse_diagonal(self) -> None:
        """No diagonal of C⁻¹ (no PEV): the solutions then have no se or reliability."""
        return
