"""REML estimation of the variance components of any mixed model (:mod:`henderson.model`):
the objective at θ (:mod:`.objective`), EM and AI steps (:mod:`.steps`), the boundary rule
(:mod:`.boundary`), starting values (:mod:`.start`), the fit loop (:mod:`.fit`) and its record
(:mod:`henderson.reml_record`)."""

from henderson.reml.fit import (
    METHODS,
    estimate,
    fit_reml,
    reml_loglik,
    start_components,
)
from henderson.reml.objective import Evaluation, Objective
from henderson.reml.start import default_start
from henderson.reml_record import (
    ComponentsRecord,
    ConvergenceCriteria,
    REMLFit,
    components_json,
    given_components_json,
    read_components,
)

__all__ = [
    "METHODS",
    "ComponentsRecord",
    "ConvergenceCriteria",
    "Evaluation",
    "Objective",
    "REMLFit",
    "components_json",
    "default_start",
    "estimate",
    "fit_reml",
    "given_components_json",
    "read_components",
    "reml_loglik",
    "start_components",
]
