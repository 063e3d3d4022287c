"""The REML objective of a mixed model at θ: log-likelihood, gradient, average information and
the EM update, from one solve of the mixed model equations (:mod:`henderson.mme`).

With N observed values and p fixed-effect columns (with fixed genetic groups, p includes the
group levels of each component, and q of a term counts its levels with a prior only)::

    logL = -1/2 [(N - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py]
    log|V| + log|X'V⁻¹X| = log|C| + Σ_terms [q log|G0| + k log|K|] + log|R|
    y'Py = ê'R⁻¹ê + Σ_terms tr(G0⁻¹ U'K⁻¹U)       (ê = y - Wŝ, U the term's BLUPs, q × k)

(−1/2 × lme4's REML criterion), the penalised form of y'Py, accurate as a variance goes to zero.

Derivatives per term, with S = U'K⁻¹U, T[a, b] = tr(K⁻¹ C^{ab}) and D = q G0⁻¹ − G0⁻¹(S + T)G0⁻¹:
∂logL/∂G0[a,a] = −½ D[a,a], ∂logL/∂G0[a,b] = −D[a,b]; EM update G0 ← (S + T)/q. Residual, per
missing pattern P with weighted residual sums E_P = Σ w_i ê_i ê_i' and τ_P = tr(C⁻¹ M_P):
D_R = Σ_P embed(n_P Q_P − Q_P(τ_P + E_P)Q_P), the same rule; EM (exact with missing records): for
the observed traits o, F_oo = E_P + τ_P; the missing traits m regressed on them, B = R0[m,o]Q_P,
F_mo = B F_oo, F_mm = B F_oo B' + n_P(R0[m,m] − B R0[o,m]); R0 ← Σ_P F_P / n.

Average information AI_ij = ½ f_i'Pf_j with working variates f = Z(G0⁻¹E ⊗ I)vec(U) for an
element E of G0 and f_i = (E/w_i)(R⁻¹ê)_i for an element of R0; Pf = R⁻¹(f − W C⁻¹W'R⁻¹f): one
solve with one column per parameter.

A solver without a log-determinant (iterative) gives logL = None; everything else stays (its
traces may be sampled: :mod:`henderson.reml.stochastic`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from henderson.covariance import Layout, VarianceComponents
from henderson.errors import ConfigError
from henderson.mme import Equations
from henderson.model import MixedModel
from henderson.solvers import choose_solver, dense_note, equations_for, make_solver

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class Evaluation:
    """Everything one solve at θ gives (parameters in layout order); loglik None when the
    solver has no log-determinant; gradient, ai, em None without derivatives."""

    theta: np.ndarray
    loglik: float | None
    gradient: np.ndarray | None = None
    ai: np.ndarray | None = None
    em: np.ndarray | None = None


class ParameterSpace:
    """What an objective knows of its parameters: `layout` and `params` (set by the class),
    their number, the components at θ and whether θ is inside the parameter space."""

    layout: Layout
    params: tuple

    @property
    def m(self) -> int:
        return len(self.params)

    def components(self, theta: np.ndarray) -> VarianceComponents:
        return VarianceComponents.from_theta(self.layout, theta)

    def inside(self, theta: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(theta))) and self.components(theta).is_inside()


class Objective(ParameterSpace):
    """The REML objective of `model` on one solver (one symbolic analysis per model)."""

    def __init__(self, model: MixedModel, solver: str = "cholesky", *, memory_mb: float | None = None,
                 exact: bool = True, **solver_options) -> None:
        """`solver`: a registered name, or "auto" (:func:`henderson.solvers.choose_solver` with
        `memory_mb` and `exact`: whether traces and log-determinants are needed); the choice and
        its reason are in `solver_reason`."""
        self.model = model
        self.layout: Layout = model.layout
        self.params = self.layout.parameters
        if solver == "auto":
            self.solver, self.solver_reason = choose_solver(Equations(model, operator=True), memory_mb, exact=exact,
                                                            **solver_options)
        else:
            self.solver = make_solver(solver, equations_for(model, solver), **solver_options)
            self.solver_reason = f"solver {solver}"
        self.equations: Equations = self.solver.equations
        if self.equations.dense_terms:
            self.solver_reason += dense_note(self.equations)
        for term in model.terms:
            if term.relationship.logdet is None:
                raise ConfigError(f"the relationship of {term.name} has no log-determinant; REML needs one.")
        self._at: np.ndarray | None = None
        self._sol = np.zeros(0)
        self._resid = np.zeros(0)
        self._loglik: float | None = None
        self._qs: list[np.ndarray] = []
        self._traces: np.ndarray | None = None
        self._ai_sol = np.zeros(0)

    # ---------------------------------------------------------------------------------------
    def _solve(self, theta: np.ndarray) -> None:
        if self._at is not None and np.array_equal(self._at, theta):
            return
        model, eq = self.model, self.equations
        vc = self.components(theta)
        qs = eq.q_matrices(vc)
        self._at = None
        self._traces = None
        self.solver.update(eq.assemble(eq.coefficients(vc)))
        # from zero, not from the previous θ's solution: an iterative solver's error then varies
        # smoothly with θ, and so do logL's penalty and the gradient (a warm start made them jitter
        # by the solver's error, which kept a maternal Monte Carlo REML from converging)
        sol = self.solver.solve(eq.rhs(qs))
        resid = model.y_flat - model.w @ sol
        logdet = self.solver.logdet()
        loglik = None
        if logdet is not None:
            logdet_g = 0.0
            penalty = 0.0
            for t, (term, g0) in enumerate(zip(model.terms, vc.g0)):
                u = self._u(sol, t)
                logdet_g += _random_levels(term) * float(np.linalg.slogdet(g0)[1]) + term.k * float(term.relationship.logdet)
                penalty += float(np.sum(np.linalg.inv(g0) * (u.T @ (term.relationship.kinv_times(u)))))
            ere = float(resid @ eq.rinv(resid, qs))
            loglik = -0.5 * (
                (model.n_observed - _fixed_rank(model)) * LOG_2PI + logdet + logdet_g + eq.log_det_r(vc) + ere + penalty
            )
        self._at, self._sol, self._resid, self._loglik, self._qs = theta.copy(), sol, resid, loglik, qs

    def _u(self, sol: np.ndarray, t: int) -> np.ndarray:
        """The BLUPs of term t as a q × k matrix (one column per component)."""
        term = self.model.terms[t]
        lo, _ = self.model.block(t, 0)
        return sol[lo : lo + term.k * term.q].reshape(term.k, term.q).T

    def loglik(self, theta: np.ndarray) -> float | None:
        """logL at θ (None for a solver without log-determinant); the solve is kept for a
        following `evaluate` at the same θ."""
        self._solve(theta)
        return self._loglik

    def solution(self, theta: np.ndarray) -> np.ndarray:
        """ŝ (N,) at θ."""
        self._solve(theta)
        return self._sol

    def inverse_diagonal(self, theta: np.ndarray) -> np.ndarray:
        """diag(C⁻¹) (N,) at θ (PEV of the random effects)."""
        self._solve(theta)
        return self.solver.inverse_diagonal()

    # ---------------------------------------------------------------------------------------
    def evaluate(self, theta: np.ndarray, derivatives: bool = True, traces: np.ndarray | None = None) -> Evaluation:
        """logL, and with `derivatives` its gradient, the AI matrix and the EM update, at θ;
        `traces`: tr(C⁻¹ M_c) to use instead of the solver's (the gradient and EM update are
        linear in them: :mod:`henderson.reml.stochastic` propagates sampled traces' errors)."""
        self._solve(theta)
        if not derivatives:
            return Evaluation(theta.copy(), self._loglik)
        model, eq, params = self.model, self.equations, self.params
        n, t = model.n_records, model.n_traits
        vc = self.components(theta)
        sol, resid, qs = self._sol, self._resid, self._qs
        if self._traces is None:
            self._traces = self.solver.traces()
        taus, tmats = eq.component_traces(self._traces if traces is None else traces)
        m = len(params)
        index = {(p.matrix, p.i, p.j): k for k, p in enumerate(params)}
        gradient = np.zeros(m)
        em = np.zeros(m)
        work = np.zeros((t * n, m))
        for ti, (term, g0, t_mat) in enumerate(zip(model.terms, vc.g0, tmats)):
            ginv = np.linalg.inv(g0)
            u = self._u(sol, ti)
            st = u.T @ (term.relationship.kinv_times(u)) + t_mat
            d_mat = _random_levels(term) * ginv - ginv @ st @ ginv
            em_g = st / _random_levels(term)
            lo, _ = model.block(ti, 0)
            w_term = model.w[:, lo : lo + term.k * term.q]
            for i in range(term.k):
                for j in range(i, term.k):
                    k = index[(ti, i, j)]
                    gradient[k] = -0.5 * d_mat[i, i] if i == j else -d_mat[i, j]
                    em[k] = em_g[i, j]
                    e = np.zeros((term.k, term.k))
                    e[i, j] = e[j, i] = 1.0
                    work[:, k] = w_term @ (term.relationship.random_part(u) @ (ginv @ e)).T.reshape(-1)
        # residual
        trait_sets, record_sets = model.patterns
        py = eq.rinv(resid, qs)
        weights = model.weights
        d_r = np.zeros((t, t))
        em_r = np.zeros((t, t))
        r0 = vc.r0
        for traits, idx, rows, q_p, tau, count in zip(trait_sets, eq.flat, record_sets, qs, taus, eq.counts):
            ehat = resid[idx]
            sse = ehat.T @ (ehat if weights is None else ehat * weights[rows][:, None])
            d_r[np.ix_(traits, traits)] += count * q_p - q_p @ (tau + sse) @ q_p
            f_oo = sse + tau
            em_r[np.ix_(traits, traits)] += f_oo
            mis = np.setdiff1d(np.arange(t), traits)
            if mis.size:
                b_mat = r0[np.ix_(mis, traits)] @ q_p
                f_mo = b_mat @ f_oo
                em_r[np.ix_(mis, traits)] += f_mo
                em_r[np.ix_(traits, mis)] += f_mo.T
                em_r[np.ix_(mis, mis)] += b_mat @ f_oo @ b_mat.T + count * (
                    r0[np.ix_(mis, mis)] - b_mat @ r0[np.ix_(traits, mis)]
                )
        em_r = 0.5 * (em_r + em_r.T) / n
        obs = model.observed.T.astype(float)  # t × n
        qe = py.reshape(t, n)
        if weights is not None:
            qe = qe / weights[None, :]
        for i in range(t):
            for j in range(i, t):
                k = index[(-1, i, j)]
                gradient[k] = -0.5 * d_r[i, i] if i == j else -d_r[i, j]
                em[k] = em_r[i, j]
                col = np.zeros((t, n))
                col[i] += qe[j] * obs[i]
                if i != j:
                    col[j] += qe[i] * obs[j]
                work[:, k] = col.reshape(-1)
        rf = eq.rinv(work, qs)
        wrf = np.asarray(eq.wt @ rf)
        cwrf = self.solver.solve(wrf, guess=_warm(self._ai_sol, wrf.shape))
        self._ai_sol = cwrf
        ai = 0.5 * (work.T @ rf - wrf.T @ cwrf)
        ai = 0.5 * (ai + ai.T)
        return Evaluation(theta.copy(), self._loglik, gradient, ai, em)


def _warm(previous: np.ndarray, shape) -> np.ndarray | None:
    """The previous solve's solution as the starting point of the next (at a nearby θ: an
    iterative solver needs fewer iterations), where its shape fits. Used for the AI matrix,
    which sets the steps but not the optimum."""
    return previous if previous.shape == tuple(shape) else None


def _random_levels(term) -> int:
    """Levels of a term with a prior (q less the fixed levels, e.g. fixed genetic groups)."""
    return term.q - term.relationship.n_fixed


def _fixed_rank(model: MixedModel) -> int:
    """p of REML: the fixed-effect columns and, per component, the fixed levels of the terms
    (fixed groups are fixed effects of the model y = Xb + ZQg + Za + e)."""
    return model.n_fixed + sum(term.k * term.relationship.n_fixed for term in model.terms)
