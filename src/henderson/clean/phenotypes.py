"""Phenotype cleaning: the columns each model reads, missing codes, and each model's records.

`clean_phenotypes` drops rows without an ID; `model_records` (also used by the model stage)
selects the records one model can use and lists the others in a ``rejected`` table: a missing
or non-numeric value drops the record or, for one value of a multi-trait record, sets it missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from henderson.clean.cells import MISSING_VALUES, _lines_of, _missing_mask, _q
from henderson.clean.rejected import (
    _count_reasons,
    _empty_rejected,
    _rejected_frame,
    combine_rejected,
)
from henderson.errors import ConfigError, InputError


@dataclass(frozen=True)
class ModelColumns:
    """The phenotype-table columns one model uses.

    ``traits`` are numeric responses; ``classes`` are categorical columns (fixed effects and the
    columns of iid/maternal random effects; levels are strings, and the ID column may be one of
    them, e.g. for a permanent-environment effect); ``covariates`` are numeric, continuous.
    """

    traits: tuple[str, ...]
    classes: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanedPhenotypes:
    """A phenotype table with valid IDs, and what each model rejects from it.

    ``table``: the rows with an ID; columns ``line`` (int64 source line), the ID column, then the
    other original columns in input order, all as strings (object dtype) with every code of
    :data:`MISSING_VALUES` replaced by ``None``. :func:`model_records` reads it.
    ``rejected``: :data:`REJECTED_COLUMNS`; rows without an ID have ``model`` null, the others
    carry the model name.
    ``summary``: ``{"file", "rows", "kept", "models": {name: {"records", "animals_with_records",
    "dropped", "set_missing", "by_reason": {reason: count}}}}``.
    """

    table: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


def check_model_columns(
    columns: Sequence[str], *, source: str, id_column: str, models: Mapping[str, ModelColumns]
) -> None:
    """Raise :class:`ConfigError` when the ID column or a column a model names is not in the
    table, when a model names no trait, or when a column has two roles in one model (the ID
    column may also be a class column). Runs before any work on the rows."""
    present = [str(c) for c in columns]
    listing = ", ".join(_q(c) for c in present) or "(none)"
    problems = []
    if id_column not in present:
        problems.append(f"the ID column {_q(id_column)} (id_column) is not in the table")
    for name, cols in models.items():
        if not cols.traits:
            problems.append(f"model {_q(name)} names no trait")
        roles: dict[str, str] = {}
        for role, names in (("trait", cols.traits), ("class", cols.classes),
                            ("covariate", cols.covariates)):
            for column in names:
                if column not in present:
                    problems.append(
                        f"model {_q(name)}: {role} column {_q(column)} is not in the table"
                    )
                if column == id_column and role != "class":
                    problems.append(
                        f"model {_q(name)}: the ID column {_q(column)} cannot be a {role}"
                    )
                elif roles.get(column, role) != role:
                    problems.append(
                        f"model {_q(name)}: column {_q(column)} is both a {roles[column]} "
                        f"and a {role}"
                    )
                roles.setdefault(column, role)
    if problems:
        raise ConfigError(
            f"{source}: {'; '.join(problems)}. Columns present: {listing}. "
            "Correct the column names in the config or the header of the file."
        )


def clean_phenotypes(
    raw: pd.DataFrame, *, source: str, id_column: str, models: Mapping[str, ModelColumns]
) -> CleanedPhenotypes:
    """Normalise missing codes, drop rows without an ID, and apply each model's record rules.

    ``raw``: a table from ``read_table`` (strings, index = source line). Rows whose ID is one of
    :data:`MISSING_VALUES` are rejected for every model (``model`` null, reason "missing id");
    each model's rejections come from :func:`model_records`, the function the model stage uses.
    """
    check_model_columns(raw.columns, source=source, id_column=id_column, models=models)
    if "line" in raw.columns:
        raise InputError(
            f"{source}: the column name 'line' is reserved for source line numbers; rename it."
        )
    lines = _lines_of(raw)
    missing = raw.isna() | raw.isin(MISSING_VALUES)
    values = raw.astype(object).where(~missing, None)
    no_id = missing[id_column].to_numpy(dtype=bool)

    rejected_parts = [
        _rejected_frame(
            source, lines[no_id], np.full(int(no_id.sum()), None, dtype=object), None,
            "dropped", "missing id", f"column {id_column}: missing",
        )
    ]
    order = [id_column] + [c for c in raw.columns if c != id_column]
    table = values.loc[~no_id, order].reset_index(drop=True)
    table.insert(0, "line", lines[~no_id])

    model_summaries = {}
    for name, cols in models.items():
        records, rejected = model_records(table, cols, source=source, model=name)
        rejected_parts.append(rejected)
        dropped = rejected["action"] == "dropped"
        model_summaries[name] = {
            "records": len(records),
            "animals_with_records": int(records[id_column].nunique()),
            "dropped": int(dropped.sum()),
            "set_missing": int((rejected["action"] == "set missing").sum()),
            "by_reason": _count_reasons(rejected),
        }
    summary = {
        "file": source,
        "rows": len(raw),
        "kept": len(table),
        "models": model_summaries,
    }
    return CleanedPhenotypes(
        table=table, rejected=combine_rejected(*rejected_parts), summary=summary
    )


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def model_records(
    table: pd.DataFrame,
    columns: ModelColumns,
    *,
    source: str,
    model: str,
    id_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records one model uses, and that model's rejected rows.

    ``table`` is :attr:`CleanedPhenotypes.table` (``line`` first, then the ID column, which is
    where ``id_column`` is taken from when not given). A row is kept when every class and
    covariate column is present (covariates finite numbers) and at least one trait is a finite
    number. Single trait: a missing or non-numeric trait drops the row. Multi-trait: a
    non-numeric value is set missing (one ``"set missing"`` row per value) and the record kept
    when another trait remains; a record with no trait left is dropped. A dropped row is
    reported once, with the first reason in column order (classes, covariates, traits) and
    every fault in ``detail``.

    Returns ``records`` (n_kept rows, input order): ``line`` (int64), the ID column and class
    columns (str), traits and covariates (float64, NaN = missing), and ``rejected``
    (:data:`REJECTED_COLUMNS`, ``model`` = ``model``).
    """
    if id_column is None:
        if len(table.columns) < 2 or table.columns[0] != "line":
            raise ConfigError(
                f"{source}: model {_q(model)}: the table is not a cleaned phenotype table "
                "(expected columns 'line', then the ID column); run clean_phenotypes first."
            )
        id_column = str(table.columns[1])
    check_model_columns(
        [c for c in table.columns if c != "line"], source=source, id_column=id_column,
        models={model: columns},
    )
    n = len(table)
    lines = table["line"].to_numpy(dtype=np.int64)
    ids = table[id_column].to_numpy(dtype=object)
    classes = _unique(columns.classes)
    traits = _unique(columns.traits)
    covariates = _unique(columns.covariates)

    reason = np.full(n, None, dtype=object)
    detail = np.full(n, "", dtype=object)
    drop = np.zeros(n, dtype=bool)

    def note(mask: np.ndarray, why: str, text: Any) -> None:
        nonlocal drop
        first = mask & ~drop
        reason[first] = why
        add(mask, text)
        drop |= mask

    def add(mask: np.ndarray, text: Any) -> None:
        """Append ``text`` (a string, or a function of the row mask) to the rows' detail."""
        if not mask.any():
            return
        piece = text(mask) if callable(text) else text
        sep = np.where(detail[mask] == "", "", "; ").astype(object)
        detail[mask] = detail[mask] + sep + piece

    # A cleaned table has an ID on every row; checked again so records never lack one.
    note(_missing_mask(table[id_column]), "missing id", f"column {id_column}: missing")
    for column in classes:
        note(_missing_mask(table[column]), "missing effect level", f"column {column}: missing")

    numbers: dict[str, np.ndarray] = {}
    for column in covariates:
        absent, value, bad, raw_text = _parse_numbers(table[column])
        numbers[column] = value
        note(absent, "missing covariate", f"column {column}: missing")
        note(bad, "non-numeric covariate", _not_a_number(column, raw_text))

    trait_absent: dict[str, np.ndarray] = {}
    trait_bad: dict[str, np.ndarray] = {}
    trait_text: dict[str, np.ndarray] = {}
    usable = np.zeros(n, dtype=bool)
    any_bad = np.zeros(n, dtype=bool)
    for column in traits:
        absent, value, bad, raw_text = _parse_numbers(table[column])
        numbers[column] = value
        trait_absent[column], trait_bad[column], trait_text[column] = absent, bad, raw_text
        usable |= ~absent & ~bad
        any_bad |= bad
    no_trait = ~usable
    dropped = drop | no_trait
    for column in traits:
        # Detail for dropped rows only: missing traits matter when none is left; a
        # non-numeric value is always worth reporting.
        add(no_trait & trait_absent[column], f"column {column}: missing")
        add(dropped & trait_bad[column], _not_a_number(column, trait_text[column]))
    first = no_trait & ~drop
    reason[first & any_bad] = "non-numeric trait value"
    reason[first & ~any_bad] = "missing trait value"
    drop |= no_trait

    parts = [
        _rejected_frame(
            source, lines[drop], ids[drop], model, "dropped", reason[drop], detail[drop]
        )
    ]
    keep = ~drop
    for column in traits:
        mask = keep & trait_bad[column]
        if mask.any():
            parts.append(
                _rejected_frame(
                    source, lines[mask], ids[mask], model, "set missing",
                    "non-numeric trait value", _not_a_number(column, trait_text[column])(mask),
                )
            )
    rejected = combine_rejected(*parts)
    if not len(rejected):
        rejected = _empty_rejected()

    records = pd.DataFrame({"line": lines[keep]})
    records[id_column] = pd.Series(ids[keep], dtype=object).astype(str)
    for column in classes:
        if column != id_column:
            records[column] = table[column].to_numpy(dtype=object)[keep]
            records[column] = records[column].astype(str)
    for column in traits + covariates:
        # NaN where missing or set missing: _parse_numbers reads non-numbers as NaN.
        records[column] = numbers[column][keep]
    return records, rejected


def _parse_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(missing, value, non-numeric, text) of a column; value is NaN where missing or bad."""
    absent = _missing_mask(series)
    text = series.astype(object).where(~absent, None)
    value = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~absent & ~np.isfinite(value)
    value = np.where(np.isfinite(value), value, np.nan)
    return absent, value, bad, text.to_numpy(dtype=object)


def _not_a_number(column: str, text: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Detail text for the masked rows of a column: "column c: 'abc' is not a number"."""

    def build(mask: np.ndarray) -> np.ndarray:
        shown = text[mask].astype(object)
        shown[pd.isna(shown)] = ""
        return (f"column {column}: '" + shown + "' is not a number").astype(object)

    return build
