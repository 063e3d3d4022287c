"""The clean stage: check the pedigree and the phenotypes against the models, and write what
was dropped or changed with the reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
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
from henderson.clean.crosscheck import compare_dams, compare_sexes
from henderson.clean.ids import is_decimal_column
from henderson.columns import PEDIGREE_COLUMNS, PEDIGREE_REQUIRED, check_labels
from henderson.errors import InputError
from henderson.io import read_table

log = logging.getLogger("henderson")


def _unknown_dams_missing(raw: pd.DataFrame, models: Mapping[str, Mapping], unknown_parent: Sequence[str]
                          ) -> pd.DataFrame:
    """The dam columns of maternal effects with the unknown-parent codes read as missing values,
    as the pedigree reads them: `missing: drop` then drops such records (with their reason) and
    `missing: keep` counts them as kept without a dam."""
    codes = [str(c).strip() for c in unknown_parent]
    dams = {c for block in models.values() for c in block.get("maternal", {}).values() if c in raw.columns}
    if not codes or not dams:
        return raw
    return raw.assign(**{c: raw[c].where(~raw[c].astype(str).str.strip().isin(codes), None) for c in dams})


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


def read_pedigree(
    path: str | Path, columns: Mapping[str, str] | Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a pedigree file, and the file's column name of each role.

    ``columns``: the config's ``pedigree_columns``: a mapping of roles (id, sire, dam,
    birth_year, birth_date, sex) to the header's names, or a list naming the columns of a file
    without a header (role names for the columns to use), or ``None`` (the default names).
    """
    if columns is None or isinstance(columns, Mapping):
        names = {**PEDIGREE_COLUMNS, **(columns or {})}
        return read_table(path, names_key="pedigree_columns", example=PEDIGREE_REQUIRED), names
    raw = read_table(path, list(columns), names_key="pedigree_columns")
    return raw, dict(PEDIGREE_COLUMNS)


def read_phenotypes(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read the phenotype file; ``columns`` (the config's ``phenotype_columns``) names the
    columns of a file without a header."""
    return read_table(
        path, None if columns is None else list(columns), names_key="phenotype_columns",
        example=("id",),
    )


def clean_pedigree_stage(
    pedigree_path: str | Path,
    phenotypes_path: str | Path,
    *,
    id_column: str,
    unknown_parent: tuple[str, ...] | list[str],
    sexes: str = "separate",
    pedigree_columns: Mapping[str, str] | Sequence[str] | None = None,
    phenotype_columns: Sequence[str] | None = None,
    sex_codes: Mapping[str, Sequence[str]] | None = None,
    group_codes: Sequence[str] = (),
) -> CleanedPedigree:
    """Check the pedigree; add parents and phenotyped animals missing from it as founders.
    ``group_codes``: explicit unknown parent group codes, which are not animals
    (:func:`henderson.clean.pedigree.clean_pedigree`).

    Phenotyped IDs are put in the canonical form the phenotype stage gives them (see
    :func:`~henderson.clean.cells.normalise_ids`); ``sexes`` is the config's switch
    (``separate`` or ``monoecious``); ``pedigree_columns``, ``phenotype_columns`` and
    ``sex_codes`` are the config's keys (see :func:`read_pedigree`). Every warning of the
    summary is logged.
    """
    start = time.perf_counter()
    raw, names = read_pedigree(pedigree_path, pedigree_columns)
    phen = read_phenotypes(phenotypes_path, phenotype_columns)
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
        columns=names,
        sex_codes=sex_codes,
        group_codes=group_codes,
    )
    for warning in result.summary["warnings"]:
        log.warning("%s", warning)
    log.info("pedigree: %d animals after cleaning (%.2f s)", len(result.table), time.perf_counter() - start)
    return result


def clean_phenotypes_stage(
    phenotypes_path: str | Path,
    *,
    id_column: str,
    models: Mapping[str, Mapping],
    phenotype_columns: Sequence[str] | None = None,
    pedigree_path: str | Path | None = None,
    pedigree_file: str = "the pedigree",
    unknown_parent: Sequence[str] = (),
    sex_column: str = "sex",
    sex_codes: Mapping[str, Sequence[str]] | None = None,
) -> CleanedPhenotypes:
    """Check the phenotype table against every model's columns; find each model's rejected rows.

    With the cleaned pedigree (``pedigree_path``, results/clean/pedigree.parquet, from
    ``pedigree_file``), the dam column of each maternal effect and the phenotype column named
    ``sex_column`` are compared with the pedigree (:mod:`henderson.clean.crosscheck`): a dam
    disagreement is a warning of the model (``models.<m>.warnings``, counts under
    ``models.<m>.dam_check``), a sex disagreement an overall warning. Logs, per model, the
    records kept, dropped (by reason) and kept without a level of a random effect, and every
    warning."""
    for name, block in models.items():
        check_labels(block.get("fixed", ()), block["covariates"], block.get("random", ()),
                     where=f"models.{name}")
    raw = _unknown_dams_missing(read_phenotypes(phenotypes_path, phenotype_columns), models, unknown_parent)
    columns = _columns(models)
    source = Path(phenotypes_path).name
    check_model_columns(list(raw.columns), source=source, id_column=id_column, models=columns)
    result = clean_phenotypes(raw, source=source, id_column=id_column, models=columns)
    if pedigree_path is not None:
        result = _against_pedigree(
            result, pd.read_parquet(pedigree_path), id_column=id_column, models=models,
            source=source, pedigree_file=pedigree_file, unknown_parent=unknown_parent,
            sex_column=sex_column, sex_codes=sex_codes,
        )
    log.info("phenotypes: %d rows read, %d with an ID", len(raw), len(result.table))
    for warning in result.summary["warnings"]:
        log.warning("%s", warning)
    for name, counts in result.summary["models"].items():
        for warning in counts["warnings"]:
            log.warning("model %s: %s", name, warning)
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


def _against_pedigree(
    result: CleanedPhenotypes,
    pedigree: pd.DataFrame,
    *,
    id_column: str,
    models: Mapping[str, Mapping],
    source: str,
    pedigree_file: str,
    unknown_parent: Sequence[str],
    sex_column: str,
    sex_codes: Mapping[str, Sequence[str]] | None,
) -> CleanedPhenotypes:
    """``result`` with the warnings of the comparison of its dams and sexes with the pedigree."""
    summary = dict(result.summary)
    summary["models"] = {name: dict(counts) for name, counts in summary["models"].items()}
    for name, block in models.items():
        entry = summary["models"][name]
        for effect, column in block.get("maternal", {}).items():
            counts, warning = compare_dams(
                result.table, pedigree, id_column=id_column, column=column,
                unknown_parent=unknown_parent, source=source, pedigree_source=pedigree_file,
                what=f"maternal effect {effect!r} of model {name!r}",
            )
            entry["dam_check"] = counts
            if warning:
                entry["warnings"] = [*entry["warnings"], warning]
    if "sex" in pedigree.columns and sex_column in result.table.columns:
        _, warning = compare_sexes(
            result.table, pedigree, id_column=id_column, column=sex_column,
            sex_codes=sex_codes, source=source, pedigree_source=pedigree_file,
        )
        if warning:
            summary["warnings"] = [*summary["warnings"], warning]
    return replace(result, summary=summary)


def summarise_clean(
    pedigree: tuple[pd.DataFrame, dict] | None, phenotypes: CleanedPhenotypes
) -> tuple[pd.DataFrame, dict]:
    """All rejected rows (pedigree and phenotypes) and the clean stage's summary."""
    cleaned = None
    if pedigree is not None:
        cleaned = CleanedPedigree(table=pd.DataFrame(), rejected=pedigree[0], summary=pedigree[1])
    rejected = combine_rejected(cleaned.rejected if cleaned else None, phenotypes.rejected)
    return rejected, clean_summary(cleaned, phenotypes)


