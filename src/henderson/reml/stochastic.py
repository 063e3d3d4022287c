"""Monte Carlo REML: AI- (or EM-) REML whose traces are sampled, for models whose coefficient
matrix cannot be factorised.

The REML gradient and EM update need tr(C⁻¹ M_c) for every component M_c of C (per random term
T = tr(K⁻¹ C^{ab}), per residual pattern τ_P); the AI matrix and y'Py need only solves. On the
PCG solver these traces are Hutchinson estimates from P Rademacher probes,
t̂_c = (1/P) Σ_p x_p' M_c z_p with x_p = C⁻¹z_p (:mod:`henderson.linalg.stochastic`), the
Monte Carlo REML of Matilainen et al. (2012, 2013) with Hutchinson's (1990) trace estimator in
place of García-Cortés et al.'s (1992) sampled data vectors (the same expectation; one solve per
probe gives every component's trace, of any model).

* Common random numbers: every θ of a fit is evaluated with the same probes, so the sampled
  gradient g(θ; t̂) is a smooth deterministic function of θ and the fit's iterations and its
  convergence criteria (:class:`~henderson.reml_record.ConvergenceCriteria`; no logL, the Newton
  decrement and Δθ) behave as with exact traces. The fit converges to θ̂(t̂), the root of the
  sampled score.
* Monte Carlo error: θ̂ depends on the probes through t̂ only. Linearised at the estimates,
  dθ̂/dt = AI⁻¹J with J = ∂g/∂t (g is linear in t; J from one evaluation per component), so
  Cov_MC(θ̂) = AI⁻¹ J Σ_t J' AI⁻¹, Σ_t = Cov(per-probe traces)/P. Its root diagonal is the
  `monte_carlo_se` reported beside the sampling `se` (√diag AI⁻¹).
* Number of probes (`probes: auto`): a fit with `start` probes, then the ratio
  r = max_k MCSE_k / SE_k; while r exceeds `target`, P ← ⌈1.2·P·(r/target)²⌉ (MC variance ∝ 1/P;
  at most `max_probes`), the first probes kept and the fit resumed from its estimates (their
  solutions there are the starting points of their solves).
* Cost: the probes are solved only as accurately as the current step needs (an inexact Newton
  method, :mod:`henderson.solvers.pcg`), and to `trace_tolerance` as the fit converges.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from henderson.errors import ConfigError
from henderson.model import MixedModel
from henderson.reml.fit import estimate
from henderson.reml.objective import Objective
from henderson.reml_record import ConvergenceCriteria, REMLFit

__all__ = ["MonteCarlo", "estimate_stochastic", "monte_carlo_covariance", "split_reml_options"]

_LOG = logging.getLogger("henderson.reml")
# Margin on the probes the ratio asks for (the ratio is itself estimated).
MARGIN = 1.2


@dataclass(frozen=True)
class MonteCarlo:
    """Settings of Monte Carlo REML (module docstring): `probes` "auto" or a fixed number ≥ 2;
    `target` the Monte Carlo SE aimed at, as a share of the sampling SE of every estimate;
    `start` the probes of the first fit under "auto", `max_probes` its cap; `seed` of the
    probes."""

    probes: int | str = "auto"
    target: float = 0.1
    start: int = 32
    max_probes: int = 1000
    seed: int = 1

    def __post_init__(self) -> None:
        fixed = isinstance(self.probes, (int, np.integer)) and not isinstance(self.probes, bool)
        if not (self.probes == "auto" or (fixed and self.probes >= 2)):
            raise ConfigError(f"reml.probes must be 'auto' or an integer >= 2, got {self.probes!r}.")
        if not (isinstance(self.target, (int, float)) and 0 < self.target < math.inf):
            raise ConfigError(f"reml.mc_se_target must be a positive number, got {self.target!r}.")
        for name in ("start", "max_probes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 2:
                raise ConfigError(f"reml.{name} must be an integer >= 2, got {getattr(self, name)!r}.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"reml.seed must be an integer >= 0, got {self.seed!r}.")


# keys of the `reml:` block that belong to Monte Carlo REML, not to the convergence criteria
_KEYS = {"probes": "probes", "mc_se_target": "target", "start_probes": "start", "max_probes": "max_probes",
         "seed": "seed"}


def split_reml_options(reml: Mapping[str, Any]) -> tuple[ConvergenceCriteria, MonteCarlo]:
    """The `reml:` block of a model as (convergence criteria, Monte Carlo settings)."""
    criteria = ConvergenceCriteria(**{k: v for k, v in reml.items() if k not in _KEYS})
    mc = MonteCarlo(**{_KEYS[k]: v for k, v in reml.items() if k in _KEYS})
    return criteria, mc


def monte_carlo_covariance(objective: Objective, theta: np.ndarray) -> np.ndarray:
    """Cov_MC(θ̂) = AI⁻¹ J Σ_t J' AI⁻¹ (module docstring) at the estimates θ of `objective`
    (θ order; m × m), from the per-probe traces of its solver's last trace estimate. NaN where
    the solver has no sampled traces or AI is singular."""
    m = len(theta)
    samples = getattr(objective.solver, "probe_traces", None)
    ev = objective.evaluate(theta)
    if samples is None or ev.ai is None:
        return np.full((m, m), np.nan)
    mean = samples.mean
    jac = np.empty((m, mean.size))
    for c in range(mean.size):
        h = max(abs(mean[c]), 1.0)
        bumped = mean.copy()
        bumped[c] += h
        jac[:, c] = (objective.evaluate(theta, traces=bumped).gradient - ev.gradient) / h
    try:
        sens = np.linalg.solve(ev.ai, jac)
    except np.linalg.LinAlgError:
        return np.full((m, m), np.nan)
    cov = sens @ samples.covariance @ sens.T
    return 0.5 * (cov + cov.T)


def estimate_stochastic(
    model: MixedModel,
    start,
    *,
    method: str = "ai",
    criteria: ConvergenceCriteria = ConvergenceCriteria(),  # noqa: B008 - frozen
    mc: MonteCarlo = MonteCarlo(),
    pcg: Mapping[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> tuple[REMLFit, Objective, np.ndarray]:
    """REML on the PCG solver with sampled traces (module docstring); the fit record carries
    `monte_carlo_se` and `monte_carlo` (probes, seed, target, achieved ratio). `pcg`: options of
    the solver (tol, max_iter, trace_tolerance, probe_block; forcing, default on)."""
    log = logger if logger is not None else _LOG
    clock = time.perf_counter()
    probes = mc.start if mc.probes == "auto" else int(mc.probes)
    if mc.probes == "auto":
        probes = min(probes, mc.max_probes)
    current = start
    guess = None  # the probes' solutions of the previous fit, to start the resumed one from
    total_iterations = 0
    rule = criteria
    while True:
        options = {"forcing": True, **dict(pcg or {}), "probes": probes, "seed": mc.seed, "probe_guess": guess}
        fit, objective, theta = estimate(model, current, method=method, criteria=rule, solver="pcg",
                                         logger=log, solver_options=options)
        total_iterations += fit.iterations
        mc_cov = _full(fit, objective, theta)
        mcse = np.sqrt(np.where(np.diag(mc_cov) >= 0, np.diag(mc_cov), np.nan))
        free = ~fit.fixed & np.isfinite(fit.se_vector) & (fit.se_vector > 0) & np.isfinite(mcse)
        ratio = float(np.max(mcse[free] / fit.se_vector[free])) if free.any() else math.nan
        log.info("Monte Carlo REML with %d probes: Monte Carlo SE / sampling SE at most %.3g (target %.3g), "
                 "%.1f s", probes, ratio, mc.target, time.perf_counter() - clock)
        if mc.probes != "auto" or not ratio > mc.target or probes >= mc.max_probes:
            break
        wanted = math.ceil(MARGIN * probes * (ratio / mc.target) ** 2)
        before, probes = probes, min(max(wanted, probes + 1), mc.max_probes)
        log.info("Monte Carlo REML: %d probes to reach the target; resuming from the estimates", probes)
        current = fit.components
        guess = getattr(objective.solver, "probe_solutions", None) if isinstance(objective, Objective) else None
        rule = _resumed(criteria, fit, mc_cov, math.sqrt(before / probes))
    messages = list(fit.messages)
    if not ratio <= mc.target:
        text = (f"the Monte Carlo SE of the estimates is up to {ratio:.3g} of their sampling SE with {probes} probes "
                f"(target {mc.target:g})")
        text += "; raise reml.max_probes or reml.probes." if math.isfinite(ratio) else "; it could not be computed."
        log.warning(text)
        messages.append(text)
    record = {"probes": probes, "seed": mc.seed, "target": mc.target,
              "ratio": ratio if math.isfinite(ratio) else None, "iterations": total_iterations,
              "estimator": "Hutchinson (Rademacher probes, solved by PCG); MC SE by the delta method AI⁻¹J"}
    fit = replace(fit, monte_carlo_se=mcse, monte_carlo=record, messages=tuple(messages))
    return fit, objective, theta


# Iterations of a resumed fit stop once a further step would move θ by less than this share of
# its (expected) Monte Carlo SE.
MC_SHARE = 0.1


def _resumed(criteria: ConvergenceCriteria, fit: REMLFit, mc_cov: np.ndarray, shrink: float) -> ConvergenceCriteria:
    """Criteria of a fit resumed from the estimates with more probes: no EM step first, and the
    Newton decrement and relative Δθ at MC_SHARE of their Monte Carlo noise (expected with the
    new probes: `shrink` = √(P_old / P_new) times the old), when that is looser than asked.
    The noise of the decrement √(g'AI⁻¹g) is √tr(AI·Cov_MC(θ̂))."""
    free = np.isfinite(np.diag(mc_cov))
    if not free.any() or not np.all(np.isfinite(fit.covariance[np.ix_(free, free)])):
        return replace(criteria, em_iterations=0)
    ai = np.linalg.inv(fit.covariance[np.ix_(free, free)])
    noise_g = math.sqrt(max(float(np.trace(ai @ mc_cov[np.ix_(free, free)])), 0.0)) * shrink
    theta = fit.components.theta
    noise_p = math.sqrt(float(np.nansum(np.diag(mc_cov)[free]))) / float(np.linalg.norm(theta)) * shrink
    return replace(criteria, em_iterations=0, gradient_norm=max(criteria.gradient_norm, MC_SHARE * noise_g),
                   parameter_change=max(criteria.parameter_change, MC_SHARE * noise_p))


def _full(fit: REMLFit, objective, theta: np.ndarray) -> np.ndarray:
    """The Monte Carlo covariance over the full layout's parameters (NaN for those fixed at
    zero; all NaN when the final objective holds residual variances at their limit)."""
    m = len(fit.names)
    out = np.full((m, m), np.nan)
    if not isinstance(objective, Objective):
        return out
    cov = monte_carlo_covariance(objective, theta)
    where = [fit.names.index(name) for name in objective.layout.names]
    out[np.ix_(where, where)] = cov
    return out


def reml_solver(model: MixedModel, solver: str, memory_mb: float | None) -> tuple[str, str]:
    """The solver REML runs on for a model's `solver` setting: `auto` takes the exact one unless
    its factor would not fit in `memory_mb`, then PCG with sampled traces
    (:func:`henderson.solvers.solver_choice`). Returns (name, reason)."""
    return analysed_reml_solver(model, solver, memory_mb)[:2]


def analysed_reml_solver(model: MixedModel, solver: str, memory_mb: float | None) -> tuple[str, str, object]:
    """:func:`reml_solver`, with the CHOLMOD analysis of the model's equations that `auto` made
    to decide (a :class:`henderson.linalg.SparseCholesky`, for the exact solver's first objective:
    ``estimate(..., factor=...)``), or None where it made none."""
    if solver != "auto":
        return solver, f"solver {solver}" + (" with sampled traces (Monte Carlo REML)" if solver == "pcg" else ""), None
    if memory_mb is None:
        return "cholesky", "solver auto: cholesky (no memory limit given)", None
    from henderson.mme import Equations
    from henderson.solvers import solver_choice

    # dense genomic blocks kept out of the analysed pattern: then no factor comes back to reuse
    return solver_choice(Equations(model, operator=True), memory_mb, exact=True)


def pcg_options(pcg: Mapping[str, Any]) -> dict[str, Any]:
    """The `pcg:` block of a model as options of the PCG solver."""
    keys = {"tolerance": "tol", "max_iterations": "max_iter", "trace_tolerance": "trace_tolerance",
            "probe_block": "probe_block"}
    return {keys[k]: v for k, v in pcg.items() if k in keys}
