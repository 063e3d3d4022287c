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

from collections.abc import Callable, Iterable, Mapping, Sequence
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
            "line": pd.array(lines, dtype="Int64"),
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
    for column in ("id", "model"):
        out[column] = out[column].where(out[column].notna(), None)
    # np.lexsort sorts by the last key first; the row number as first key makes it stable.
    # Null lines and null models sort last.
    file_code = pd.factorize(out["file"].fillna(""), sort=True)[0]
    model_code = pd.factorize(out["model"], sort=True)[0]  # -1 for null
    model_code = np.where(model_code < 0, len(out), model_code)
    order = np.lexsort(
        (
            np.arange(len(out)),
            model_code,
            out["line"].fillna(0).to_numpy(dtype=np.int64),
            out["line"].isna().to_numpy(),
            file_code,
        )
    )
    return out.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# pedigree


@dataclass(frozen=True)
class _PedigreeRows:
    """Pedigree rows as integer codes: one code per distinct ID string (``names[code]``).

    ``sire``/``dam`` are codes, -1 for an unknown parent. ``year`` is float64 (NaN = missing),
    ``sex`` an object array (``None`` = missing) and ``sex_class`` int8 (1 male, 2 female, 0
    missing or another code); ``None`` when the column is absent.
    """

    lines: np.ndarray
    id: np.ndarray
    sire: np.ndarray
    dam: np.ndarray
    year: np.ndarray | None
    sex: np.ndarray | None
    sex_class: np.ndarray | None

    def take(self, rows: np.ndarray) -> _PedigreeRows:
        return _PedigreeRows(
            lines=self.lines[rows],
            id=self.id[rows],
            sire=self.sire[rows],
            dam=self.dam[rows],
            year=None if self.year is None else self.year[rows],
            sex=None if self.sex is None else self.sex[rows],
            sex_class=None if self.sex_class is None else self.sex_class[rows],
        )


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
    both sire and dam, a sire recorded with sex F or a dam with sex M, a parent born in a later
    year than its offspring, and a cycle (an animal its own ancestor). Identical duplicate rows
    (compared on the columns above, after reading missing codes) are merged into the first and
    reported in ``rejected``.

    Cost: one hashing pass over the 3n ID strings (``pd.factorize``); the checks then work on
    integer codes, O(n).
    """
    columns = [str(c) for c in raw.columns]
    absent = [c for c in PEDIGREE_REQUIRED if c not in columns]
    if absent:
        raise InputError(
            f"{source}: the pedigree has no column {', '.join(_q(c) for c in absent)}; "
            f"columns found: {', '.join(_q(c) for c in columns) or '(none)'}. "
            "Name the columns id, sire, dam (optional: birth_year, sex)."
        )
    unknown = sorted(frozenset(str(code) for code in unknown_parent) | {""})
    n = len(raw)
    lines = _lines_of(raw)
    id_text, sire_text, dam_text = (_strings(raw[c]) for c in PEDIGREE_REQUIRED)

    no_id = id_text.isin(unknown).to_numpy(dtype=bool)
    if no_id.any():
        raise InputError(
            f"{source}: line(s) {_quote_list(lines[no_id].tolist())} have no animal ID (empty or "
            f"an unknown-parent code: {', '.join(_q(c) for c in unknown)}). "
            "Fill in the ID or delete the row."
        )

    codes, uniques = pd.factorize(pd.concat([id_text, sire_text, dam_text], ignore_index=True))
    names = np.append(np.asarray(uniques, dtype=object), None)  # names[-1] is None (unknown)
    codes = codes.astype(np.int64)
    sire = codes[n : 2 * n].copy()
    dam = codes[2 * n :].copy()
    sire[sire_text.isin(unknown).to_numpy(dtype=bool)] = -1
    dam[dam_text.isin(unknown).to_numpy(dtype=bool)] = -1
    year = sex = sex_class = None
    if "birth_year" in columns:
        year = _birth_years(raw["birth_year"], lines, id_text, source)
    if "sex" in columns:
        sex = _text(raw["sex"])
        sex[_missing_mask(raw["sex"])] = None
        upper = _strings(raw["sex"]).str.upper()
        sex_class = np.zeros(n, dtype=np.int8)
        sex_class[upper.isin(list(_MALE)).to_numpy(dtype=bool)] = 1
        sex_class[upper.isin(list(_FEMALE)).to_numpy(dtype=bool)] = 2
    rows = _PedigreeRows(lines, codes[:n], sire, dam, year, sex, sex_class)

    rows, rejected = _merge_duplicates(rows, names, source)
    position = np.full(len(names), -1, dtype=np.int64)  # code -> row of that animal, -1 none
    position[rows.id] = np.arange(len(rows.id))
    # Parents without a row of their own, in order of first appearance (sire before dam).
    parents = np.column_stack((rows.sire, rows.dam)).ravel()
    parents = parents[parents >= 0]
    added_parents = pd.unique(parents[position[parents] < 0])
    _check_missing_code_parents(rows, names, added_parents, source)
    _check_own_parent(rows, names, source)
    _check_sire_and_dam(rows, names, source)
    sire_pos = np.where(rows.sire >= 0, position[rows.sire], -1)
    dam_pos = np.where(rows.dam >= 0, position[rows.dam], -1)
    if rows.sex is not None:
        _check_parent_sex(rows, names, sire_pos, dam_pos, source)
    if rows.year is not None:
        _check_birth_order(rows, names, sire_pos, dam_pos, source)
    _check_cycles(rows, names, sire_pos, dam_pos, source)

    known = position >= 0
    known[added_parents] = True
    added_pheno = _phenotyped_to_add(phenotype_ids, names, known, unknown, source)

    table = _assemble_pedigree(rows, names, added_parents, added_pheno)
    summary = {
        "file": source,
        "rows": int(n),
        "animals": int(len(table)),
        "merged_duplicates": int(len(rejected)),
        "parents_added": int(len(added_parents)),
        "phenotyped_added": int(len(added_pheno)),
    }
    return CleanedPedigree(table=table, rejected=combine_rejected(rejected), summary=summary)


def _strings(series: pd.Series) -> pd.Series:
    """A column as strings without nulls (null cells become ``""``), index dropped."""
    if isinstance(series.dtype, pd.StringDtype) and not series.isna().any():
        return series.reset_index(drop=True)
    text = series.astype(object).where(series.notna(), "").astype(str)
    return text.reset_index(drop=True)


def _birth_years(
    column: pd.Series, lines: np.ndarray, ids: pd.Series, source: str
) -> np.ndarray:
    """Birth years as float64 (missing codes -> NaN); a non-integer value is an error."""
    missing = _missing_mask(column)
    text = column.astype(object).where(~missing, None)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~missing & ~(np.isfinite(number) & (number == np.round(number)))
    if bad.any():
        where = np.flatnonzero(bad)
        shown = [
            f"line {lines[i]} ({_q(ids.iloc[i])}: {_q(text.iloc[i])})" for i in where[:_LIST_LIMIT]
        ]
        more = f", ... ({len(where)} in all)" if len(where) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: birth_year is not a whole number on {', '.join(shown)}{more}. "
            "Write years as integers (e.g. 2019) or leave the cell empty."
        )
    return np.where(missing, np.nan, number)


def _merge_duplicates(
    rows: _PedigreeRows, names: np.ndarray, source: str
) -> tuple[_PedigreeRows, pd.DataFrame]:
    """Merge identical duplicate rows into the first; conflicting duplicates are an error."""
    count = np.bincount(rows.id, minlength=len(names))
    repeated = np.flatnonzero(count[rows.id] > 1)
    if not len(repeated):
        return rows, _empty_rejected()
    sub = rows.take(repeated)
    frame = pd.DataFrame({"id": sub.id, "sire": sub.sire, "dam": sub.dam})
    if sub.year is not None:
        frame["year"] = sub.year
    if sub.sex is not None:
        frame["sex"] = pd.Series(sub.sex, dtype=object)
    distinct = frame.drop_duplicates()
    conflicting = pd.unique(distinct["id"][distinct["id"].duplicated()].to_numpy())
    if len(conflicting):
        shown = []
        for code in conflicting[:_LIST_LIMIT]:
            at = sub.lines[sub.id == code]
            shown.append(f"{_q(names[code])} (lines {', '.join(str(x) for x in at)})")
        more = f", ... ({len(conflicting)} IDs in all)" if len(conflicting) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: animal(s) appear more than once with different parents, birth year or "
            f"sex: {'; '.join(shown)}{more}. Keep one correct row per animal."
        )
    later = frame.duplicated(keep="first").to_numpy()
    first_line = np.zeros(len(names), dtype=np.int64)
    first_line[sub.id[~later]] = sub.lines[~later]
    merged = repeated[later]
    detail = np.array([f"identical to line {first_line[c]}" for c in sub.id[later]], dtype=object)
    rejected = _rejected_frame(
        source, rows.lines[merged], names[rows.id[merged]], None, "merged", "duplicate row",
        detail,
    )
    keep = np.ones(len(rows.id), dtype=bool)
    keep[merged] = False
    return rows.take(np.flatnonzero(keep)), rejected


def _check_own_parent(rows: _PedigreeRows, names: np.ndarray, source: str) -> None:
    own = np.flatnonzero((rows.sire == rows.id) | (rows.dam == rows.id))
    if len(own):
        shown = [f"{_q(names[rows.id[i]])} (line {rows.lines[i]})" for i in own[:_LIST_LIMIT]]
        more = f", ... ({len(own)} in all)" if len(own) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: animal(s) recorded as their own parent: {', '.join(shown)}{more}. "
            "Correct the sire/dam or set it to the unknown-parent code."
        )


def _check_sire_and_dam(rows: _PedigreeRows, names: np.ndarray, source: str) -> None:
    as_sire = np.zeros(len(names), dtype=bool)
    as_dam = np.zeros(len(names), dtype=bool)
    as_sire[rows.sire[rows.sire >= 0]] = True
    as_dam[rows.dam[rows.dam >= 0]] = True
    both = np.flatnonzero(as_sire & as_dam)
    if len(both):
        shown = []
        for code in both[:_LIST_LIMIT]:
            sire_line = rows.lines[np.argmax(rows.sire == code)]
            dam_line = rows.lines[np.argmax(rows.dam == code)]
            shown.append(f"{_q(names[code])} (sire on line {sire_line}, dam on line {dam_line})")
        more = f", ... ({len(both)} IDs in all)" if len(both) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: ID(s) used both as sire and as dam: {'; '.join(shown)}{more}. "
            "An animal has one sex; correct the parent IDs."
        )


def _check_parent_sex(
    rows: _PedigreeRows, names: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """A sire recorded with sex F, or a dam with sex M (M/MALE, F/FEMALE, any case)."""
    problems = []
    for pos, role, wrong, word in ((sire_pos, "sire", 2, "F"), (dam_pos, "dam", 1, "M")):
        child = np.flatnonzero(pos >= 0)
        child = child[rows.sex_class[pos[child]] == wrong]
        for c in child[:_LIST_LIMIT]:
            p = pos[c]
            problems.append(
                f"{_q(names[rows.id[p]])} has sex {word} (line {rows.lines[p]}) but is the {role} "
                f"of {_q(names[rows.id[c]])} (line {rows.lines[c]})"
            )
        if len(child) > _LIST_LIMIT:
            problems.append(f"... ({len(child)} such {role} records in all)")
    if problems:
        raise InputError(
            f"{source}: parent sex contradicts the sex column: {'; '.join(problems)}. "
            "Correct the sex or the parent ID."
        )


def _check_birth_order(
    rows: _PedigreeRows, names: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """A parent born in a later year than its offspring (same year is allowed)."""
    year = rows.year
    problems = []
    count = 0
    for pos, role in ((sire_pos, "sire"), (dam_pos, "dam")):
        child = np.flatnonzero(pos >= 0)
        with np.errstate(invalid="ignore"):
            child = child[year[pos[child]] > year[child]]
        count += len(child)
        for c in child[: _LIST_LIMIT - len(problems)]:
            p = pos[c]
            problems.append(
                f"{_q(names[rows.id[c]])} (born {int(year[c])}, line {rows.lines[c]}) has {role} "
                f"{_q(names[rows.id[p]])} born {int(year[p])} (line {rows.lines[p]})"
            )
    if problems:
        more = f"; ... ({count} in all)" if count > len(problems) else ""
        raise InputError(
            f"{source}: parent(s) born after their offspring: {'; '.join(problems)}{more}. "
            "Correct the birth years or the parent IDs."
        )


def _check_cycles(
    rows: _PedigreeRows, names: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """An animal that is its own ancestor; the message prints the loop, child -> parent."""
    from henderson.pedigree import find_cycle  # imported late: pedigree builds on clean

    loop = find_cycle(sire_pos, dam_pos)
    if loop is None:
        return
    path = " -> ".join(str(names[rows.id[i]]) for i in [*loop, loop[0]])
    at = ", ".join(f"{_q(names[rows.id[i]])} line {rows.lines[i]}" for i in loop[:_LIST_LIMIT])
    raise InputError(
        f"{source}: the pedigree has a cycle: {path} (each animal followed by one of its "
        f"parents; {at}). An animal cannot be its own ancestor: fix the parent of one of them."
    )


def _check_missing_code_parents(
    rows: _PedigreeRows, names: np.ndarray, added_parents: np.ndarray, source: str
) -> None:
    """A parent without a row whose ID is a missing-value code ("NA", ".") is almost surely an
    unknown parent that ``unknown_parent`` does not list; adding it as an animal would give
    all its "offspring" a common parent."""
    suspect = added_parents[_isin(names[added_parents], MISSING_VALUES)]
    if len(suspect):
        shown = []
        for code in suspect[:_LIST_LIMIT]:
            first = np.flatnonzero((rows.sire == code) | (rows.dam == code))
            shown.append(f"{_q(names[code])} (first on line {rows.lines[first[0]]}, "
                         f"{len(first)} rows)")
        raise InputError(
            f"{source}: parent ID(s) {', '.join(shown)} look like missing-value codes but are "
            "not unknown-parent codes. Add them to unknown_parent in the config, or give the "
            "parent a row of its own if it is a real animal."
        )


def _phenotyped_to_add(
    phenotype_ids: Iterable[str],
    names: np.ndarray,
    known: np.ndarray,
    unknown: Sequence[str],
    source: str,
) -> np.ndarray:
    """Phenotyped animals without a pedigree row, in order, as object array of IDs."""
    pheno = pd.unique(np.asarray([str(i) for i in phenotype_ids if i is not None], dtype=object))
    pheno = pheno[pheno != ""]
    clash = pheno[_isin(pheno, unknown)]
    if len(clash):
        raise InputError(
            f"{source}: phenotyped animal ID(s) {_quote_list([_q(i) for i in clash])} equal an "
            "unknown-parent code; rename these animals in the phenotype file or change "
            "unknown_parent in the config."
        )
    if not len(pheno):
        return pheno
    # Look every pedigree name up in the (usually smaller) set of phenotyped IDs.
    hit = _index(pheno).get_indexer(names[:-1])
    found = (hit >= 0) & known[:-1]
    present = np.zeros(len(pheno), dtype=bool)
    present[hit[found]] = True
    return pheno[~present]


def _assemble_pedigree(
    rows: _PedigreeRows, names: np.ndarray, added_parents: np.ndarray, added_pheno: np.ndarray
) -> pd.DataFrame:
    n_old = len(rows.id)
    extra = np.concatenate((names[added_parents], np.asarray(added_pheno, dtype=object)))
    n_new = len(extra)
    none = np.full(n_new, None, dtype=object)
    table = pd.DataFrame(
        {
            "id": pd.Series(np.concatenate((names[rows.id], extra)), dtype=object),
            "sire": pd.Series(np.concatenate((names[rows.sire], none)), dtype=object),
            "dam": pd.Series(np.concatenate((names[rows.dam], none)), dtype=object),
        }
    )
    if rows.year is not None:
        year = np.concatenate((rows.year, np.full(n_new, np.nan)))
        missing = np.isnan(year)
        table["birth_year"] = pd.arrays.IntegerArray(
            np.where(missing, 0, year).astype(np.int64), missing
        )
    if rows.sex is not None:
        table["sex"] = pd.Series(np.concatenate((rows.sex, none)), dtype=object)
    origin = np.empty(n_old + n_new, dtype=object)
    origin[:n_old] = ORIGINS[0]
    origin[n_old : n_old + len(added_parents)] = ORIGINS[1]
    origin[n_old + len(added_parents) :] = ORIGINS[2]
    table["origin"] = pd.Series(origin, dtype=object)
    return table


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
