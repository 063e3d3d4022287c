"""Prediction error variances and reliabilities by one of three methods, chosen per model:

* ``exact``: diag(C⁻¹) from the selected inverse of the Cholesky factor (the solver's own);
* ``approximate``: effective record contributions propagated through the pedigree
  (:mod:`henderson.reliability.approximate`); no inverse, seconds for millions of animals;
* ``sampled``: PEV from data simulated at the variances and solved by the model's solver
  (:mod:`henderson.reliability.sampled`), with a Monte Carlo SE per level;
* ``auto``: exact when the solver factorises, approximate otherwise — sampled when a term has a
  genomic relationship (G*, H, APY), which has no approximation; ``approximate`` asked for such
  a model gives sampled too (logged; the summary's ``reason`` says so).
"""

from __future__ import annotations

import logging

import numpy as np

from henderson.errors import ConfigError, NumericalError
from henderson.model import MixedModel
from henderson.reliability.approximate import (
    approximate_inverse_diagonal,
    prior_variances,
)
from henderson.reliability.links import PedigreeLinks, is_genomic, pedigree_links
from henderson.reliability.sampled import SampledPEV, sampled_inverse_diagonal

__all__ = [
    "METHODS",
    "PedigreeLinks",
    "SampledPEV",
    "approximate_inverse_diagonal",
    "inverse_diagonal",
    "pedigree_links",
    "prior_variances",
    "sampled_inverse_diagonal",
]

METHODS = ("auto", "exact", "approximate", "sampled")
SEED = 1  # of the sampled data sets: the same input gives the same reliabilities

_LOG = logging.getLogger("henderson")


def inverse_diagonal(method: str, objective, theta: np.ndarray, *, samples: int = 200
                     ) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """diag(C⁻¹) of `objective`'s model at θ (after ``objective.solution(theta)``) by `method`
    (module docstring). Returns (diagonal (N,) or None, Monte Carlo SE of the reliabilities (N,)
    for ``sampled`` else None, a summary: method, the reason when it is not the one asked for
    (or, for ``auto``, when it is sampled or none), and for ``sampled`` samples, seed, mean MC SE
    of the reliabilities, seconds and solver iterations)."""
    if method not in METHODS:
        raise ConfigError(f"reliability: {method!r} is not one of {list(METHODS)}.")
    solver = getattr(getattr(objective, "inner", objective), "solver", None)
    exact_available = bool(getattr(solver, "exact", False))
    asked = method
    if method == "auto":
        method = "exact" if exact_available else "approximate"
    if method == "exact":
        diag = objective.inverse_diagonal(theta)
        return diag, None, {"method": "exact" if diag is not None else "none"}
    if hasattr(objective, "inner"):  # a residual variance held at zero: no model to sample from
        _LOG.warning("reliability %s: a residual variance is zero; %s", method,
                     "exact values instead" if exact_available else "no reliabilities")
        diag = objective.inverse_diagonal(theta) if exact_available else None
        return diag, None, {"method": "exact" if diag is not None else "none"}
    model: MixedModel = objective.model
    vc = objective.components(theta)
    genomic = [term.name for term in model.terms if is_genomic(term.relationship)]
    reason = None
    if method == "approximate" and genomic:
        reason = (f"approximate reliabilities are not available for the genomic relationship of {', '.join(genomic)}: "
                  f"sampled ({samples} samples) instead")
        _LOG.info("reliability %s: %s", asked, reason)
        method = "sampled"
    try:
        approx = approximate_inverse_diagonal(model, vc, genomic_pilot=bool(genomic))
    except NumericalError as error:
        _LOG.warning("reliability %s: %s No reliabilities.", method, error)
        return None, None, {"method": "none", "reason": str(error)}
    if method == "approximate":
        _LOG.info("reliabilities approximated from effective record contributions through the pedigree")
        return approx, None, {"method": "approximate"}
    objective.solution(theta)  # the solver holds C at θ
    before = len(getattr(solver, "iterations", []))
    try:
        result = sampled_inverse_diagonal(model, vc, objective.equations, solver, samples=samples, seed=SEED,
                                          pilot=approx)
    except NumericalError as error:
        if genomic:  # the pilot of a genomic term is no approximation to report
            _LOG.warning("reliability sampled: %s No reliabilities.", error)
            return None, None, {"method": "none", "reason": f"sampled refused: {error}"}
        _LOG.warning("reliability sampled: %s Approximate reliabilities instead.", error)
        return approx, None, {"method": "approximate", "reason": f"sampled refused: {error}"}
    info = {"method": "sampled", "samples": int(samples), "seed": SEED, "seconds": round(result.seconds, 3)}
    if reason is not None:
        info["reason"] = reason
    if hasattr(solver, "iterations"):
        info["iterations"] = int(sum(solver.iterations[before:]))
        del solver.iterations[before:], solver.residuals[before:]
    prior = prior_variances(model, vc)
    mc_se = result.mc_se / prior
    info["mean_mc_se"] = float(np.nanmean(mc_se)) if np.isfinite(mc_se).any() else None
    _LOG.info("reliabilities from %d sampled data sets (%.1f s): mean Monte Carlo SE %.4f", samples,
              result.seconds, info["mean_mc_se"] or float("nan"))
    return result.diagonal, mc_se, info
