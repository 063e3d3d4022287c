"""The clean stage: check and tidy the pedigree and the phenotype table before any numerics.

Raw tables come from :func:`henderson.io.read_table`: every value a stripped string, missing
cells ``""``, the index the source line number. Cleaning never guesses:

* a fault that makes the data ambiguous (a missing animal ID in the pedigree, conflicting
  duplicate rows, an animal its own parent or ancestor, parents born after their offspring, ...)
  raises :class:`~henderson.errors.InputError` naming the file, the lines or IDs, and the fix;
* a record a model cannot use (a missing or non-numeric value) is dropped or, for one value of a
  multi-trait record, set missing, and is listed in a ``rejected`` table with its reason, so that
  nothing is lost silently.

IDs and class levels stay strings (``"00123"`` is not ``123``). Everything is vectorised over
rows; Python loops run only over columns, models or the few rows quoted in an error message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from henderson.errors import ConfigError, InputError

MISSING_VALUES: frozenset[str] = frozenset(
    {"", "NA", "na", "N/A", ".", "NaN", "nan", "NULL", "null"}
)
"""Codes read as a missing phenotype, covariate, class level, birth year or sex."""

REJECTED_COLUMNS = ["file", "line", "id", "model", "action", "reason", "detail"]
"""Columns of every ``rejected`` table (see :func:`combine_rejected`)."""

PEDIGREE_REQUIRED = ("id", "sire", "dam")
PEDIGREE_OPTIONAL = ("birth_year", "sex")
ORIGINS = ("pedigree", "added parent", "added phenotyped")

_MALE = frozenset({"M", "MALE"})
_FEMALE = frozenset({"F", "FEMALE"})
_LIST_LIMIT = 10


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
class CleanedPedigree:
    """A checked pedigree.

    ``table``: one row per animal, columns ``id``, ``sire``, ``dam`` (object: ``str``, ``None`` =
    unknown parent) [, ``birth_year`` (Int64)] [, ``sex`` (object: ``str`` or ``None``)],
    ``origin`` (``"pedigree"``, ``"added parent"`` or ``"added phenotyped"``). Rows: the pedigree
    rows in input order (merged duplicates removed), then parents without a row of their own in
    order of first appearance, then phenotyped animals missing from the pedigree in the order
    given; added animals are founders (sire = dam = ``None``).
    ``rejected``: merged duplicate rows (:data:`REJECTED_COLUMNS`).
    ``summary``: file, rows, animals, merged_duplicates, parents_added, phenotyped_added.
    """

    table: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


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


# ---------------------------------------------------------------------------------------------
# helpers


def _quote_list(items: Sequence[Any], limit: int = _LIST_LIMIT) -> str:
    """At most ``limit`` items joined by commas, then the total count when some are left out."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items)} in all)"
    return shown


def _q(value: Any) -> str:
    return f"'{value}'"


def _lines_of(frame: pd.DataFrame) -> np.ndarray:
    """Source line numbers (the index of a table from ``read_table``) as int64."""
    return np.asarray(frame.index, dtype=np.int64)


def _text(series: pd.Series) -> np.ndarray:
    """A column as an object array of ``str`` (null cells become ``""``)."""
    values = series.astype(object)
    values = values.where(values.notna(), "")
    return np.array(values.to_numpy(dtype=object), dtype=object, copy=True)


def _isin(values: np.ndarray, codes: Iterable[Any]) -> np.ndarray:
    """Hash-based membership of an object array (np.isin would sort the strings)."""
    return _index(values).isin(list(codes))


def _index(values: Any) -> pd.Index:
    """An object-dtype Index: pandas' inferred string dtype hashes large lookups far slower."""
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy(dtype=object)
    return pd.Index(np.asarray(values, dtype=object), dtype=object)


def _missing_mask(series: pd.Series) -> np.ndarray:
    """True where a cell is null or one of :data:`MISSING_VALUES`."""
    return (series.isna() | series.isin(MISSING_VALUES)).to_numpy(dtype=bool)


def _rejected_frame(
    source: str,
    lines: Any,
    ids: Any,
    model: str | None,
    action: Any,
    reason: Any,
    detail: Any,
) -> pd.DataFrame:
    """A ``rejected`` table; scalar arguments are repeated for every row."""
    n = len(lines)

    def column(value: Any) -> np.ndarray:
        if isinstance(value, (str, type(None))):
            return np.full(n, value, dtype=object)
        return np.asarray(value, dtype=object)

    return pd.DataFrame(
        {
            "file": column(source),
            "line": pd.array(np.asarray(lines, dtype=object), dtype="Int64"),
            "id": column(ids),
            "model": column(model),
            "action": column(action),
            "reason": column(reason),
            "detail": column(detail),
        }
    )


def _empty_rejected() -> pd.DataFrame:
    return _rejected_frame("", [], [], None, [], [], [])


def combine_rejected(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Concatenate ``rejected`` tables in a stable order: by file, line, model (nulls last).

    Rows that tie on all three keys keep their input order (e.g. several values of one
    multi-trait record set missing, in trait order). Returns :data:`REJECTED_COLUMNS` with
    ``line`` as Int64, other columns object.
    """
    parts = [frame[REJECTED_COLUMNS] for frame in frames if frame is not None and len(frame)]
    if not parts:
        return _empty_rejected()
    out = pd.concat(parts, ignore_index=True)
    out = out.astype({c: object for c in REJECTED_COLUMNS if c != "line"}).astype({"line": "Int64"})
    # Null models sort last; a single composite key keeps the sort stable and deterministic.
    order = np.lexsort(
        (
            np.arange(len(out)),
            out["model"].fillna("\U0010ffff").astype(str).to_numpy(),
            out["line"].isna().to_numpy(),
            out["line"].fillna(0).to_numpy(dtype=np.int64),
            out["file"].fillna("").astype(str).to_numpy(),
        )
    )
    return out.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# pedigree


def clean_pedigree(
    raw: pd.DataFrame,
    *,
    source: str,
    unknown_parent: Sequence[str],
    phenotype_ids: Iterable[str] = (),
) -> CleanedPedigree:
    """Check a raw pedigree and return one row per animal.

    ``raw``: a table from ``read_table`` with columns ``id``, ``sire``, ``dam`` and optionally
    ``birth_year`` and ``sex`` (other columns are ignored); ``source``: the file name used in
    messages and in ``rejected``; ``unknown_parent``: the codes of an unknown parent (an empty
    cell is always unknown); ``phenotype_ids``: animals with records, added as founders when
    the pedigree lacks them.

    Raises :class:`InputError` for a missing ID (or an ID equal to an unknown-parent code), a
    non-integer birth year, conflicting duplicate rows, an animal its own parent, an ID used as
    both sire and dam, a sire recorded as female or a dam as male, a parent born after its
    offspring, and a cycle (an animal its own ancestor). Identical duplicate rows (compared on
    the columns above, after reading missing codes) are merged and reported in ``rejected``.
    """
    columns = [str(c) for c in raw.columns]
    absent = [c for c in PEDIGREE_REQUIRED if c not in columns]
    if absent:
        raise InputError(
            f"{source}: the pedigree has no column {', '.join(_q(c) for c in absent)}; "
            f"columns found: {', '.join(_q(c) for c in columns) or '(none)'}. "
            "Name the columns id, sire, dam (optional: birth_year, sex)."
        )
    unknown = frozenset(str(code) for code in unknown_parent) | {""}
    lines = _lines_of(raw)
    ids = _text(raw["id"])

    no_id = _isin(ids, unknown)
    if no_id.any():
        bad_lines = lines[no_id]
        raise InputError(
            f"{source}: line(s) {_quote_list(bad_lines.tolist())} have no animal ID (empty or "
            f"an unknown-parent code: {', '.join(_q(c) for c in sorted(unknown))}). "
            "Fill in the ID or delete the row."
        )

    # Object columns throughout: pandas would otherwise infer its string dtype and turn None
    # (unknown parent) into NaN.
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=object)})
    for parent in ("sire", "dam"):
        values = _text(raw[parent])
        values[_isin(values, unknown)] = None
        frame[parent] = pd.Series(values, dtype=object)
    if "birth_year" in columns:
        frame["birth_year"] = _birth_years(raw["birth_year"], lines, ids, source)
    if "sex" in columns:
        sex = _text(raw["sex"])
        sex[_missing_mask(raw["sex"])] = None
        frame["sex"] = pd.Series(sex, dtype=object)

    frame, lines, rejected = _merge_duplicates(frame, lines, source)
    _check_own_parent(frame, lines, source)
    _check_sire_and_dam(frame, lines, source)

    index = _index(frame["id"])
    sire_pos = index.get_indexer(frame["sire"].to_numpy(dtype=object))
    dam_pos = index.get_indexer(frame["dam"].to_numpy(dtype=object))
    if "sex" in frame:
        _check_parent_sex(frame, lines, sire_pos, dam_pos, source)
    if "birth_year" in frame:
        _check_birth_order(frame, lines, sire_pos, dam_pos, source)

    # Parents without a row of their own, in order of first appearance (sire before dam).
    parents = np.column_stack(
        (frame["sire"].to_numpy(dtype=object), frame["dam"].to_numpy(dtype=object))
    ).ravel()
    parents = pd.unique(parents[pd.notna(parents)])
    added_parents = parents[~_index(parents).isin(index)] if len(parents) else parents

    known = index.append(_index(added_parents))
    pheno = pd.unique(np.asarray([str(i) for i in phenotype_ids], dtype=object))
    pheno = pheno[pheno != ""] if len(pheno) else pheno
    clash = pheno[_isin(pheno, unknown)] if len(pheno) else pheno
    if len(clash):
        raise InputError(
            f"{source}: phenotyped animal ID(s) {_quote_list([_q(i) for i in clash])} equal an "
            "unknown-parent code; rename these animals in the phenotype file or change "
            "unknown_parent in the config."
        )
    added_pheno = pheno[~_index(pheno).isin(known)] if len(pheno) else pheno

    table = _assemble_pedigree(frame, added_parents, added_pheno)
    _check_cycles(table, source)

    summary = {
        "file": source,
        "rows": int(len(raw)),
        "animals": int(len(table)),
        "merged_duplicates": int(len(rejected)),
        "parents_added": int(len(added_parents)),
        "phenotyped_added": int(len(added_pheno)),
    }
    return CleanedPedigree(table=table, rejected=combine_rejected(rejected), summary=summary)


def _birth_years(column: pd.Series, lines: np.ndarray, ids: np.ndarray, source: str) -> pd.array:
    """Birth years as Int64 (missing codes -> NA); a non-integer value is an error."""
    missing = _missing_mask(column)
    text = column.astype(object).where(~missing, None)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~missing & ~(np.isfinite(number) & (number == np.round(number)))
    if bad.any():
        where = np.flatnonzero(bad)
        shown = [f"line {lines[i]} ({_q(ids[i])}: {_q(text.iloc[i])})" for i in where[:_LIST_LIMIT]]
        more = f", ... ({len(where)} in all)" if len(where) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: birth_year is not a whole number on {', '.join(shown)}{more}. "
            "Write years as integers (e.g. 2019) or leave the cell empty."
        )
    years = np.where(missing, 0, np.nan_to_num(number)).astype(np.int64)
    return pd.arrays.IntegerArray(years, missing)


def _merge_duplicates(
    frame: pd.DataFrame, lines: np.ndarray, source: str
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Merge identical duplicate rows (keep the first); conflicting duplicates are an error."""
    repeated = frame["id"].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return frame, lines, _empty_rejected()
    subset = frame.loc[repeated]
    distinct = subset.drop_duplicates()
    conflicting = pd.unique(distinct["id"][distinct["id"].duplicated()].to_numpy(dtype=object))
    if len(conflicting):
        shown = []
        for animal in conflicting[:_LIST_LIMIT]:
            at = lines[np.flatnonzero(frame["id"].to_numpy(dtype=object) == animal)]
            shown.append(f"{_q(animal)} (lines {', '.join(str(x) for x in at)})")
        more = f", ... ({len(conflicting)} IDs in all)" if len(conflicting) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: animal(s) appear more than once with different parents, birth year or "
            f"sex: {'; '.join(shown)}{more}. Keep one correct row per animal."
        )
    merged = frame.duplicated(keep="first").to_numpy()
    kept_ids = _index(frame["id"].to_numpy(dtype=object)[~merged])
    first = lines[~merged][kept_ids.get_indexer(frame["id"].to_numpy(dtype=object)[merged])]
    detail = np.array([f"identical to line {x}" for x in first], dtype=object)
    rejected = _rejected_frame(
        source, lines[merged], frame["id"].to_numpy(dtype=object)[merged], None, "merged",
        "duplicate row", detail,
    )
    keep = ~merged
    return frame.loc[keep].reset_index(drop=True), lines[keep], rejected


def _check_own_parent(frame: pd.DataFrame, lines: np.ndarray, source: str) -> None:
    ids = frame["id"].to_numpy(dtype=object)
    own = (frame["sire"].to_numpy(dtype=object) == ids) | (frame["dam"].to_numpy(dtype=object) == ids)
    if own.any():
        where = np.flatnonzero(own)
        shown = [f"{_q(ids[i])} (line {lines[i]})" for i in where[:_LIST_LIMIT]]
        more = f", ... ({len(where)} in all)" if len(where) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: animal(s) recorded as their own parent: {', '.join(shown)}{more}. "
            "Correct the sire/dam or set it to the unknown-parent code."
        )


def _check_sire_and_dam(frame: pd.DataFrame, lines: np.ndarray, source: str) -> None:
    sires = frame["sire"].to_numpy(dtype=object)
    dams = frame["dam"].to_numpy(dtype=object)
    both = _index(pd.unique(sires[pd.notna(sires)])).intersection(
        _index(pd.unique(dams[pd.notna(dams)])), sort=False
    )
    if len(both):
        shown = []
        for animal in both[:_LIST_LIMIT]:
            as_sire = lines[np.argmax(sires == animal)]
            as_dam = lines[np.argmax(dams == animal)]
            shown.append(f"{_q(animal)} (sire on line {as_sire}, dam on line {as_dam})")
        more = f", ... ({len(both)} IDs in all)" if len(both) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: ID(s) used both as sire and as dam: {'; '.join(shown)}{more}. "
            "An animal has one sex; correct the parent IDs."
        )


def _check_parent_sex(
    frame: pd.DataFrame, lines: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """A sire recorded with sex F, or a dam with sex M (codes compared case-insensitively)."""
    sex = frame["sex"].astype(object).where(frame["sex"].notna(), "").astype(str).str.upper()
    sex = sex.to_numpy(dtype=object)
    ids = frame["id"].to_numpy(dtype=object)
    problems = []
    for pos, role, wrong, word in ((sire_pos, "sire", _FEMALE, "F"), (dam_pos, "dam", _MALE, "M")):
        has = pos >= 0
        offspring = np.flatnonzero(has)
        parent = pos[has]
        bad = _isin(sex[parent], wrong)
        for child, par in zip(offspring[bad][:_LIST_LIMIT], parent[bad][:_LIST_LIMIT]):
            problems.append(
                f"{_q(ids[par])} has sex {word} (line {lines[par]}) but is the {role} of "
                f"{_q(ids[child])} (line {lines[child]})"
            )
        if bad.sum() > _LIST_LIMIT:
            problems.append(f"... ({int(bad.sum())} {role} records in all)")
    if problems:
        raise InputError(
            f"{source}: parent sex contradicts the sex column: {'; '.join(problems)}. "
            "Correct the sex or the parent ID."
        )


def _check_birth_order(
    frame: pd.DataFrame, lines: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """A parent born in a later year than its offspring."""
    year = frame["birth_year"].to_numpy(dtype=np.float64, na_value=np.nan)
    ids = frame["id"].to_numpy(dtype=object)
    problems = []
    count = 0
    for pos, role in ((sire_pos, "sire"), (dam_pos, "dam")):
        offspring = np.flatnonzero(pos >= 0)
        parent = pos[offspring]
        with np.errstate(invalid="ignore"):
            bad = year[parent] > year[offspring]
        count += int(bad.sum())
        for child, par in zip(offspring[bad], parent[bad]):
            if len(problems) >= _LIST_LIMIT:
                break
            problems.append(
                f"{_q(ids[child])} (born {int(year[child])}, line {lines[child]}) has {role} "
                f"{_q(ids[par])} born {int(year[par])} (line {lines[par]})"
            )
    if problems:
        more = f"; ... ({count} in all)" if count > len(problems) else ""
        raise InputError(
            f"{source}: parent(s) born after their offspring: {'; '.join(problems)}{more}. "
            "Correct the birth years or the parent IDs."
        )


def _assemble_pedigree(
    frame: pd.DataFrame, added_parents: np.ndarray, added_pheno: np.ndarray
) -> pd.DataFrame:
    extra = np.concatenate(
        (np.asarray(added_parents, dtype=object), np.asarray(added_pheno, dtype=object))
    )
    n_old, n_new = len(frame), len(extra)
    none = np.full(n_new, None, dtype=object)
    out = {
        "id": np.concatenate((frame["id"].to_numpy(dtype=object), extra)),
        "sire": np.concatenate((frame["sire"].to_numpy(dtype=object), none)),
        "dam": np.concatenate((frame["dam"].to_numpy(dtype=object), none)),
    }
    table = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in out.items()})
    if "birth_year" in frame:
        table["birth_year"] = pd.concat(
            [frame["birth_year"], pd.Series(pd.array([pd.NA] * n_new, dtype="Int64"))],
            ignore_index=True,
        )
    if "sex" in frame:
        table["sex"] = pd.Series(
            np.concatenate((frame["sex"].to_numpy(dtype=object), none)), dtype=object
        )
    origin = np.empty(n_old + n_new, dtype=object)
    origin[:n_old] = ORIGINS[0]
    origin[n_old : n_old + len(added_parents)] = ORIGINS[1]
    origin[n_old + len(added_parents) :] = ORIGINS[2]
    table["origin"] = pd.Series(origin, dtype=object)
    return table


def _check_cycles(table: pd.DataFrame, source: str) -> None:
    """An animal that is its own ancestor: ``sort_pedigree`` raises, naming the loop."""
    from henderson.pedigree import sort_pedigree  # imported late: pedigree builds on clean

    sort_pedigree(
        table["id"].to_numpy(dtype=object),
        table["sire"].to_numpy(dtype=object),
        table["dam"].to_numpy(dtype=object),
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# phenotypes


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
                    problems.append(f"model {_q(name)}: {role} column {_q(column)} is not in the table")
                if column == id_column and role != "class":
                    problems.append(
                        f"model {_q(name)}: the ID column {_q(column)} cannot be a {role}"
                    )
                elif roles.get(column, role) != role:
                    problems.append(
                        f"model {_q(name)}: column {_q(column)} is both a {roles[column]} and a {role}"
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
            "records": int(len(records)),
            "animals_with_records": int(records[id_column].nunique()),
            "dropped": int(dropped.sum()),
            "set_missing": int((rejected["action"] == "set missing").sum()),
            "by_reason": _count_reasons(rejected),
        }
    summary = {
        "file": source,
        "rows": int(len(raw)),
        "kept": int(len(table)),
        "models": model_summaries,
    }
    return CleanedPhenotypes(
        table=table, rejected=combine_rejected(*rejected_parts), summary=summary
    )


def _count_reasons(rejected: pd.DataFrame) -> dict[str, int]:
    counts = rejected["reason"].value_counts()
    return {str(reason): int(counts[reason]) for reason in sorted(counts.index)}


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
        if not mask.any():
            return
        piece = text[mask] if isinstance(text, np.ndarray) else text
        sep = np.where(detail[mask] == "", "", "; ").astype(object)
        detail[mask] = detail[mask] + sep + piece

    for column in classes:
        note(_missing_mask(table[column]), "missing effect level", f"column {column}: missing")

    numbers: dict[str, np.ndarray] = {}
    for column in covariates:
        absent, value, bad, raw_text = _parse_numbers(table[column])
        numbers[column] = value
        note(absent, "missing covariate", f"column {column}: missing")
        note(bad, "non-numeric covariate", _not_a_number(column, raw_text))

    trait_bad: dict[str, np.ndarray] = {}
    trait_text: dict[str, np.ndarray] = {}
    usable = np.zeros(n, dtype=bool)
    for column in traits:
        absent, value, bad, raw_text = _parse_numbers(table[column])
        numbers[column] = value
        trait_bad[column], trait_text[column] = bad, raw_text
        usable |= ~absent & ~bad
    any_bad = np.zeros(n, dtype=bool)
    for column in traits:
        any_bad |= trait_bad[column]
    no_trait = ~usable
    for column in traits:
        absent = _missing_mask(table[column])
        add(no_trait & absent, f"column {column}: missing")
        add(trait_bad[column], _not_a_number(column, trait_text[column]))
    first = no_trait & ~drop
    reason[first & any_bad] = "non-numeric trait value"
    reason[first & ~any_bad] = "missing trait value"
    drop |= no_trait

    parts = [
        _rejected_frame(source, lines[drop], ids[drop], model, "dropped", reason[drop], detail[drop])
    ]
    keep = ~drop
    for column in traits:
        mask = keep & trait_bad[column]
        if mask.any():
            parts.append(
                _rejected_frame(
                    source, lines[mask], ids[mask], model, "set missing",
                    "non-numeric trait value", _not_a_number(column, trait_text[column])[mask],
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


def _not_a_number(column: str, text: np.ndarray) -> np.ndarray:
    shown = np.where(pd.isna(text), "", text).astype(object)
    return (f"column {column}: '" + shown + "' is not a number").astype(object)


def clean_summary(pedigree: CleanedPedigree | None, phenotypes: CleanedPhenotypes) -> dict:
    """The clean stage's report: the pedigree and phenotype summaries, each model's counts, and
    rejections by reason over both files (a row rejected by two models counts twice)."""
    rejected = combine_rejected(
        pedigree.rejected if pedigree is not None else None, phenotypes.rejected
    )
    return {
        "pedigree": dict(pedigree.summary) if pedigree is not None else None,
        "phenotypes": {k: phenotypes.summary[k] for k in ("file", "rows", "kept")},
        "models": phenotypes.summary["models"],
        "rejected_by_reason": _count_reasons(rejected),
    }
