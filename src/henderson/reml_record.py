"""The record of a REML fit: what it is told (convergence criteria) and what it returns (the fit
record), the `variance_components.json` document written from it and read back as a typed
record (without importing the estimation code: the report reads it)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from henderson.covariance import Layout, VarianceComponents, json_ratios
from henderson.errors import ConfigError

__all__ = [
    "ComponentsRecord",
    "ConvergenceCriteria",
    "REMLFit",
    "components_json",
    "given_components_json",
    "read_components",
]

# An event that can recur every iteration (a fallback, a halving) is logged and listed in the
# messages this many times per fit; later ones are counted and summarised at the end.
REPEATS = 3


@dataclass(frozen=True)
class ConvergenceCriteria:
    """When an iterative REML fit stops.

    The fit has converged after an iteration (step) when all of these hold:

    * ``|logL_new - logL_old| < loglik_change`` (skipped where the solver has no logL);
    * ``‖θ_new - θ_old‖ / ‖θ_new‖ < parameter_change`` (over the full parameter vector);
    * for ``method="ai"`` only: the Newton decrement ``√(g' H⁻¹ g)`` is below ``gradient_norm``:
      with H the average information in θ, or — for a covariance matrix at the edge of the
      parameter space, where the gradient in θ does not vanish — in the Cholesky
      parameterisation of the matrices (G0 = LL'), where a boundary optimum is a stationary
      point. ½ of its square is the rise of logL a full Newton step would give.

    No convergence is declared in an iteration that fixed a parameter at the boundary.

    Attributes:
        max_iterations: cap on the number of steps; reaching it ends the fit with
            ``converged=False`` and a message.
        loglik_change, parameter_change, gradient_norm: thresholds above.
        em_iterations: EM steps taken before the AI steps start (``method="ai"`` only).
        boundary: a variance (of a random component or of a trait's residual) is fixed at zero
            when it falls below ``boundary × σ²p`` of its trait while the quadratic (AI) model of
            logL puts its maximum at or below zero; at convergence the decision is checked once
            (the score just off zero, at 0.01 × boundary × σ²p), and a variance whose logL still
            rises away from zero is re-admitted. A covariance matrix whose correlation matrix has
            an eigenvalue below ``boundary`` (|r| → 1) is reported at the boundary.
    """

    max_iterations: int = 100
    loglik_change: float = 1e-7
    parameter_change: float = 1e-6
    gradient_norm: float = 1e-4
    em_iterations: int = 1
    boundary: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("max_iterations", "em_iterations"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"reml convergence criterion {name} must be an integer >= 0, got {value!r}.")
        if self.max_iterations < 1:
            raise ConfigError("reml convergence criterion max_iterations must be at least 1.")
        for name in ("loglik_change", "parameter_change", "gradient_norm", "boundary"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not value > 0 or not math.isfinite(value):
                raise ConfigError(f"reml convergence criterion {name} must be a positive number, got {value!r}.")


@dataclass(frozen=True, eq=False)
class REMLFit:
    """Record of a REML fit.

    components: the estimates over the full model's layout (0 for variances and covariances
    fixed at the boundary); se and covariance: √diag and AI⁻¹ at the estimates (θ order, NaN for
    parameters fixed at the boundary or when AI is singular); fixed: parameters fixed at zero;
    boundary: names of parameters at the boundary (fixed at zero, or covariances of a singular
    matrix); trace: one row per iteration (0 = start): iteration, step, log_likelihood, one column
    per parameter; messages: warnings (events that recur are listed 3 times, then counted);
    not_identifiable: parameters the data cannot separate (the fit is then not converged and has
    no standard errors).
    log_likelihood is None when the solver has none. monte_carlo_se: for sampled traces
    (:mod:`henderson.reml.stochastic`), the Monte Carlo SE of every estimate (θ order), and
    monte_carlo the settings and outcome of the sampling (probes, seed, target, ratio); None
    for exact traces.
    """

    method: str
    converged: bool
    iterations: int
    log_likelihood: float | None
    components: VarianceComponents
    se_vector: np.ndarray
    covariance: np.ndarray
    fixed: np.ndarray
    boundary: tuple[str, ...]
    trace: pd.DataFrame
    criteria: ConvergenceCriteria
    messages: tuple[str, ...]
    solver: str = "cholesky"
    not_identifiable: tuple[str, ...] = ()
    monte_carlo_se: np.ndarray | None = None
    monte_carlo: dict[str, Any] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return self.components.names

    @property
    def values(self) -> dict[str, float]:
        """Every parameter by name."""
        return dict(zip(self.names, (float(v) for v in self.components.theta)))

    @property
    def se(self) -> dict[str, float]:
        return dict(zip(self.names, (float(v) for v in self.se_vector)))

    @property
    def ratios(self) -> dict[str, Any]:
        return self.components.ratios(self.covariance, self.fixed)


def components_json(fit: REMLFit) -> dict[str, Any]:
    """`variance_components.json`: method, converged, iterations, log_likelihood, (traits),
    variances, (covariances), se, ratios, boundary, messages, criteria, solver; NaN → None. With
    sampled traces also `monte_carlo_se` (by parameter, beside `se` in `parameters`) and
    `monte_carlo` (probes, seed, target, ratio)."""
    parts = fit.components.to_json(fit.se_vector)
    out: dict[str, Any] = {
        "method": fit.method,
        "converged": bool(fit.converged),
        "iterations": int(fit.iterations),
        "log_likelihood": _num(fit.log_likelihood),
        **parts,
        "ratios": json_ratios(fit.ratios),
        "parameters": _parameters(fit.components, fit.se_vector),
        "boundary": list(fit.boundary),
        "not_identifiable": list(fit.not_identifiable),
        "messages": list(fit.messages),
        "criteria": asdict(fit.criteria),
        "solver": fit.solver,
    }
    if fit.monte_carlo_se is not None:
        mcse = {name: _num(v) for name, v in zip(fit.names, fit.monte_carlo_se)}
        out["monte_carlo_se"] = mcse
        for name, entry in out["parameters"].items():
            entry["monte_carlo_se"] = mcse[name]
        out["monte_carlo"] = dict(fit.monte_carlo or {})
    return out


def given_components_json(vc: VarianceComponents, log_likelihood: float | None = None) -> dict[str, Any]:
    """`variance_components.json` for variances used as given: no estimation, no SEs."""
    parts = vc.to_json()
    parts["se"] = {}
    ratios = json_ratios(vc.ratios())
    parts["parameters"] = _parameters(vc, None)
    return {
        "method": "none",
        "converged": None,
        "iterations": 0,
        "log_likelihood": _num(log_likelihood),
        **parts,
        "ratios": ratios,
        "boundary": [],
        "messages": [],
    }


def _parameters(vc: VarianceComponents, se: np.ndarray | None) -> dict[str, dict[str, float | None]]:
    """Every parameter by name, in θ order: {"estimate", "se"}."""
    se = np.full(len(vc.names), np.nan) if se is None else se
    return {name: {"estimate": _num(v), "se": _num(s)} for name, v, s in zip(vc.names, vc.theta, se)}


@dataclass(frozen=True, eq=False)
class ComponentsRecord:
    """`variance_components.json` read back as typed values (for the report): the components
    on the model's layout, their SEs in θ order (NaN: none) and the fit's record."""

    method: str
    converged: bool | None
    iterations: int
    log_likelihood: float | None
    components: VarianceComponents
    se: np.ndarray
    ratios: dict[str, Any]
    boundary: tuple[str, ...]
    messages: tuple[str, ...]
    criteria: dict[str, Any] | None
    solver: str | None
    not_identifiable: tuple[str, ...] = ()
    monte_carlo_se: np.ndarray | None = None

    @property
    def estimated(self) -> bool:
        return self.method != "none"


def read_components(layout: Layout, content: dict[str, Any]) -> ComponentsRecord:
    """The record of a `variance_components.json` written for a model with this layout."""
    params = content.get("parameters")
    names = layout.names
    if not isinstance(params, dict) or set(params) != set(names):
        raise ConfigError(
            "variance_components.json does not match the model (parameters "
            f"{sorted(params) if isinstance(params, dict) else None}, expected {sorted(names)}); rerun the "
            "variance stage."
        )

    def num(value: Any) -> float:
        return float("nan") if value is None else float(value)

    theta = np.array([num(params[n]["estimate"]) for n in names])
    se = np.array([num(params[n]["se"]) for n in names])
    mcse = np.array([num(params[n].get("monte_carlo_se")) for n in names]) if "monte_carlo_se" in content else None
    return ComponentsRecord(
        method=content["method"],
        converged=content.get("converged"),
        iterations=int(content.get("iterations", 0)),
        log_likelihood=content.get("log_likelihood"),
        components=VarianceComponents.from_theta(layout, theta),
        se=se,
        ratios=content.get("ratios", {}),
        boundary=tuple(content.get("boundary", ())),
        messages=tuple(content.get("messages", ())),
        criteria=content.get("criteria"),
        solver=content.get("solver"),
        not_identifiable=tuple(content.get("not_identifiable", ())),
        monte_carlo_se=mcse,
    )


def _num(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


class Notes:
    """The warnings of one fit: logged and kept for :attr:`REMLFit.messages`. An event that can
    recur every iteration has a `kind`; each kind is logged and kept only the first `REPEATS`
    times (later ones go to the DEBUG log) and counted per `reason` for a summary."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.messages: list[str] = []
        self.counts: dict[str, dict[str, int]] = {}

    def warn(self, text: str) -> None:
        self.log.warning(text)
        self.messages.append(text)

    def event(self, kind: str, text: str, *, reason: str = "", level: int = logging.WARNING, keep: bool = True) -> None:
        reasons = self.counts.setdefault(kind, {})
        reasons[reason] = reasons.get(reason, 0) + 1
        if sum(reasons.values()) > REPEATS:
            self.log.debug(text)
            return
        self.log.log(level, text)
        if keep:
            self.messages.append(text)

    def count(self, kind: str) -> int:
        return sum(self.counts.get(kind, {}).values())

    def breakdown(self, kind: str) -> str:
        items = sorted(self.counts.get(kind, {}).items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{reason}: {n}" for reason, n in items if reason)
