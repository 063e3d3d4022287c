"""Pedigree IDs in one canonical text form, and IDs that still differ only in form.

One animal must be one string everywhere. IDs are put in Unicode NFC (a composed "é" and "e" +
combining accent name one animal), and a column that holds numbers written as decimals is read
as whole-number IDs (``"80.0"`` -> ``"80"``): a float-typed Parquet column, or a text column in
which every ID is an integral decimal (a float column exported as text). Other text is never
reinterpreted: ``"00123"`` stays ``"00123"``. IDs that still differ only by a decimal part
(``"1"`` and ``"1.0"``) cannot be told apart safely and are reported by :func:`form_clashes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from henderson.clean.cells import _LIST_LIMIT, _q, normalise_ids
from henderson.errors import InputError

if TYPE_CHECKING:
    from henderson.clean.pedigree import _PedigreeRows

#: An integral number written with a decimal part, e.g. ``80.0`` or ``-3.00``.
INTEGRAL_DECIMAL = r"[+-]?\d+\.0+"
_DECIMAL = re.compile(INTEGRAL_DECIMAL)


def canonical_ids(text: pd.Series, *, from_float: bool) -> tuple[np.ndarray, dict[str, str]]:
    """Canonical IDs of one column of stripped strings (no nulls).

    Returns the canonical values as an object array (n,) and the rewritten spellings
    ``{raw: canonical}``. Only distinct values that can change (non-ASCII text; with
    ``from_float``, text containing ``.``) go through :func:`~henderson.clean.cells.normalise_ids`,
    so the cost is one factorization of the column.
    """
    codes, uniques = pd.factorize(text.to_numpy(dtype=object))
    raw = np.asarray(uniques, dtype=object)
    distinct = pd.Series(raw, dtype=object)
    need = ~distinct.str.isascii().to_numpy(dtype=bool)
    if from_float:
        need |= distinct.str.contains(".", regex=False).to_numpy(dtype=bool)
    if not need.any():
        return raw[codes], {}
    fixed = raw.copy()
    fixed[need] = normalise_ids(distinct[need], from_float=from_float).to_numpy(dtype=object)
    changed = {str(r): str(f) for r, f in zip(raw[need], fixed[need], strict=True) if r != f}
    return fixed[codes], changed


def is_decimal_column(text: pd.Series, skip: Iterable[str]) -> bool:
    """True when every value except the ``skip`` codes (missing, unknown parent) is an integral
    decimal such as ``80.0``, and there is at least one: a float column written out as text."""
    kept = ~text.isin(list(skip)).to_numpy(dtype=bool)
    if not kept.any() or not _DECIMAL.fullmatch(str(text.iloc[int(np.argmax(kept))])):
        return False  # the usual answer, from the first value alone
    distinct = pd.Series(pd.unique(text.to_numpy(dtype=object)[kept]), dtype=object)
    return bool(distinct.str.fullmatch(INTEGRAL_DECIMAL).all())


def form_key(values: np.ndarray) -> np.ndarray:
    """The ID with a decimal part of zeros removed (``"80.0"`` -> ``"80"``; other text as is)."""
    series = pd.Series(np.asarray(values, dtype=object), dtype=object)
    return series.str.replace(r"^([+-]?\d+)\.0+$", r"\1", regex=True).to_numpy(dtype=object)


def form_clashes(ids: np.ndarray) -> list[list[str]]:
    """Groups of distinct IDs that differ only by a decimal part of zeros (``"1"``, ``"1.0"``).

    ``ids``: distinct IDs (object array). Each group lists its IDs in input order; groups are in
    the order of their first ID. Cost: one regex pass over the IDs that contain a dot.
    """
    ids = np.asarray(ids, dtype=object)
    if "." not in "".join(ids.tolist()):
        return []  # one scan of the joined text instead of one call per ID
    dotted = pd.Series(ids, dtype=object).str.contains(".", regex=False).to_numpy(dtype=bool)
    keys = ids.copy()
    keys[dotted] = form_key(ids[dotted])
    changed = keys != ids
    if not changed.any():
        return []
    member = np.flatnonzero(pd.Index(keys, dtype=object).isin(pd.unique(keys[changed])))
    groups: dict[str, list[str]] = {}
    for k in member:
        groups.setdefault(str(keys[k]), []).append(str(ids[k]))
    return [group for group in groups.values() if len(group) > 1]


# --------------------------------------------------------------------------------------------
# The pedigree's ID columns


def factorize_ids(
    texts: Mapping[str, pd.Series], floats: Iterable[str], skip: Iterable[str], source: str
) -> tuple[np.ndarray, np.ndarray, dict[str, str], list[str]]:
    """Codes of ID columns (stripped strings, no nulls, equal lengths n) in canonical form.

    ``floats``: the columns that were float-typed in the file; a column whose values other than
    the ``skip`` codes are all integral decimals is treated the same. Returns ``codes`` (int64,
    the columns stacked: ``codes[k*n:(k+1)*n]`` is column k) into ``names`` (the distinct
    canonical IDs, object array, in order of first appearance), the rewritten spellings
    ``{raw: canonical}`` and one warning per kind of rewriting (decimal numbers, decomposed
    Unicode). Cost: one factorization of the 3n values and an ASCII test of the distinct ones;
    decimal columns (rare) are factorized once more.
    """
    floats, skip = set(floats), set(skip)
    columns = list(texts)
    parts = []
    rewritten: dict[str, str] = {}
    example: dict[str, str] = {}
    for column in columns:
        text = texts[column]
        if column in floats or is_decimal_column(text, skip):
            values, changed = canonical_ids(text, from_float=True)
            text = pd.Series(values, dtype=object)
            for raw in changed:
                example.setdefault(raw, column)
            rewritten.update(changed)
        parts.append(text.reset_index(drop=True))
    n = len(parts[0]) if parts else 0
    codes, uniques = pd.factorize(pd.concat(parts, ignore_index=True))
    codes = codes.astype(np.int64)
    names = np.asarray(uniques, dtype=object)
    if not "".join(names.tolist()).isascii():  # one scan of the joined text, usually enough
        wide = ~pd.Series(names, dtype=object).str.isascii().to_numpy(dtype=bool)
        fixed = names.copy()
        fixed[wide] = normalise_ids(pd.Series(names[wide], dtype=object)).to_numpy(dtype=object)
        changed_at = np.flatnonzero(fixed != names)
        if changed_at.size:
            first = {int(c): int(np.argmax(codes == c)) for c in changed_at[:1]}
            for c in changed_at:
                raw = str(names[c])
                rewritten[raw] = str(fixed[c])
                if c in first:
                    example.setdefault(raw, columns[first[c] // max(n, 1)])
            remap, merged = pd.factorize(fixed)
            codes = remap.astype(np.int64)[codes]
            names = np.asarray(merged, dtype=object)
    warnings = []
    decimal = [r for r in rewritten if r.isascii()]
    if decimal:
        r = decimal[0]
        warnings.append(
            f"{source}: {len(decimal)} ID(s) written as decimal numbers were read as whole "
            f"numbers (e.g. {example[r]} {_q(r)} as {_q(rewritten[r])}); nothing to do unless "
            "these IDs are not numbers."
        )
    wide_ids = [r for r in rewritten if not r.isascii()]
    if wide_ids:
        r = wide_ids[0]
        warnings.append(
            f"{source}: {len(wide_ids)} ID(s) written in decomposed Unicode (e.g. "
            f"{example.get(r, 'id')} {_q(r)}, {len(r)} code points) were read in composed form "
            f"(NFC, {len(rewritten[r])} code points), so each spelling names one animal."
        )
    return codes, names, rewritten, warnings


def _first_use(rows: _PedigreeRows, code: int) -> str:
    """Where an ID first appears: its own row, else its first row as sire, else as dam."""
    for column, what in ((rows.id, "line"), (rows.sire, "sire on line"), (rows.dam, "dam on line")):
        hit = np.flatnonzero(column == code)
        if len(hit):
            return f"{what} {rows.lines[hit[0]]}"
    return "not used"


def check_forms(rows: _PedigreeRows, names: np.ndarray, used: np.ndarray, source: str) -> None:
    """IDs of the pedigree (codes ``used`` into ``names``) that differ only by a decimal part
    ("80" and "80.0") would be two animals; which is meant cannot be told, so the user decides."""
    groups = form_clashes(names[used])
    if not groups:
        return
    code_of = {str(names[c]): c for c in used}
    shown = [
        " and ".join(f"{_q(i)} ({_first_use(rows, code_of[i])})" for i in group)
        for group in groups[:_LIST_LIMIT]
    ]
    more = f"; ... ({len(groups)} in all)" if len(groups) > _LIST_LIMIT else ""
    raise InputError(
        f"{source}: ID(s) that differ only by a decimal part: {'; '.join(shown)}{more}. These "
        "would be different animals. Write each ID the same way in every column (e.g. 80, "
        "not 80.0)."
    )


def check_phenotyped_forms(
    unmatched: np.ndarray, animals: np.ndarray, source: str, phenotype_source: str
) -> None:
    """A phenotyped ID that matches no pedigree animal (``unmatched``, distinct) but differs from
    one of ``animals`` only by a decimal part ("1.0" in the records, "1" in the pedigree) would
    be a second animal. Cost: nothing when every phenotyped animal is in the pedigree."""
    if not len(unmatched) or not len(animals):
        return
    outside = set(unmatched.tolist())
    groups = [g for g in form_clashes(np.concatenate((animals, unmatched))) if outside & set(g)]
    if not groups:
        return
    shown = [
        " and ".join(f"{_q(i)} ({'phenotypes' if i in outside else 'pedigree'})" for i in group)
        for group in groups[:_LIST_LIMIT]
    ]
    more = f"; ... ({len(groups)} in all)" if len(groups) > _LIST_LIMIT else ""
    raise InputError(
        f"{source}: phenotyped ID(s) in {phenotype_source} differ from pedigree IDs only by a "
        f"decimal part: {'; '.join(shown)}{more}. Each would be a second animal without "
        "parents. Write the IDs the same way in both files (e.g. 1, not 1.0)."
    )
