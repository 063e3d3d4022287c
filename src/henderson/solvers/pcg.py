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
previous solution), and `probe_traces` keeps the per-probe values for the Monte Carlo error.

With `forcing` (as Monte Carlo REML runs it), the probes are solved as in an inexact Newton
method: to the relative residual
ε = clip(FORCING · δ, trace_tolerance, LOOSE_TOLERANCE), with δ = max_ij |ΔC_ij| / |C_ij| the
largest relative change of a stored value of C since the previous update (scale-free: the
relative change of the coefficients 1/σ²e, G0⁻¹, ... of its components; LOOSE_TOLERANCE at the
first update).
Far from the REML optimum θ moves by much and the traces need little accuracy; as the steps
shrink, ε falls to `trace_tolerance`, so the evaluations that decide convergence and the Monte
Carlo error are as accurate as that. Solving every probe to 1e-4 moved 100k-animal estimates by
1 % of their Monte Carlo SE (benchmarks/README.md); the forcing keeps the error far below that
at the end.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from henderson.errors import ConfigError, NumericalError
from henderson.linalg import cg_kernels
from henderson.linalg.stochastic import (
    ProbeTraces,
    component_entries,
    probe_products,
    rademacher,
)
from henderson.mme import CoefficientOperator, Equations

__all__ = ["PCGSolver"]

_LOG = logging.getLogger("henderson.solvers")


# Inexact probe solves (module docstring): ε = clip(FORCING · δ, trace_tolerance, LOOSE_TOLERANCE).
FORCING = 0.01
LOOSE_TOLERANCE = 1e-4

# Below this many entries of x, numpy and scipy (no thread start-up) are faster.
PARALLEL_SIZE = 1 << 20


def _product(lhs: sp.csr_matrix, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """C x for x (N, m)."""
    if x.shape[1] == 1 or x.size < PARALLEL_SIZE:
        return lhs @ x
    out = np.empty_like(x) if out is None else out
    return cg_kernels.product(lhs, np.ascontiguousarray(x), out)


class _Iteration:
    """The vector operations of one PCG iteration on x of `shape`: numpy for small blocks,
    fused kernels (:mod:`henderson.linalg.cg_kernels`) from PARALLEL_SIZE entries on, with the
    preconditioner applied on the fly where it is diagonal."""

    def __init__(self, solver: PCGSolver, shape: tuple[int, int]) -> None:
        self.solver = solver
        self.fused = shape[0] * shape[1] >= PARALLEL_SIZE
        self.bounds = cg_kernels.chunk_bounds(shape[0]) if self.fused else None
        dinv = solver.preconditioner_inverse if self.fused else None
        self.dinv = np.zeros(0) if dinv is None else dinv

    def product_dots(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """q = Cp in place; returns p'q per column."""
        s = self.solver
        if not self.fused:
            q[...] = s._times(p)
            return np.einsum("ij,ij->j", p, q)
        if s._dense is None:
            return cg_kernels.product_dots(s.lhs, p, q, self.bounds)
        out = s._times(p, q)
        if out is not q:
            q[...] = out
        return np.einsum("ij,ij->j", p, q)

    def step(self, x, r, p, q, alpha) -> tuple[np.ndarray, np.ndarray | None]:
        """x += αp, r −= αq; returns r'r and, for a diagonal preconditioner, r'M⁻¹r."""
        if not self.fused:
            x += alpha * p
            r -= alpha * q
            return np.einsum("ij,ij->j", r, r), None
        return cg_kernels.step(x, r, p, q, alpha, self.dinv, self.bounds)

    def direction(self, p, r, z, beta) -> None:
        """p ← M⁻¹r + βp (z = M⁻¹r unless the preconditioner is applied on the fly)."""
        if not self.fused:
            p *= beta
            p += z
        elif self.dinv.size:
            cg_kernels.direction_diagonal(p, r, self.dinv, beta, self.bounds)
        else:
            cg_kernels.direction(p, z, beta, self.bounds)


class PCGSolver:
    """Preconditioned conjugate gradients on C (module docstring); `tol` is the relative
    residual at which a column stops, `max_iter` the cap per column."""

    name = "pcg"
    exact = False
    operator = True
    """It takes C as a :class:`~henderson.mme.CoefficientOperator` (dense blocks kept apart)."""

    def __init__(self, equations: Equations, tol: float = 1e-10, max_iter: int = 10_000, log_every: int = 100,
                 probes: int = 0, seed: int = 0, trace_tolerance: float = 1e-8, probe_block: int = 32,
                 probe_guess: np.ndarray | None = None, forcing: bool = False) -> None:
        """`probe_guess` (N, P'): solutions of the first P' probes (e.g. of an earlier fit's
        `probe_solutions`) to start them from; `forcing`: solve the probes to the forced
        tolerance of an inexact Newton method (module docstring) instead of `trace_tolerance`
        at every update."""
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
        self.forcing = bool(forcing)
        self.probe_tolerance = self.trace_tolerance
        self.probe_solutions: np.ndarray | None = probe_guess
        """C⁻¹z of the probes at the last trace estimate (N, probes)."""
        self._entries = None
        self.lhs: sp.csr_matrix | None = None
        self._dense: CoefficientOperator | None = None
        self.guess: np.ndarray | None = None
        self.iterations: list[int] = []
        self.residuals: list[float] = []
        self._blocks: list[tuple[int, int, int, np.ndarray]] = []
        self._fixed_inv = np.zeros(0)
        self.preconditioner_inverse: np.ndarray | None = None
        """M⁻¹ (N,) where the preconditioner is diagonal (every term with k = 1), set by update."""

    def update(self, lhs: sp.csc_matrix | CoefficientOperator) -> None:
        """New values of C (a sparse matrix, or the operator with dense blocks): rebuild the
        preconditioner."""
        model = self.equations.model
        self._dense = lhs if isinstance(lhs, CoefficientOperator) and lhs.dense else None
        previous = self.lhs
        self.lhs = sp.csr_matrix(lhs.sparse if isinstance(lhs, CoefficientOperator) else lhs)
        self.probe_tolerance = self._forced_tolerance(previous)
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
        self.preconditioner_inverse = self._preconditioner_inverse()

    def _forced_tolerance(self, previous: sp.csr_matrix | None) -> float:
        """ε of the probe solves after an update (module docstring); `trace_tolerance` without
        forcing."""
        if not self.forcing:
            return self.trace_tolerance
        same = (previous is not None and previous.shape == self.lhs.shape and previous.nnz == self.lhs.nnz
                and np.array_equal(previous.indptr, self.lhs.indptr) and np.array_equal(previous.indices, self.lhs.indices))
        if not same:
            return max(self.trace_tolerance, LOOSE_TOLERANCE)
        change = np.abs(self.lhs.data - previous.data)
        scale = np.abs(self.lhs.data)
        moved = change > 0
        delta = float(np.max(change[moved] / np.maximum(scale[moved], 1e-300))) if moved.any() else 0.0
        return float(np.clip(FORCING * delta, self.trace_tolerance, max(self.trace_tolerance, LOOSE_TOLERANCE)))

    def _times(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """C x for x (N, m), with the dense blocks when C is an operator."""
        y = _product(self.lhs, x, out)
        return y if self._dense is None else self._dense.add_dense(x, y)

    def _precondition(self, r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """M⁻¹r for r (N, m), into `out` when given."""
        out = np.empty_like(r) if out is None else out
        nf = self._fixed_inv.size
        np.multiply(self._fixed_inv[:, None], r[:nf], out=out[:nf])
        for lo, k, q, inverse in self._blocks:
            if k == 1:
                np.multiply(inverse[:, 0, 0][:, None], r[lo : lo + q], out=out[lo : lo + q])
                continue
            seg = r[lo : lo + k * q].reshape(k, q, -1)  # component-major: (k, q, m)
            out[lo : lo + k * q] = np.einsum("jab,bjm->ajm", inverse, seg).reshape(k * q, -1)
        return out

    def _preconditioner_inverse(self) -> np.ndarray | None:
        """M⁻¹ as a vector (N,) when the preconditioner is diagonal (every term with k = 1),
        else None."""
        if any(k != 1 for _, k, _, _ in self._blocks):
            return None
        out = np.full(self.lhs.shape[0], np.nan)
        out[: self._fixed_inv.size] = self._fixed_inv
        for lo, _, q, inverse in self._blocks:
            out[lo : lo + q] = inverse[:, 0, 0]
        return out if np.all(np.isfinite(out)) else None

    def solve(self, rhs: np.ndarray, guess: np.ndarray | None = None, tol: float | None = None) -> np.ndarray:
        """C⁻¹B for B (N,) or (N, m), all columns together (one product with C per iteration);
        `guess` (same shape; default: the solver's `guess` attribute for one column, else 0) is
        the starting point; `tol` (default the solver's) the relative residual to reach.
        Iterations and relative residuals per call are kept in `iterations` and `residuals`.
        Large blocks run on fused kernels (:mod:`henderson.linalg.cg_kernels`), the same
        iteration with fewer passes over memory."""
        if self.lhs is None:
            raise RuntimeError("call update() first")
        tol = self.tol if tol is None else float(tol)
        b = np.asarray(rhs, dtype=float)
        single = b.ndim == 1
        b = np.ascontiguousarray(b.reshape(b.shape[0], -1))
        if guess is None and single and self.guess is not None and self.guess.shape == (b.shape[0],):
            guess = self.guess
        x = np.zeros(b.shape) if guess is None else np.array(guess, dtype=float, order="C").reshape(b.shape)
        bnorm = np.linalg.norm(b, axis=0)
        bnorm[bnorm == 0] = 1.0
        ops = _Iteration(self, x.shape)
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
            pq = ops.product_dots(p, q)
            if np.any(active & ~(pq > 0)):
                raise NumericalError(
                    f"pcg: a search direction with p'Cp <= 0 at iteration {it}: the coefficient matrix is not "
                    "positive definite. Check the model for dependent effects and the variances for positivity."
                )
            alpha = np.where(active, rz / np.where(pq > 0, pq, 1.0), 0.0)
            rr, rz_new = ops.step(x, r, p, q, alpha)
            rel = np.sqrt(rr) / bnorm
            active &= rel > tol
            if self.log_every and it % self.log_every == 0:
                _LOG.info("pcg: iteration %d, largest relative residual %.3e, %.1f s", it, rel.max(),
                          time.perf_counter() - clock)
            if rz_new is None:
                z = self._precondition(r, out=z)
                rz_new = np.einsum("ij,ij->j", r, z)
            beta = np.where(active, rz_new / np.where(rz != 0, rz, 1.0), 0.0)
            ops.direction(p, r, z, beta)
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
        old = self.probe_solutions
        if old is None or old.shape[0] != n:
            old = np.zeros((n, 0))
        x_all = old if old.shape == (n, self.probes) else np.empty((n, self.probes))  # in place: each block's guess is copied first
        samples = []
        clock = time.perf_counter()
        for first in range(0, self.probes, self.probe_block):
            count = min(self.probe_block, self.probes - first)
            z = rademacher(n, first, count, self.seed)
            guess = np.zeros((n, count))
            have = max(0, min(old.shape[1] - first, count))
            if have:
                guess[:, :have] = old[:, first : first + have]
            x = self.solve(z, guess=guess, tol=self.probe_tolerance)
            x_all[:, first : first + count] = x
            sample = probe_products(self._entries, x, z)
            if self.equations.dense_terms:
                sample += self.equations.dense_probe_products(x, z)
            samples.append(sample)
        self.probe_solutions = x_all
        self.probe_traces = ProbeTraces(np.vstack(samples))
        _LOG.info("pcg: traces from %d probes (relative residual %.1e) in %.1f s", self.probes, self.probe_tolerance,
                  time.perf_counter() - clock)
        return self.probe_traces.mean

    def inverse_diagonal(self) -> None:
        """No diagonal of C⁻¹ (no PEV): the solutions then have no se or reliability."""
        return
