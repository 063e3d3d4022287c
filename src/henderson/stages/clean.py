"""The clean stage: check the pedigree and the phenotypes against the models, and write what
was dropped or changed with the reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from henderson.clean import (
    CleanedPedigree,
    CleanedPhenotypes,
    ModelColumns,
    check_model_columns,
    clean_pedigree,
    clean_phenotypes,
    clean_summary,
    combine_rejected,
)
from henderson.config import ModelSpec
from henderson.errors import InputError
from henderson.io import read_table

log = logging.getLogger("henderson")


def _columns(models: Mapping[str, Mapping]) -> dict[str, ModelColumns]:
    return {
        name: ModelColumns(
            traits=tuple(c["traits"]), classes=tuple(c["classes"]), covariates=tuple(c["covariates"])
        )
        for name, c in models.items()
    }


def model_columns_params(models: Mapping[str, ModelSpec]) -> dict[str, dict[str, list[str]]]:
    """The columns each model reads, as plain data (a rule param of the clean stage)."""
    return {
        name: {
            "traits": list(spec.columns.traits),
            "classes": list(spec.columns.classes),
            "covariates": list(spec.columns.covariates),
        }
        for name, spec in models.items()
    }


def clean_pedigree_stage(
    pedigree_path: str | Path,
    phenotypes_path: str | Path,
    *,
    id_column: str,
    unknown_parent: tuple[str, ...] | list[str],
) -> CleanedPedigree:
    """Check the pedigree; add parents and phenotyped animals missing from it as founders."""
    start = time.perf_counter()
    raw = read_table(pedigree_path)
    phen = read_table(phenotypes_path)
    if id_column not in phen.columns:
        raise InputError(
            f"{phenotypes_path}: no id column '{id_column}'; columns are {list(phen.columns)}. "
            "Set `id_column:` in the config."
        )
    ids = phen[id_column]
    result = clean_pedigree(
        raw, source=Path(pedigree_path).name, unknown_parent=list(unknown_parent), phenotype_ids=ids[ids != ""]
    )
    log.info("pedigree: %d animals after cleaning (%.2f s)", len(result.table), time.perf_counter() - start)
    return result


def clean_phenotypes_stage(
    phenotypes_path: str | Path, *, id_column: str, models: Mapping[str, Mapping]
) -> CleanedPhenotypes:
    """Check the phenotype table against every model's columns; find each model's rejected rows."""
    raw = read_table(phenotypes_path)
    columns = _columns(models)
    source = Path(phenotypes_path).name
    check_model_columns(list(raw.columns), source=source, id_column=id_column, models=columns)
    result = clean_phenotypes(raw, source=source, id_column=id_column, models=columns)
    log.info("phenotypes: %d rows read, %d kept", len(raw), len(result.table))
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


