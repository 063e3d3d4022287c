"""The clean stage: check the pedigree and the phenotypes against the models, and write what
was dropped or changed with the reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from henderson.clean import (
    MISSING_VALUES,
    CleanedPedigree,
    CleanedPhenotypes,
    ModelColumns,
    check_model_columns,
    clean_pedigree,
    clean_phenotypes,
    clean_summary,
    combine_rejected,
)
from henderson.clean.cells import float_columns, normalise_ids
from henderson.clean.ids import is_decimal_column
from henderson.config import ModelSpec
from henderson.design import check_labels
from henderson.errors import InputError
from henderson.io import read_table

log = logging.getLogger("henderson")


def _columns(models: Mapping[str, Mapping]) -> dict[str, ModelColumns]:
    return {
        name: ModelColumns(
            traits=tuple(c["traits"]),
            classes=tuple(c["classes"]),
            covariates=tuple(c["covariates"]),
            optional=tuple((effect, column) for effect, column in c.get("optional", {}).items()),
        )
        for name, c in models.items()
    }


def model_columns_params(models: Mapping[str, ModelSpec]) -> dict[str, dict]:
    """The columns each model reads, as plain data (a rule param of the clean stage):
    ``traits``, ``classes``, ``covariates``, ``optional`` ({effect: column} of the random effects
    with ``missing: keep``), and the labels ``fixed`` and ``random`` (effect names)."""
    return {
        name: {
            "traits": list(spec.columns.traits),
            "classes": list(spec.columns.classes),
            "covariates": list(spec.columns.covariates),
            "optional": dict(spec.columns.optional),
            "fixed": list(spec.fixed),
            "random": [e.name for e in spec.random],
        }
        for name, spec in models.items()
    }


def clean_pedigree_stage(
    pedigree_path: str | Path,
    phenotypes_path: str | Path,
    *,
    id_column: str,
    unknown_parent: tuple[str, ...] | list[str],
    sexes: str = "separate",
) -> CleanedPedigree:
    """Check the pedigree; add parents and phenotyped animals missing from it as founders.

    Phenotyped IDs are put in the canonical form the phenotype stage gives them (see
    :func:`~henderson.clean.cells.normalise_ids`); ``sexes`` is the config's switch
    (``separate`` or ``monoecious``). Every warning of the summary is logged.
    """
    start = time.perf_counter()
    raw = read_table(pedigree_path)
    phen = read_table(phenotypes_path)
    if id_column not in phen.columns:
        raise InputError(
            f"{phenotypes_path}: no id column '{id_column}'; columns are {list(phen.columns)}. "
            "Set `id_column:` in the config."
        )
    decimal = id_column in float_columns(phen) or is_decimal_column(phen[id_column], MISSING_VALUES)
    ids = normalise_ids(phen[id_column], from_float=decimal)
    ids = ids[~ids.isin(MISSING_VALUES)]
    result = clean_pedigree(
        raw,
        source=Path(pedigree_path).name,
        unknown_parent=list(unknown_parent),
        phenotype_ids=ids,
        sexes=sexes,
        phenotype_source=f"{Path(phenotypes_path).name}, column '{id_column}'",
    )
    for warning in result.summary["warnings"]:
        log.warning("%s", warning)
    log.info("pedigree: %d animals after cleaning (%.2f s)", len(result.table), time.perf_counter() - start)
    return result


def clean_phenotypes_stage(
    phenotypes_path: str | Path, *, id_column: str, models: Mapping[str, Mapping]
) -> CleanedPhenotypes:
    """Check the phenotype table against every model's columns; find each model's rejected rows.
    Logs, per model, the records kept, dropped (by reason) and kept without a level of a random
    effect, and a warning per numeric column that lost values."""
    for name, block in models.items():
        check_labels(block.get("fixed", ()), block["covariates"], block.get("random", ()),
                     where=f"models.{name}")
    raw = read_table(phenotypes_path)
    columns = _columns(models)
    source = Path(phenotypes_path).name
    check_model_columns(list(raw.columns), source=source, id_column=id_column, models=columns)
    result = clean_phenotypes(raw, source=source, id_column=id_column, models=columns)
    log.info("phenotypes: %d rows read, %d with an ID", len(raw), len(result.table))
    for warning in result.summary["warnings"]:
        log.warning("%s", warning)
    for name, counts in result.summary["models"].items():
        reasons = ", ".join(f"{reason}: {n}" for reason, n in counts["by_reason"].items())
        log.info(
            "model %s: %d records kept, %d dropped, %d values set missing%s", name,
            counts["records"], counts["dropped"], counts["set_missing"],
            f" ({reasons})" if reasons else "",
        )
        for effect, n in counts["kept_without_level"].items():
            log.info("model %s: records kept without a level of %s: %d", name, effect, n)
        if counts["records"] == 0:
            log.warning("model %s: no records left; see results/clean/rejected.parquet", name)
    return result


def summarise_clean(
    pedigree: tuple[pd.DataFrame, dict] | None, phenotypes: CleanedPhenotypes
) -> tuple[pd.DataFrame, dict]:
    """All rejected rows (pedigree and phenotypes) and the clean stage's summary."""
    cleaned = None
    if pedigree is not None:
        cleaned = CleanedPedigree(table=pd.DataFrame(), rejected=pedigree[0], summary=pedigree[1])
    rejected = combine_rejected(cleaned.rejected if cleaned else None, phenotypes.rejected)
    return rejected, clean_summary(cleaned, phenotypes)


