"""Phenotype cleaning: the columns each model reads, missing codes, and each model's records.

`clean_phenotypes` normalises IDs and class levels, drops rows without an ID and stops on a
numeric column that mostly does not parse; `model_records` (also used by the model stage)
selects the records one model can use and lists the others in a ``rejected`` table: a missing
or non-numeric value drops the record or, for one value of a multi-trait record, sets it missing;
a missing level of a random effect with ``missing: keep`` keeps the record without that effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from henderson.clean.cells import (
    MISSING_VALUES,
    _lines_of,
    _missing_mask,
    _q,
    float_columns,
    normalise_ids,
)
from henderson.clean.ids import is_decimal_column
from henderson.clean.rejected import (
    _count_reasons,
    _empty_rejected,
    _rejected_frame,
    combine_rejected,
)
from henderson.columns import INTERCEPT, ModelColumns
from henderson.errors import ConfigError, InputError
from henderson.io import WARNINGS_ATTR

LINE_COLUMN = "__line__"
"""Column of the cleaned phenotype table and of a model's records holding each row's source line.
Data columns are free to be called ``line`` (a genetic line); only this dunder name is refused.
The ``rejected`` tables, a different table, keep their ``line`` column."""

MAGNITUDE_LIMIT = 1e100
"""Largest absolute trait or covariate value accepted: beyond it sums of squares overflow.
(Infinite values, e.g. ``inf``, are not numbers: dropped or set missing like text.)"""


@dataclass(frozen=True)
class CleanedPhenotypes:
    """A phenotype table with valid IDs, and what each model rejects from it.

    ``table``: the rows with an ID; columns :data:`LINE_COLUMN` (int64 source line), the ID
    column, then the other original columns in input order, all as strings (object dtype) with
    every code of :data:`MISSING_VALUES` replaced by ``None``. :func:`model_records` reads it.
    ``rejected``: :data:`REJECTED_COLUMNS`; rows without an ID have ``model`` null, the others
    carry the model name.
    ``summary``: ``{"file", "rows", "kept", "columns": {column: {"values", "not_numbers"[,
    "example", "line", "cause"]}}, "warnings": [text], "models": {name: {"records",
    "animals_with_records", "dropped", "set_missing", "by_reason": {reason: count},
    "kept_without_level": {effect: count}, "warnings": [text]}}}``; ``columns`` covers every
    trait and covariate column (non-missing values, and how many of them are not numbers);
    ``warnings`` (overall and per model) are what a reader of the results must know.
    """

    table: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


def check_model_columns(
    columns: Sequence[str], *, source: str, id_column: str, models: Mapping[str, ModelColumns]
) -> None:
    """Raise :class:`ConfigError` when the ID column or a column a model names is not in the
    table, when a model names no trait, or when a column has two roles in one model (the ID
    column may also be a class column), or when a covariate is named like the intercept's label
    ``mean`` (:data:`henderson.columns.INTERCEPT`). Runs before any work on the rows."""
    present = [str(c) for c in columns]
    listing = ", ".join(_q(c) for c in present) or "(none)"
    problems = []
    if id_column not in present:
        problems.append(f"the ID column {_q(id_column)} (id_column) is not in the table")
    for name, cols in models.items():
        if not cols.traits:
            problems.append(f"model {_q(name)} names no trait")
        roles: dict[str, str] = {}
        for role, names in (("trait", cols.traits), ("class", cols.all_classes),
                            ("covariate", cols.covariates)):
            for column in names:
                if role == "covariate" and column == INTERCEPT:
                    problems.append(
                        f"model {_q(name)}: the covariate {_q(column)} has the name of the "
                        f"intercept's label {_q(INTERCEPT)} in solutions.parquet; rename the "
                        "column (e.g. 'mean_value') in the file and the config"
                    )
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
    """Normalise IDs, class levels and missing codes, drop rows without an ID, check the numeric
    columns, and apply each model's record rules.

    ``raw``: a table from ``read_table`` (strings, index = source line). The ID column and every
    class column go through :func:`~henderson.clean.cells.normalise_ids` as the pedigree's IDs do
    ("80.0" in a float-typed Parquet column, or in a column of integral decimals only, is "80").
    Rows whose ID is one of :data:`MISSING_VALUES` are rejected for every model (``model`` null, reason "missing id");
    each model's rejections come from :func:`model_records`, the function the model stage uses.

    Raises :class:`InputError` when more than :data:`UNPARSEABLE_LIMIT` of the non-missing
    values of a trait or covariate column are not numbers (e.g. decimal commas), naming the
    column, an example and the likely cause (fewer such values give a warning in the summary),
    and when a value exceeds :data:`MAGNITUDE_LIMIT` in absolute value, naming its line. The
    warnings of the reading (``raw.attrs[WARNINGS_ATTR]``, e.g. the file's encoding) come first
    in the summary's.
    """
    check_model_columns(raw.columns, source=source, id_column=id_column, models=models)
    if LINE_COLUMN in raw.columns:
        raise InputError(
            f"{source}: the column name {_q(LINE_COLUMN)} is used for source line numbers in "
            "the cleaned table; rename that column."
        )
    read_warnings = list(raw.attrs.get(WARNINGS_ATTR, ()))
    lines = _lines_of(raw)
    floats = float_columns(raw)
    raw = raw.copy()
    for column in _unique([id_column, *(c for cols in models.values() for c in cols.all_classes)]):
        # the pedigree's rule: a float column, or text that is all integral decimals ("80.0")
        decimal = column in floats or is_decimal_column(raw[column], MISSING_VALUES)
        raw[column] = normalise_ids(raw[column], from_float=decimal)
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
    table.insert(0, LINE_COLUMN, lines[~no_id])

    numeric = _unique(c for cols in models.values() for c in (*cols.traits, *cols.covariates))
    columns, warnings = check_numeric_columns(table, numeric, source=source)

    model_summaries = {}
    for name, cols in models.items():
        records, rejected = model_records(table, cols, source=source, model=name)
        rejected_parts.append(rejected)
        dropped = rejected["action"] == "dropped"
        without = {
            effect: int(_missing_mask(records[column]).sum())
            for effect, column in cols.optional
            if column != id_column
        }
        model_summaries[name] = {
            "records": len(records),
            "animals_with_records": int(records[id_column].nunique()),
            "dropped": int(dropped.sum()),
            "set_missing": int((rejected["action"] == "set missing").sum()),
            "by_reason": _count_reasons(rejected),
            "kept_without_level": without,
            "warnings": [],
        }
    summary = {
        "file": source,
        "rows": len(raw),
        "kept": len(table),
        "columns": columns,
        "warnings": read_warnings + warnings,
        "models": model_summaries,
    }
    return CleanedPhenotypes(
        table=table, rejected=combine_rejected(*rejected_parts), summary=summary
    )


UNPARSEABLE_LIMIT = 0.5
"""Share of a numeric column's non-missing values that may fail to parse before the run stops."""

_DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d*),\d+([eE][+-]?\d+)?$")
_UNITS = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*[^\d\s.,+-][^\d]*$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}([ ',\u00a0\u202f]\d{3})+(\.\d+)?$")


_CAUSES = (
    (
        _DECIMAL_COMMA,
        "the values use a decimal comma",
        (
            "Use a dot as decimal separator (12.5, not 12,5): replace ',' by '.' in that column, "
            "or save the file from the spreadsheet with a locale that writes decimal points"
        ),
    ),
    (
        _THOUSANDS,
        "the values use thousands separators",
        "Write numbers without thousands separators (12500, not 12 500)",
    ),
    (
        _UNITS,
        "the values carry text after the number (units such as '12 kg')",
        "Keep only the number in the column (put the unit in the column name)",
    ),
)


def _likely_cause(examples: Sequence[str]) -> tuple[str, str, str]:
    """(cause, remedy, the example that shows it) for a column's non-numeric values."""
    for pattern, cause, remedy in _CAUSES:
        shown = next((v for v in examples if pattern.match(v)), None)
        if shown is not None:
            return cause, remedy, shown
    return (
        "the column holds text, not numbers",
        (
            "Check that the config names the right column (a class column belongs under `fixed:` "
            "or `random:`, not `traits:` or `covariates:`) and correct the values; leave a missing "
            "value empty or write NA"
        ),
        examples[0],
    )


def check_numeric_columns(
    table: pd.DataFrame, numeric: Sequence[str], *, source: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """How many values of each trait or covariate column are not numbers.

    ``table``: a cleaned phenotype table (:data:`LINE_COLUMN`, strings with ``None`` for
    missing). Returns ``({column: {"values", "not_numbers"[, "example", "line", "cause"]}},
    warnings)``, one warning per column that lost values. Raises :class:`InputError` naming the
    column, an example, its line, the likely cause and the remedy when more than
    :data:`UNPARSEABLE_LIMIT` of a column's non-missing values are not numbers, and naming the
    line and ID of a value beyond :data:`MAGNITUDE_LIMIT` in absolute value.
    """
    report: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    lines = table[LINE_COLUMN].to_numpy(dtype=np.int64)
    for column in numeric:
        absent, value, bad, text = _parse_numbers(table[column])
        with np.errstate(invalid="ignore"):
            huge = np.flatnonzero(np.abs(value) > MAGNITUDE_LIMIT)
        if len(huge):
            k = huge[0]
            more = f" ({len(huge)} such values in all)" if len(huge) > 1 else ""
            raise InputError(
                f"{source}: column {_q(column)}, line {lines[k]} (ID {_q(table.iloc[k, 1])}): the "
                f"value {_q(text[k])} is too large (more than {MAGNITUDE_LIMIT:g} in absolute "
                f"value){more}; sums of squares of such values overflow. Correct the value "
                "(a unit or a missing-value code such as 1e300?) or leave the cell empty."
            )
        n_values, n_bad = int((~absent).sum()), int(bad.sum())
        entry: dict[str, Any] = {"values": n_values, "not_numbers": n_bad}
        report[column] = entry
        if not n_bad:
            continue
        where = np.flatnonzero(bad)
        examples = [str(v) for v in pd.unique(text[where])[:50]]
        cause, remedy, example = _likely_cause(examples)
        line = int(lines[where[np.flatnonzero(text[where] == example)[0]]])
        entry.update(example=example, line=line, cause=cause)
        share = n_bad / n_values
        said = (
            f"{source}: column {_q(column)}: {n_bad} of {n_values} values are not numbers "
            f"({share:.0%}; e.g. {_q(example)} on line {line}): {cause}"
        )
        if share > UNPARSEABLE_LIMIT:
            raise InputError(
                f"{said}. {remedy}, then rerun. (The run stops when more than "
                f"{UNPARSEABLE_LIMIT:.0%} of a column's values are not numbers.)"
            )
        warnings.append(
            f"{said}. Those records are dropped or the value set missing (see "
            f"results/clean/rejected.parquet). {remedy}."
        )
    return report, warnings


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

    ``table`` is :attr:`CleanedPhenotypes.table` (:data:`LINE_COLUMN` first, then the ID column,
    which is where ``id_column`` is taken from when not given). A row is kept when every class column
    (except those of ``columns.optional``, whose missing value keeps the record without a level
    of that effect) and every covariate is present (covariates finite numbers) and at least one
    trait is a finite number. Single trait: a missing or non-numeric trait drops the row. Multi-trait: a
    non-numeric value is set missing (one ``"set missing"`` row per value) and the record kept
    when another trait remains; a record with no trait left is dropped. A dropped row is
    reported once, with the first reason in column order (classes, covariates, traits) and
    every fault in ``detail``.

    Returns ``records`` (n_kept rows, input order): :data:`LINE_COLUMN` (int64), the ID column
    and class columns (str; ``None`` where an optional column is missing), traits and covariates
    (float64, NaN = missing), and ``rejected`` (:data:`REJECTED_COLUMNS`, ``model`` = ``model``).
    """
    if id_column is None:
        if len(table.columns) < 2 or table.columns[0] != LINE_COLUMN:
            raise ConfigError(
                f"{source}: model {_q(model)}: the table is not a cleaned phenotype table "
                f"(expected columns {_q(LINE_COLUMN)}, then the ID column); run clean_phenotypes "
                "first."
            )
        id_column = str(table.columns[1])
    check_model_columns(
        [c for c in table.columns if c != LINE_COLUMN], source=source, id_column=id_column,
        models={model: columns},
    )
    n = len(table)
    lines = table[LINE_COLUMN].to_numpy(dtype=np.int64)
    ids = table[id_column].to_numpy(dtype=object)
    classes = _unique(columns.all_classes)
    optional = set(columns.optional_columns)
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
        if column not in optional:
            note(_missing_mask(table[column]), "missing effect level", f"column {column}: missing")

    numbers: dict[str, np.ndarray] = {}
    for column in covariates:
        absent, value, bad, raw_text = _parse_numbers(table[column])
        numbers[column] = value
        what = "weight" if column == columns.weights else "covariate"
        note(absent, f"missing {what}", f"column {column}: missing")
        note(bad, f"non-numeric {what}", _not_a_number(column, raw_text))
        if column == columns.weights:
            with np.errstate(invalid="ignore"):
                low = ~absent & ~bad & ~(value > 0)
            note(low, "non-positive weight", lambda m, v=value, c=column: pd.Series(v[m]).map(
                lambda x: f"column {c}: {x:g} (weights must be positive)").to_numpy(dtype=object))

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

    records = pd.DataFrame({LINE_COLUMN: lines[keep]})
    records[id_column] = pd.Series(ids[keep], dtype=object).astype(str)
    for column in classes:
        if column != id_column:
            level = table[column].to_numpy(dtype=object)[keep]
            absent = _missing_mask(pd.Series(level, dtype=object))
            level = np.where(absent, None, level.astype(str)).astype(object)
            records[column] = pd.Series(level, dtype=object)
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
