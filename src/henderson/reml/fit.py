"""The REML fit loop, one for every model.

``method="em"``: EM steps until the criteria hold. ``method="ai"``: ``criteria.em_iterations``
EM steps, then AI steps with the safeguards of :mod:`henderson.reml.steps`. After every step the
boundary rule (:mod:`henderson.reml.boundary`) may fix variances at zero; at convergence those
decisions are checked once. Standard errors: AI⁻¹ at the estimates over the free parameters.

Convergence (:class:`~henderson.reml_record.ConvergenceCriteria`): |ΔlogL| (where the solver has
a logL), the relative change of θ and, for AI, the Newton decrement — the smaller of the one in
θ and the one on the Cholesky factors of the matrices, which vanishes at a singular (|r| → 1)
optimum — or an estimate at the edge of the cone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from henderson.covariance import VarianceComponents
from henderson.errors import ConfigError
from henderson.model import MixedModel
from henderson.reml.boundary import FINITE_LIMIT, ZERO_STEP, ZeroLimit, edges
from henderson.reml.edge import (
    clip_correlation,
    edge_decrement,
    edge_step,
    hold,
    release_score,
)
from henderson.reml.objective import Evaluation, Objective
from henderson.reml.steps import STEPS, Step, cholesky_decrement, newton_decrement
from henderson.reml_record import REPEATS, ConvergenceCriteria, Notes, REMLFit

__all__ = ["METHODS", "estimate", "fit_reml", "reml_loglik", "start_components"]

_LOG = logging.getLogger("henderson.reml")
METHODS = tuple(STEPS)
# A drop of logL below this share of |logL| (sums of ~N log pivots) is rounding, not overshoot.
LOGL_NOISE = 1e-11


class _State:
    """The model being fitted: the full model without the components fixed at zero
    (`drops`: term index → component indices), with the residual variances of traits `zero`
    held at their limit 0 (extrapolation step `step`)."""

    def __init__(self, model: MixedModel, solver: str, solver_options: Mapping[str, Any] | None = None,
                 factor: object | None = None) -> None:
        self.full = model
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.drops: dict[int, set[int]] = {}
        self.zero: set[int] = set()
        self.step = 0.0
        self.held: dict[str, np.ndarray] = {}  # matrix name → correlation held at the boundary
        self.full_names = model.layout.names
        self.where: dict[str, tuple[int, int]] = {
            p.name: (p.matrix, p.i) for p in model.layout.parameters if p.is_variance
        }
        # the full model's objective reuses an analysis of its pattern when given one
        self.objective = self.build(self.drops, self.zero, factor=factor)

    def build(self, drops: Mapping[int, set[int]], zero: set[int], step: float | None = None,
              factor: object | None = None) -> Objective | ZeroLimit:
        options = self.solver_options if factor is None else {**self.solver_options, "factor": factor}
        inner = Objective(self.full.without(drops), self.solver, **options)
        return ZeroLimit(inner, zero, self.step if step is None else step) if zero else inner

    @property
    def names(self) -> tuple[str, ...]:
        return self.objective.layout.names

    def full_theta(self, theta: np.ndarray) -> np.ndarray:
        values = dict(zip(self.names, theta))
        return np.array([values.get(name, 0.0) for name in self.full_names])

    def split(self, names: Sequence[str]) -> tuple[dict[int, set[int]], set[int]]:
        """(drops, zero) with the variances `names` added."""
        return self._changed(names, fix=True)

    def without(self, names: Sequence[str]) -> tuple[dict[int, set[int]], set[int]]:
        """(drops, zero) with the variances `names` taken back into the model."""
        return self._changed(names, fix=False)

    def _changed(self, names: Sequence[str], fix: bool) -> tuple[dict[int, set[int]], set[int]]:
        drops = {m: set(c) for m, c in self.drops.items()}
        zero = set(self.zero)
        for name in names:
            m, c = self.where[name]
            target = zero if m < 0 else drops.setdefault(m, set())
            if fix:
                target.add(c)
            else:
                target.discard(c)
        return drops, zero


def start_components(model: MixedModel, start: VarianceComponents | Mapping[str, Any] | None, **options) -> VarianceComponents:
    """Starting values as components of `model`: given ones (checked), or the default."""
    from henderson.reml.start import default_start

    if start is None:
        start = default_start(model, **options)
    elif not isinstance(start, VarianceComponents):
        start = VarianceComponents.from_named(model.layout, start, "REML starting values")
    start.check_inside("REML starting values")
    return start


def fit_reml(
    model: MixedModel,
    start: VarianceComponents | Mapping[str, Any] | None = None,
    *,
    method: str = "ai",
    criteria: ConvergenceCriteria = ConvergenceCriteria(),  # noqa: B008 - frozen
    solver: str = "cholesky",
    logger: logging.Logger | None = None,
    solver_options: Mapping[str, Any] | None = None,
) -> REMLFit:
    """Estimate every G0 and R0 of `model` by REML (module docstring).

    start: components, or a mapping in the configuration's keys, or None for
    :func:`henderson.reml.start.default_start`.

    Raises:
        ConfigError: an unknown method, or starting values that are missing, unknown, or outside
            the parameter space.
    """
    return estimate(model, start, method=method, criteria=criteria, solver=solver, logger=logger,
                    solver_options=solver_options)[0]


def estimate(
    model: MixedModel,
    start: VarianceComponents | Mapping[str, Any] | None = None,
    *,
    method: str = "ai",
    criteria: ConvergenceCriteria = ConvergenceCriteria(),  # noqa: B008 - frozen
    solver: str = "cholesky",
    logger: logging.Logger | None = None,
    solver_options: Mapping[str, Any] | None = None,
    factor: object | None = None,
) -> tuple[REMLFit, Objective | ZeroLimit, np.ndarray]:
    """:func:`fit_reml`, also returning the objective of the final (reduced) model and θ at the
    estimates on it, whose solve is the last one made (solutions and PEV reuse it).
    `solver_options` go to the solver (e.g. the probes of PCG's sampled traces); `factor`: a
    :class:`henderson.linalg.SparseCholesky` already analysed on the pattern of `model`'s
    equations (e.g. by the `auto` choice of the solver), for the exact solver of the full model."""
    if method not in STEPS:
        raise ConfigError(f"unknown REML method {method!r}; use one of {list(STEPS)}.")
    log = logger if logger is not None else _LOG
    clock = time.perf_counter()
    start = start_components(model, start, criteria=criteria, solver=solver, logger=log,
                             solver_options=solver_options)
    state = _State(model, solver, solver_options, factor)
    theta = start.theta
    ev = state.objective.evaluate(theta)
    rows: list[list[Any]] = [[0, "start", ev.loglik, *state.full_theta(theta)]]
    notes = Notes(log)
    boundary: list[str] = []
    readmitted: set[str] = set()
    converged = stopped = False
    iteration = 0
    log.info("REML (%s) start: logL %s, %s", method, _ll(ev.loglik), _format(state.names, theta))
    for iteration in range(1, criteria.max_iterations + 1):
        obj = state.objective
        if method == "em" or iteration <= criteria.em_iterations:
            step = STEPS["em"](obj, ev, 0.0)
            if state.held:
                step = Step("em", hold(obj.layout, step.theta, state.held))
        else:
            tolerance = criteria.loglik_change
            if ev.loglik is not None:
                tolerance = max(tolerance, LOGL_NOISE * abs(ev.loglik))
            if state.held:
                step = edge_step(obj, ev, tolerance, state.held)
            else:
                step = STEPS[method](obj, ev, tolerance)
            _note_step(notes, iteration, step)
        new = step.theta
        ev_new = obj.evaluate(new)
        kind = step.kind
        reduced, stop = _fix_boundary(state, ev_new, criteria, iteration, boundary, notes)
        changed = reduced is not None
        if reduced is not None:
            new = reduced
            ev_new = state.objective.evaluate(new)
            kind += "+boundary"
        if stop is None:
            edged = _hold_edges(state, new, criteria, iteration, notes)
            if edged is not None:
                changed = True
                new = edged
                ev_new = state.objective.evaluate(new)
                kind += "+edge"
        row_theta = state.full_theta(new)
        prev = np.asarray(rows[-1][3:], dtype=float)
        rows.append([iteration, kind, ev_new.loglik, *row_theta])
        dl = abs(ev_new.loglik - ev.loglik) if ev_new.loglik is not None and ev.loglik is not None else 0.0
        dp = float(np.linalg.norm(row_theta - prev) / np.linalg.norm(row_theta))
        if state.held:
            gn = edge_decrement(state.objective.layout, ev_new, state.held)
        else:
            gn = min(newton_decrement(ev_new), cholesky_decrement(state.objective.layout, ev_new))
        log.info(
            "iteration %d (%s): logL %s, |ΔlogL| %.3g, relative Δθ %.3g, gradient %.3g, %s, %.1f s",
            iteration, kind, _ll(ev_new.loglik), dl, dp, gn, _format(state.names, new), time.perf_counter() - clock,
        )
        theta, ev = new, ev_new
        if stop is not None:
            notes.warn(stop)
            stopped = True
            break
        ok = dl < criteria.loglik_change and dp < criteria.parameter_change
        if method == "ai":
            ok = ok and gn < criteria.gradient_norm
        if ok and not changed:
            readmit = _review_boundary(state, theta, ev, boundary, readmitted, criteria, iteration, notes)
            if readmit is None:
                converged = True
                break
            theta, ev = readmit

    halved = notes.count("ai-halved")
    if halved:
        notes.messages.append(
            f"AI steps left the parameter space or lowered logL and were shortened in {halved} iteration(s)."
        )
    fallbacks = notes.count("em-fallback")
    if fallbacks > REPEATS:
        notes.warn(
            f"AI steps fell back to EM in {fallbacks} iterations ({notes.breakdown('em-fallback')}); "
            f"the first {REPEATS} are listed above."
        )
    at_edge = edges(state.objective.layout, theta, criteria.boundary, tuple(state.held))
    for _, text in at_edge:
        notes.warn(f"{text}: the estimate is at the boundary of the parameter space; its standard error is unreliable.")
    fixed_now = [n for n in boundary if n in state.where and n not in state.names]
    if fixed_now and not converged:
        eps, scores, _ = _boundary_scores(state, theta, fixed_now, criteria)
        for name in fixed_now:
            if scores[name] > 0:
                notes.warn(
                    f"the log-likelihood increases away from zero for {name} (∂logL/∂σ² = {scores[name]:.3g} at "
                    f"σ² = {eps:.3g}): the boundary estimate may be premature; refit with a larger starting "
                    "value or a smaller `boundary` criterion."
                )
    if not converged and not stopped:
        notes.warn(
            f"REML ({method}) did not converge in {criteria.max_iterations} iterations; the estimates are the "
            "last iterate. Raise max_iterations or check the model."
        )
    fit = _record(state, theta, ev, method, converged, iteration, rows, boundary, at_edge, criteria, notes, solver)
    log.info(
        "REML (%s) %s after %d iterations: logL %s, %s, %.1f s", method, "converged" if converged else "stopped",
        iteration, _ll(ev.loglik), _format(state.full_names, fit.components.theta), time.perf_counter() - clock,
    )
    return fit, state.objective, theta


def _record(state, theta, ev, method, converged, iteration, rows, boundary, at_edge, criteria, notes, solver) -> REMLFit:
    full_names = state.full_names
    m = len(full_names)
    cov = np.full((m, m), np.nan)
    where = [full_names.index(name) for name in state.names]
    confounded = not_identifiable(state.names, ev.ai)
    if confounded:
        converged = False
        notes.warn(
            f"the data cannot separate {' and '.join(confounded)}: they enter the likelihood only through "
            "a combination (e.g. no relatives and one record per animal), so their estimates and ratios "
            "are not identifiable (only their sum is). Add information that separates them (relatives, "
            "repeated records) or remove one from the model."
        )
    try:
        if confounded:
            raise np.linalg.LinAlgError
        inv = np.linalg.inv(ev.ai)
        if not np.all(np.isfinite(inv)) or np.any(np.diag(inv) <= 0):
            raise np.linalg.LinAlgError
        cov[np.ix_(where, where)] = 0.5 * (inv + inv.T)
    except np.linalg.LinAlgError:
        if not confounded:
            notes.warn("the average information matrix is singular at the estimates; no standard errors.")
    fixed = np.array([name not in state.names for name in full_names])
    diag = np.diag(cov)
    se = np.where(~fixed & (diag > 0), np.sqrt(np.where(diag > 0, diag, 0.0)), np.nan)
    trace = pd.DataFrame(rows, columns=["iteration", "step", "log_likelihood", *full_names])
    trace["iteration"] = trace["iteration"].astype(np.int64)
    trace["step"] = trace["step"].astype(object)
    components = VarianceComponents.from_theta(state.full.layout, state.full_theta(theta))
    return REMLFit(
        method=method,
        converged=converged,
        iterations=iteration,
        log_likelihood=None if ev.loglik is None else float(ev.loglik),
        components=components,
        se_vector=se,
        covariance=cov,
        fixed=fixed,
        boundary=tuple(boundary) + tuple(name for name, _ in at_edge),
        trace=trace,
        criteria=criteria,
        messages=tuple(notes.messages),
        solver=solver,
        not_identifiable=tuple(confounded),
    )


# Smallest eigenvalue of the AI matrix scaled to unit diagonal below this: some parameters are
# not identifiable (the information does not separate them).
IDENTIFIABLE = 1e-9


def not_identifiable(names: Sequence[str], ai: np.ndarray) -> list[str]:
    """Parameters the data cannot separate: those loading (|v_i| > 0.1) on an eigenvector of the
    AI matrix scaled to unit diagonal, D^-½·AI·D^-½, whose eigenvalue is below IDENTIFIABLE (a
    direction of θ along which logL is flat to second order); a parameter without information
    (AI_ii ≤ 0) is one too."""
    d = np.diag(ai)
    if not np.all(np.isfinite(ai)):
        return []
    out = {i for i in range(len(names)) if not d[i] > 0}
    keep = [i for i in range(len(names)) if d[i] > 0]
    if keep:
        sub = ai[np.ix_(keep, keep)] / np.sqrt(np.outer(d[keep], d[keep]))
        w, v = np.linalg.eigh(0.5 * (sub + sub.T))
        for k in np.flatnonzero(w < IDENTIFIABLE):
            out.update(keep[i] for i in np.flatnonzero(np.abs(v[:, k]) > 0.1))
    return [names[i] for i in sorted(out)]


def _note_step(notes: Notes, iteration: int, step: Step) -> None:
    if step.kind in ("ai-halved", "ai-projected", "ai-cholesky", "ai-bounded"):
        notes.event("ai-halved", f"iteration {iteration}: {step.what}", level=logging.INFO, keep=False)
    elif step.kind == "em-fallback":
        notes.event("em-fallback", f"iteration {iteration}: {step.what}; fell back to EM", reason=step.reason)


def _ll(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6f}"


def _format(names: Sequence[str], theta: np.ndarray) -> str:
    return ", ".join(f"{name} {value:.6g}" for name, value in zip(names, theta))


def _sigma_p(objective, theta: np.ndarray) -> np.ndarray:
    return objective.layout.phenotypic_weights() @ theta


def _fix_boundary(
    state: _State, ev: Evaluation, criteria: ConvergenceCriteria, iteration: int, boundary: list[str], notes: Notes
) -> tuple[np.ndarray | None, str | None]:
    """Fix the variances that reached the boundary (module :mod:`henderson.reml.boundary`).
    Returns (θ of the reduced model, None) when the model changed, (None, None) when it did not,
    and (None, why) when a residual variance runs to zero where logL has no finite limit."""
    obj = state.objective
    layout = obj.layout
    sigma_p = _sigma_p(obj, ev.theta)
    try:  # where the AI (Newton) step would take θ; the gradient's sign when AI is not usable
        chol = np.linalg.cholesky(ev.ai)
        target = ev.theta + np.linalg.solve(chol.T, np.linalg.solve(chol, ev.gradient))
    except np.linalg.LinAlgError:
        target = np.where(ev.gradient < 0, -1.0, 1.0)
    names = []
    for k, p in enumerate(obj.params):
        if not p.is_variance:
            continue
        if p.matrix < 0:
            trait = layout.residual_components[p.i]
        else:
            trait = layout.terms[p.matrix].components[p.i][1]
        if ev.theta[k] < criteria.boundary * sigma_p[trait] and target[k] <= 0:
            names.append(p.name)
    if not names:
        return None, None
    values = dict(zip(state.names, ev.theta))
    residual = [n for n in names if state.where[n][0] < 0]
    terms_named = [n for n in names if n not in residual]
    matrix_of = {p.name: p.matrix for p in obj.params}
    shared = [n for n in terms_named if layout.terms[matrix_of[n]].k > 1]
    if shared:
        # a component with covariances: not where logL rises from zero into the cone along a
        # covariance (the optimum is then |r| → 1, not a zero variance)
        eps = 0.01 * criteria.boundary * float(np.max(sigma_p))
        scores, _ = _path_scores(obj, ev.theta, shared, eps)
        terms_named = [n for n in terms_named if scores.get(n, 0.0) <= 0]
        names = residual + terms_named
    drops, zero = state.split(terms_named)
    left = sum(len(term.components) for term in state.full.without(drops).terms)
    step = state.step
    if residual:
        _, new_zero = state.split(names)
        step = ZERO_STEP * float(np.max(sigma_p))
        candidate = state.build(drops, new_zero, step)
        gap, rise = candidate.limit_gap(np.array([values.get(p.name, 0.0) for p in candidate.params]))
        if gap < FINITE_LIMIT and left:
            zero = new_zero
        elif rise > 0 and left:
            return None, (
                f"iteration {iteration}: the residual variance runs to zero ({values[residual[0]]:.3g}) and the "
                "REML log-likelihood increases without bound there: the random effects alone make the covariance "
                "of the records singular and fit the records exactly (e.g. repeated records of one animal or "
                "level with identical values). REML has no estimate; the fit stopped at the last iterate. Check "
                "the records for duplicates or remove a random effect."
            )
        else:
            names = terms_named
    if zero and not left:
        # no random component left would make V = 0 at σ²_e = 0: keep them while σ²_e is at zero
        names = [n for n in names if state.where[n][0] < 0]
        drops = {m: set(c) for m, c in state.drops.items()}
    if not names:
        return None, None
    state.drops, state.zero, state.step = drops, zero, step
    state.objective = state.build(drops, zero)
    boundary.extend(names)
    for name in names:
        if state.where[name][0] < 0:
            trait = state.full.traits[state.where[name][1]]
            which = "the residual variance" + ("" if state.full.n_traits == 1 else f" of {trait}")
            notes.warn(
                f"iteration {iteration}: {which} converged to zero ({values[name]:.3g}): the "
                "random effects explain every record; the model is over-parameterised for these data. It is "
                "fixed at 0 (logL taken at its limit σ²_e → 0)."
            )
        else:
            notes.warn(
                f"iteration {iteration}: the variance of {name} converged to zero ({values[name]:.3g}); fixed at "
                "the boundary (with the covariances it takes part in)."
            )
    return np.array([values[name] for name in state.names]), None


def _hold_edges(
    state: _State, theta: np.ndarray, criteria: ConvergenceCriteria, iteration: int, notes: Notes
) -> np.ndarray | None:
    """Hold every k × k matrix whose correlation matrix reached the edge (smallest eigenvalue
    below `boundary`) at its projection on the boundary (:mod:`henderson.reml.edge`); θ after
    that, None when nothing changed. Matrices whose size changed since they were held are
    released first."""
    layout = state.objective.layout
    vc = VarianceComponents.from_theta(layout, theta)
    sizes = dict(zip(layout.matrix_names(), (m.shape[0] for m in vc.matrices)))
    for name in [n for n, corr in state.held.items() if sizes.get(n) != corr.shape[0]]:
        del state.held[name]
    new = []
    for name, mat in zip(layout.matrix_names(), vc.matrices):
        if name in state.held or mat.shape[0] < 2 or np.any(np.diag(mat) <= 0):
            continue
        d = np.sqrt(np.diag(mat))
        smallest = float(np.linalg.eigvalsh(mat / np.outer(d, d))[0])
        if smallest < criteria.boundary:
            state.held[name] = clip_correlation(mat, criteria.boundary)
            new.append((name, smallest))
    if not new:
        return None
    for name, smallest in new:
        notes.warn(
            f"iteration {iteration}: the {name} covariance matrix reached the edge of the parameter space "
            f"(smallest eigenvalue of its correlation matrix {smallest:.3g}, |r| → 1); its correlations are "
            f"held at the boundary (smallest eigenvalue {criteria.boundary:g}) and its variances estimated."
        )
    return hold(layout, theta, state.held)


def _boundary_scores(
    state: _State, theta: np.ndarray, names: Sequence[str], criteria: ConvergenceCriteria
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Scores of the fixed variances `names` just off zero: at σ² = ε = 0.01 × boundary × max
    σ²p (covariances 0, the other parameters at θ), the derivative of logL along the path
    σ²(s) = s, σ_ij(s) = ρ_j √(s σ²_j) into the cone, which leaves zero with the covariances the
    gradient favours (|ρ| = ½ spread over the partners): ∂logL/∂σ² + Σ_j |∂logL/∂σ_ij| |ρ_j|
    √(σ²_j) / (2√ε). Positive: logL rises from zero. Returns (ε, scores, the covariances at ε on
    that path)."""
    values = dict(zip(state.names, theta))
    drops, zero = state.without(names)
    obj = state.build(drops, zero)
    probe = np.array([values.get(p.name, 0.0) for p in obj.params])
    eps = 0.01 * criteria.boundary * float(np.max(_sigma_p(obj, probe)))
    scores, moves = _path_scores(obj, probe, names, eps)
    return eps, scores, moves


def _path_scores(obj, theta: np.ndarray, names: Sequence[str], eps: float) -> tuple[dict[str, float], dict[str, float]]:
    """The scores of :func:`_boundary_scores` on objective `obj`, at θ with the variances
    `names` set to ε and their covariances to 0."""
    params = obj.params
    probe = theta.copy()
    comps = {(p.matrix, p.i) for p in params if p.name in names}
    for k, p in enumerate(params):
        if p.name in names:
            probe[k] = eps
        elif not p.is_variance and ((p.matrix, p.i) in comps or (p.matrix, p.j) in comps):
            probe[k] = 0.0
    g = obj.evaluate(probe).gradient
    var = {(p.matrix, p.i): k for k, p in enumerate(params) if p.is_variance}
    scores, moves = {}, {}
    for name in names:
        k = next(i for i, p in enumerate(params) if p.name == name)
        m, c = params[k].matrix, params[k].i
        partners = [
            (i, q.j if q.i == c else q.i) for i, q in enumerate(params)
            if q.matrix == m and not q.is_variance and c in (q.i, q.j)
            and params[var[(m, q.j if q.i == c else q.i)]].name not in names
        ]
        rho = 0.5 / math.sqrt(max(len(partners), 1))
        score = float(g[k])
        for i, other in partners:
            sigma = probe[var[(m, other)]]
            score += abs(g[i]) * rho * math.sqrt(sigma) / (2.0 * math.sqrt(eps))
            moves[params[i].name] = math.copysign(rho * math.sqrt(eps * sigma), g[i])
        scores[name] = score
    return scores, moves


def _review_boundary(
    state: _State,
    theta: np.ndarray,
    ev: Evaluation,
    boundary: list[str],
    readmitted: set[str],
    criteria: ConvergenceCriteria,
    iteration: int,
    notes: Notes,
) -> tuple[np.ndarray, Evaluation] | None:
    """At convergence, re-examine every boundary decision once: a variance fixed at zero whose
    score just off zero is positive comes back at σ² = ε; a matrix held at the edge whose logL
    rises back inside the cone is released. Returns the new (θ, evaluation) after a change, None
    when the fit stands."""
    layout = state.objective.layout
    released = [name for name, corr in state.held.items()
                if name not in readmitted and release_score(layout, ev, name, corr) > 0]
    for name in released:
        del state.held[name]
        readmitted.add(name)
        notes.warn(
            f"iteration {iteration}: the log-likelihood rises inside the parameter space for the {name} "
            "covariance matrix; released from the boundary."
        )
    if released:
        return theta, ev
    fixed_here = [n for n in boundary if n in state.where]
    if not fixed_here:
        return None
    eps, scores, moves = _boundary_scores(state, theta, fixed_here, criteria)
    back = [n for n in fixed_here if scores[n] > 0 and n not in readmitted]
    if not back:
        for n in fixed_here:
            if scores[n] > 0:
                notes.warn(
                    f"the log-likelihood increases away from zero for {n} (∂logL/∂σ² = {scores[n]:.3g} at σ² = "
                    f"{eps:.3g}) although it was re-admitted once; the boundary estimate is unreliable."
                )
        return None
    values = dict(zip(state.names, theta))
    values.update({n: eps for n in back})
    state.drops, state.zero = state.without(back)
    state.objective = state.build(state.drops, state.zero)
    plain = np.array([values.get(n, 0.0) for n in state.names])
    theta = np.array([moves.get(n, values.get(n, 0.0)) for n in state.names])
    if not state.objective.inside(theta):
        theta = plain
    for n in back:
        boundary.remove(n)
        readmitted.add(n)
        notes.warn(
            f"iteration {iteration}: the log-likelihood increases away from zero for {n} (∂logL/∂σ² = "
            f"{scores[n]:.3g} at σ² = {eps:.3g}); re-admitted at σ² = {eps:.3g}."
        )
    return theta, state.objective.evaluate(theta)


def reml_loglik(model: MixedModel, components: VarianceComponents | Mapping[str, Any], *, derivatives: bool = False,
                solver: str = "cholesky") -> Evaluation:
    """logL at given components (inside the parameter space), and with `derivatives` its
    gradient, average information and EM update (θ in the layout's order)."""
    vc = components if isinstance(components, VarianceComponents) else VarianceComponents.from_named(
        model.layout, components, "reml_loglik")
    vc.check_inside("reml_loglik")
    return Objective(model, solver).evaluate(vc.theta, derivatives=derivatives)

