"""The columns of the input tables: the roles of the pedigree's columns, the codes of its sex
column, and the phenotype columns a model reads. Plain data without pandas, so that reading and
checking a config (which the workflow does at every start) costs no import of the numerics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from henderson.errors import ConfigError

__all__ = ["INTERCEPT", "PEDIGREE_COLUMNS", "PEDIGREE_OPTIONAL", "PEDIGREE_REQUIRED", "SEX_CODES", "ModelColumns", "check_labels"]

INTERCEPT = "mean"
"""The label reserved for the intercept of a model's fixed part: no column may carry it."""

PEDIGREE_REQUIRED = ("id", "sire", "dam")
PEDIGREE_OPTIONAL = ("birth_year", "birth_date", "sex")
PEDIGREE_COLUMNS = {role: role for role in (*PEDIGREE_REQUIRED, *PEDIGREE_OPTIONAL)}
"""Default column name of each pedigree role (the config's ``pedigree_columns``)."""

SEX_CODES = {"male": ("M", "MALE"), "female": ("F", "FEMALE")}
"""Default codes of the ``sex`` column (the config's ``sex_codes``), compared without case."""


@dataclass(frozen=True)
class ModelColumns:
    """The phenotype-table columns one model uses.

    ``traits`` are numeric responses; ``classes`` are categorical columns (fixed effects and the
    columns of iid/maternal random effects; levels are strings, and the ID column may be one of
    them, e.g. for a permanent-environment effect); ``covariates`` are numeric, continuous.
    ``optional``: (effect, column) of the random effects whose missing level keeps the record
    without a level of that effect (``missing: keep``; a zero row of Z). A missing value in any
    other class column drops the record. ``weights``: the record-weight column (one of
    ``covariates`` too, so it is read as a number); a missing, non-numeric or non-positive weight
    drops the record.
    """

    traits: tuple[str, ...]
    classes: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    optional: tuple[tuple[str, str], ...] = ()
    weights: str | None = None

    @property
    def optional_columns(self) -> tuple[str, ...]:
        """Class columns whose missing value keeps the record (see ``optional``)."""
        return tuple(dict.fromkeys(column for _, column in self.optional))

    @property
    def all_classes(self) -> tuple[str, ...]:
        """``classes`` and the columns of ``optional``, in that order, each once."""
        return tuple(dict.fromkeys((*self.classes, *self.optional_columns)))


def check_labels(
    fixed: Iterable[str], covariates: Iterable[str], random: Iterable[str], *, where: str
) -> None:
    """Raise :class:`ConfigError` when the effect labels of a model's solutions are ambiguous: a
    class effect, covariate or random effect named like the intercept (``mean``), or a random
    effect named like one of the model's fixed effects or covariates. ``where`` starts the
    message (e.g. ``"models.wwg"``)."""
    fixed, covariates, random = list(fixed), list(covariates), list(random)
    problems = []
    for kind, names in (("class effect", fixed), ("covariate", covariates)):
        if INTERCEPT in names:
            problems.append(
                f"the {kind} column '{INTERCEPT}' has the intercept's label in solutions.parquet; "
                "rename the column (e.g. 'mean_value') in the phenotype file and the config"
            )
    if INTERCEPT in random:
        problems.append(
            f"the random effect '{INTERCEPT}' has the intercept's label in solutions.parquet; "
            "rename the effect (e.g. `mean_r: {type: iid, column: mean}`)"
        )
    for name in sorted(set(random) & (set(fixed) | set(covariates))):
        problems.append(
            f"the random effect '{name}' has the name of a fixed effect or covariate, so its rows "
            f"in solutions.parquet could not be told apart; rename the random effect (e.g. "
            f"`{name}_r: {{type: iid, column: {name}}}`)"
        )
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems) + ".")
