"""Pedigree cleaning: `clean_pedigree` checks a raw pedigree and returns one row per animal.

Faults that make the pedigree ambiguous (a missing animal ID, conflicting duplicate rows, an
animal its own parent or ancestor, parents born after their offspring, ...) raise
:class:`~henderson.errors.InputError`; identical duplicate rows are merged and reported as
rejected. IDs are put in one canonical form first (:mod:`henderson.clean.ids`), then factorized
once, and every check works on integer codes. What is added or rewritten without stopping
(parents and phenotyped animals added as founders, IDs rewritten) is listed under ``warnings``
in the summary.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from henderson.clean.birth import _birth_date_years, _birth_years, _merge_years
from henderson.clean.cells import (
    _LIST_LIMIT,
    MISSING_VALUES,
    _index,
    _isin,
    _lines_of,
    _missing_mask,
    _q,
    _quote_list,
    _strings,
    _text,
    float_columns,
)
from henderson.clean.ids import (
    canonical_ids,
    check_forms,
    check_phenotyped_forms,
    factorize_ids,
)
from henderson.clean.pedigree_checks import (
    _check_birth_order,
    _check_cycles,
    _check_missing_code_parents,
    _check_own_parent,
    _check_parent_sex,
    _check_selfing,
    _check_sire_and_dam,
    _PedigreeRows,
)
from henderson.clean.rejected import _empty_rejected, _rejected_frame, combine_rejected
from henderson.columns import (
    PEDIGREE_COLUMNS,
    PEDIGREE_REQUIRED,
    SEX_CODES,
)
from henderson.errors import ConfigError, InputError
from henderson.io import FLOAT_COLUMNS_ATTR, WARNINGS_ATTR

ORIGINS = ("pedigree", "added parent", "added phenotyped")

#: Values of the ``sexes`` config key: ``separate`` (an ID is a sire or a dam, never both; no
#: selfing) or ``monoecious`` (plants and trees: a parent may be both, selfing allowed).
SEXES = ("separate", "monoecious")

#: A parent added as a founder with at least this many offspring, and more than
#: ``_SUSPECT_RATIO`` times the median family size, is likely an unknown-parent code.
_SUSPECT_OFFSPRING = 50
_SUSPECT_RATIO = 10

@dataclass(frozen=True)
class CleanedPedigree:
    """A checked pedigree.

    ``table``: one row per animal, columns ``id``, ``sire``, ``dam`` (object: ``str``, ``None`` =
    unknown parent) [, ``birth_year`` (Int64; from ``birth_year`` or ``birth_date``)] [, ``sex``
    (object: ``str`` as given, or ``None``)], ``origin`` (``"pedigree"``, ``"added parent"`` or
    ``"added phenotyped"``). Rows: the pedigree rows in input order (merged duplicates removed), then parents without a row of their own in
    order of first appearance, then phenotyped animals missing from the pedigree in the order
    given; added animals are founders (sire = dam = ``None``).
    ``rejected``: merged duplicate rows (:data:`REJECTED_COLUMNS`).
    ``summary``: file, rows, animals, sexes, selfed (rows with sire = dam), merged_duplicates,
    ids_rewritten (distinct spellings put in canonical form), parents_added and
    parents_added_first (the first IDs), phenotyped (distinct phenotyped IDs),
    phenotyped_added and phenotyped_added_first, likely_unknown_codes (added parents with very
    many offspring), warnings (one sentence each, also logged by the clean stage; the reading's
    first, e.g. the file's encoding).
    """

    table: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


def clean_pedigree(
    raw: pd.DataFrame,
    *,
    source: str,
    unknown_parent: Sequence[str],
    phenotype_ids: Iterable[str] = (),
    sexes: str = "separate",
    phenotype_source: str = "the phenotype file",
    columns: Mapping[str, str] | None = None,
    sex_codes: Mapping[str, Sequence[str]] | None = None,
    group_codes: Sequence[str] = (),
) -> CleanedPedigree:
    """Check a raw pedigree and return one row per animal.

    ``raw``: a table from ``read_table`` with columns ``id``, ``sire``, ``dam`` and optionally
    ``birth_year`` and/or ``birth_date``, and ``sex`` (other columns are ignored), or the
    columns ``columns`` maps these roles to (:data:`PEDIGREE_COLUMNS` for the roles not given);
    ``source``: the file name used in messages and in ``rejected``; ``unknown_parent``: the
    codes of an unknown parent (an empty cell is always unknown); ``phenotype_ids``: animals with
    records (already in the phenotype side's canonical form, see
    :func:`henderson.clean.cells.normalise_ids`), added as founders when the pedigree lacks
    them; ``sexes``: one of :data:`SEXES`; ``phenotype_source``: how messages name the phenotype
    IDs (e.g. ``"data.csv, column 'animal'"``); ``sex_codes``: ``{"male": codes, "female":
    codes}`` (:data:`SEX_CODES` by default; compared without case; other values are neither).

    A birth date (ISO ``2019-03-28``, also with a time, ``2019/03/28``, ``20190328``, or
    day-first ``28/03/2019``, ``28.03.2019``, ``28-03-2019``; month-first dates give the same
    year) gives the birth year; with both columns, ``birth_year`` is used where given and must
    agree with the date's year.

    IDs are put in canonical form (:mod:`henderson.clean.ids`: Unicode NFC; whole numbers
    written as decimals in a float column read as integers).

    Raises :class:`InputError` for a pedigree without rows, a missing ID (or an ID equal to an
    unknown-parent code), IDs that differ only by a decimal part (``1`` and ``1.0``), a
    non-integer birth year, a birth date that is not a date, a birth year that disagrees with
    the birth date, conflicting duplicate rows, an animal its own parent, a parent born
    in a later year than its offspring, and a cycle (an animal its own ancestor); with
    ``sexes="separate"`` also for an animal with the same sire and dam, an ID used as both sire
    and dam, and a sire recorded as female or a dam as male (the messages name the
    ``sexes`` switch). Identical duplicate rows (compared on the columns above, after reading
    missing codes) are merged into the first and reported in ``rejected``.

    Cost: one hashing pass over the 3n ID strings (``pd.factorize``); the checks then work on
    integer codes, O(n).
    """
    if sexes not in SEXES:
        raise ConfigError(f"sexes: {sexes!r} is not one of {', '.join(SEXES)}.")
    raw, name = _pedigree_roles(raw, columns, source)
    read_warnings = list(raw.attrs.get(WARNINGS_ATTR, ()))
    n = len(raw)
    if n == 0:
        raise InputError(
            f"{source}: the pedigree file has a header but no rows. Give one row per animal "
            "(id, sire, dam), or set `pedigree: null` in the config to evaluate without one."
        )
    unknown_codes = {unicodedata.normalize("NFC", str(code).strip()) for code in unknown_parent}
    unknown = sorted(unknown_codes | {""})
    lines = _lines_of(raw)
    codes, distinct, rewritten, warnings = factorize_ids(
        {c: _strings(raw[c]) for c in PEDIGREE_REQUIRED},
        float_columns(raw),
        set(unknown) | MISSING_VALUES,
        source,
    )
    is_unknown = _isin(distinct, unknown)
    no_id = is_unknown[codes[:n]]
    if no_id.any():
        raise InputError(
            f"{source}: line(s) {_quote_list(lines[no_id].tolist())} have no animal ID (empty or "
            f"an unknown-parent code: {', '.join(_q(c) for c in unknown)}). "
            "Fill in the ID or delete the row."
        )
    names = np.append(distinct, None)  # names[-1] is None (unknown)
    sire = codes[n : 2 * n].copy()
    dam = codes[2 * n :].copy()
    grouped = _group_parents(distinct, codes[:n], sire, dam, group_codes)
    sire[is_unknown[sire]] = -1
    dam[is_unknown[dam]] = -1
    id_text = pd.Series(distinct[codes[:n]], dtype=object)
    year = sex = sex_class = None
    if "birth_year" in raw.columns:
        year = _birth_years(raw["birth_year"], lines, id_text, source, name["birth_year"])
    if "birth_date" in raw.columns:
        dated = _birth_date_years(raw["birth_date"], lines, id_text, source, name["birth_date"])
        year = dated if year is None else _merge_years(year, dated, lines, id_text, source, name)
    if "sex" in raw.columns:
        sex = _text(raw["sex"])
        sex[_missing_mask(raw["sex"])] = None
        sex_class = sex_classes(raw["sex"], sex_codes)
        if sexes == "separate":
            read_warnings += _unknown_sex_codes(sex, sex_class, source, name["sex"], sex_codes)
    rows = _PedigreeRows(lines, codes[:n], sire, dam, year, sex, sex_class)
    in_use = np.zeros(len(names) - 1, dtype=bool)
    in_use[rows.id] = True
    in_use[sire[sire >= 0]] = True
    in_use[dam[dam >= 0]] = True
    check_forms(rows, names, np.flatnonzero(in_use), source)

    rows, rejected = _merge_duplicates(rows, names, source)
    position = np.full(len(names), -1, dtype=np.int64)  # code -> row of that animal, -1 none
    position[rows.id] = np.arange(len(rows.id))
    # Parents without a row of their own, in order of first appearance (sire before dam).
    parents = np.column_stack((rows.sire, rows.dam)).ravel()
    parents = parents[parents >= 0]
    added_parents = pd.unique(parents[position[parents] < 0])
    _check_missing_code_parents(rows, names, added_parents, source)
    _check_own_parent(rows, names, source)
    # an unlisted unknown-parent code used for sires and dams alike reads as selfing or as a
    # parent of both sexes: those errors name it and the config key
    suspects = _likely_unknown_codes(rows, names, added_parents)
    if sexes == "separate":
        likely = {code: count for code, count, _ in suspects}
        _check_selfing(rows, names, source, likely)
        _check_sire_and_dam(rows, names, source, likely)
    sire_pos = np.where(rows.sire >= 0, position[rows.sire], -1)
    dam_pos = np.where(rows.dam >= 0, position[rows.dam], -1)
    if rows.sex is not None and sexes == "separate":
        _check_parent_sex(rows, names, sire_pos, dam_pos, source, name["sex"])
    if rows.year is not None:
        _check_birth_order(rows, names, sire_pos, dam_pos, source)
    _check_cycles(rows, names, sire_pos, dam_pos, source)

    known = position >= 0
    known[added_parents] = True
    pheno = _phenotyped(phenotype_ids, unknown, source)
    added_pheno = _phenotyped_to_add(pheno, names, known)
    check_phenotyped_forms(added_pheno, names[:-1][known[:-1]], source, phenotype_source)
    warnings += _founder_warnings(
        rows, names, added_parents, suspects, pheno, added_pheno, source, phenotype_source
    )

    table = _assemble_pedigree(rows, names, added_parents, added_pheno)
    if grouped is not None:
        for role, by_id in grouped.items():
            table[role] = table[role].where(table[role].notna(), table["id"].map(by_id))
    summary = {
        "file": source,
        "rows": int(n),
        "animals": len(table),
        "sexes": sexes,
        "selfed": int(np.count_nonzero((rows.sire >= 0) & (rows.sire == rows.dam))),
        "merged_duplicates": len(rejected),
        "ids_rewritten": len(rewritten),
        "parents_added": len(added_parents),
        "parents_added_first": [str(x) for x in names[added_parents[:_LIST_LIMIT]]],
        "phenotyped": len(pheno),
        "phenotyped_added": len(added_pheno),
        "phenotyped_added_first": [str(x) for x in added_pheno[:_LIST_LIMIT]],
        "likely_unknown_codes": {str(names[code]): count for code, count, _ in suspects},
        "warnings": read_warnings + warnings,
    }
    return CleanedPedigree(table=table, rejected=combine_rejected(rejected), summary=summary)


def _phenotyped(phenotype_ids: Iterable[str], unknown: Sequence[str], source: str) -> np.ndarray:
    """Distinct phenotyped IDs in canonical form, in order of first appearance."""
    given = [str(i) for i in phenotype_ids if i is not None]
    values, _ = canonical_ids(pd.Series(given, dtype=object), from_float=False)
    pheno = pd.unique(values) if len(values) else np.empty(0, dtype=object)
    pheno = np.asarray(pheno, dtype=object)
    pheno = pheno[pheno != ""]
    clash = pheno[_isin(pheno, unknown)]
    if len(clash):
        raise InputError(
            f"{source}: phenotyped animal ID(s) {_quote_list([_q(i) for i in clash])} equal an "
            "unknown-parent code; rename these animals in the phenotype file or change "
            "unknown_parent in the config."
        )
    return pheno


def _pedigree_roles(
    raw: pd.DataFrame, columns: Mapping[str, str] | None, source: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The pedigree's columns under their role names (id, sire, dam, birth_year, birth_date,
    sex; optional roles only when present), and the file's name of every role."""
    name = {**PEDIGREE_COLUMNS, **(columns or {})}
    present = [str(c) for c in raw.columns]
    absent = [role for role in PEDIGREE_REQUIRED if name[role] not in present]
    if absent:
        mapped = any(name[role] != role for role in PEDIGREE_COLUMNS)
        hint = (
            "Correct `pedigree_columns` in the config"
            if mapped
            else "Name the columns id, sire, dam (optional: birth_year or birth_date, sex), or "
            "give the file's names in the config, e.g. `pedigree_columns: {id: animal, sire: "
            "father, dam: mother}`"
        )
        raise InputError(
            f"{source}: the pedigree has no column "
            f"{', '.join(_q(name[r]) + (f' ({r})' if name[r] != r else '') for r in absent)}; "
            "columns found: "
            f"{', '.join(_q(c) for c in present) or '(none)'}. {hint}."
        )
    roles = [role for role in PEDIGREE_COLUMNS if name[role] in present]
    frame = pd.DataFrame({role: raw[name[role]] for role in roles}, index=raw.index)
    floats = float_columns(raw)
    frame.attrs = dict(raw.attrs)
    frame.attrs[FLOAT_COLUMNS_ATTR] = [role for role in roles if name[role] in floats]
    return frame, name


def sex_classes(
    column: pd.Series, sex_codes: Mapping[str, Sequence[str]] | None = None
) -> np.ndarray:
    """Sex of each value as int8: 1 male, 2 female, 0 missing or another code (``sex_codes`` as
    in :func:`clean_pedigree`, compared without case)."""
    codes = {**SEX_CODES, **(sex_codes or {})}
    upper = _strings(column).str.strip().str.upper()
    out = np.zeros(len(upper), dtype=np.int8)
    out[upper.isin([str(c).upper() for c in codes["male"]]).to_numpy(dtype=bool)] = 1
    out[upper.isin([str(c).upper() for c in codes["female"]]).to_numpy(dtype=bool)] = 2
    return out


def _unknown_sex_codes(
    sex: np.ndarray,
    sex_class: np.ndarray,
    source: str,
    column: str,
    sex_codes: Mapping[str, Sequence[str]] | None,
) -> list[str]:
    """A warning when the sex column has values but none is a male or female code: the parent
    sexes then go unchecked, most likely because the file codes sex otherwise (e.g. 1/2)."""
    given = np.flatnonzero(pd.notna(sex))
    if not len(given) or (sex_class != 0).any():
        return []
    codes = {**SEX_CODES, **(sex_codes or {})}
    found = pd.Series(sex[given], dtype=object).value_counts()
    shown = _quote_list([f"{_q(v)} ({k} rows)" for v, k in found.items()])
    return [
        (
            f"{source}: no value of column {_q(column)} is a male ({', '.join(codes['male'])}) "
            f"or female ({', '.join(codes['female'])}) code: {shown}. Parent sexes were not "
            "checked. If these are sexes, give their codes in the config, e.g. `sex_codes: "
            "{male: ['1'], female: ['2']}`."
        )
    ]


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


def _phenotyped_to_add(pheno: np.ndarray, names: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Phenotyped animals without a pedigree row, in order, as object array of IDs."""
    if not len(pheno):
        return pheno
    # Look every pedigree name up in the (usually smaller) set of phenotyped IDs.
    hit = _index(pheno).get_indexer(names[:-1])
    found = (hit >= 0) & known[:-1]
    present = np.zeros(len(pheno), dtype=bool)
    present[hit[found]] = True
    return pheno[~present]


def _likely_unknown_codes(
    rows: _PedigreeRows, names: np.ndarray, added_parents: np.ndarray
) -> list[tuple[int, int, str]]:
    """Added parents with at least ``_SUSPECT_OFFSPRING`` offspring and more than
    ``_SUSPECT_RATIO`` times the median family size (offspring per parent, over all parents):
    ``(code, offspring, roles)``, in order of first appearance."""
    if not len(added_parents):
        return []
    size = len(names)
    as_sire = np.bincount(rows.sire[rows.sire >= 0], minlength=size)
    own_dam = (rows.dam >= 0) & (rows.dam != rows.sire)  # a selfed offspring counts once
    as_dam = np.bincount(rows.dam[own_dam], minlength=size)
    family = as_sire + as_dam
    median = float(np.median(family[family > 0]))
    out = []
    for code in added_parents:
        count = int(family[code])
        if count >= _SUSPECT_OFFSPRING and count > _SUSPECT_RATIO * median:
            roles = [f"{k} as {r}" for k, r in ((as_sire[code], "sire"), (as_dam[code], "dam")) if k]
            median_text = f"a parent has {median:g} offspring at the median"
            out.append((int(code), count, f"{', '.join(roles)}; {median_text}"))
    return out


def _founder_warnings(
    rows: _PedigreeRows,
    names: np.ndarray,
    added_parents: np.ndarray,
    suspects: Sequence[tuple[int, int, str]],
    pheno: np.ndarray,
    added_pheno: np.ndarray,
    source: str,
    phenotype_source: str,
) -> list[str]:
    """Sentences on animals added as founders: how many, the first IDs, and what may be wrong."""
    out = []
    if len(pheno) and len(added_pheno) == len(pheno):
        out.append(
            f"NONE of the {len(pheno)} phenotyped animals ({phenotype_source}) is in the "
            f"pedigree {source}: every one was added as a founder without parents, so the "
            "pedigree adds nothing to their evaluation. The ID column or one of the files is "
            f"probably wrong (first phenotyped IDs: {_quote_list([_q(i) for i in pheno])}; "
            f"first pedigree IDs: {_quote_list([_q(names[c]) for c in pd.unique(rows.id)])}). "
            "Check `id_column`, `phenotypes` and `pedigree` in the config."
        )
    elif len(added_pheno):
        share = 100.0 * len(added_pheno) / len(pheno)
        out.append(
            f"{len(added_pheno)} of {len(pheno)} phenotyped animals ({share:.1f} %) are not in "
            f"the pedigree {source} and were added as founders without parents: "
            f"{_quote_list([_q(i) for i in added_pheno])}. Add them to the pedigree if their "
            "parents are known."
        )
    if len(added_parents):
        out.append(
            f"{source}: {len(added_parents)} parent(s) have no row of their own and were added "
            f"as founders without parents: {_quote_list([_q(names[c]) for c in added_parents])}. "
            "Give them rows if their parents are known."
        )
    for code, count, roles in suspects:
        first = np.flatnonzero((rows.sire == code) | (rows.dam == code))[0]
        out.append(
            f"{source}: parent {_q(names[code])} has no row of its own but {count} offspring "
            f"({roles}; first on line {rows.lines[first]}): it looks like a code for an unknown "
            "parent. If it is, add it to `unknown_parent` in the config; if it is a real "
            "animal, give it a row."
        )
    return out


def _group_parents(distinct: np.ndarray, ids: np.ndarray, sire: np.ndarray, dam: np.ndarray,
                   group_codes: Sequence[str]) -> dict[str, pd.Series] | None:
    """Explicit group codes in the parent fields: {"sire": Series id → code, "dam": …} of the
    rows whose parent is a group code (first row of an ID), and those parents set to −1 (in
    place) so that the checks see unknown parents. Codes that are also animal IDs are left
    alone (the relationships stage reports them). None without group codes."""
    if not group_codes:
        return None
    wanted = sorted({unicodedata.normalize("NFC", str(c).strip()) for c in group_codes})
    is_group = _isin(distinct, wanted)
    is_group[ids] = False
    if not is_group.any():
        return None
    out = {}
    for role, parent in (("sire", sire), ("dam", dam)):
        hit = np.flatnonzero(is_group[parent])
        series = pd.Series(distinct[parent[hit]], index=distinct[ids[hit]], dtype=object)
        out[role] = series[~series.index.duplicated()]
        parent[hit] = -1
    return out


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
