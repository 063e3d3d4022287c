"""The report's input tables: checks, ID keys and lookups, the top animals and the genetic
trend.

IDs and labels are compared as strings ("" when missing), so the solutions, the pedigree and
the inbreeding coefficients join whatever dtype each file was read with.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from henderson.errors import InputError

SOLUTION_COLUMNS = ("trait", "effect", "level", "estimate")
REJECTED_COLUMNS = ("file", "line", "id", "model", "action", "reason", "detail")


def floats(values: pd.Series) -> np.ndarray:
    """Numbers as a float array (non-numeric and missing values become NaN)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def keys(values: pd.Series) -> pd.Series:
    """IDs or labels as string keys ("" when missing), so joins match across tables."""
    missing = values.isna().to_numpy()
    if not missing.any() and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values  # already all strings, none missing: the common case, kept fast
    values = values.astype(object)
    out = values.astype(str).astype(object)
    out[missing] = ""
    return out


def member(values: pd.Series, of: pd.Series) -> np.ndarray:
    """``values.isin(of)`` as a bool array, by a hash lookup: pandas' `isin` on string columns
    makes a Python object of every element of `of` (about 1 s for 80,000 IDs)."""
    return pd.Index(pd.unique(of.to_numpy(dtype=object))).get_indexer(values.to_numpy(dtype=object)) >= 0


def check_solutions(solutions: pd.DataFrame) -> pd.DataFrame:
    """The solutions as ``trait, effect, level`` (string keys), ``estimate, se, reliability``
    (floats; NaN when absent).

    Raises:
        InputError: a column of :data:`SOLUTION_COLUMNS` is missing.
    """
    absent = [c for c in SOLUTION_COLUMNS if c not in solutions.columns]
    if absent:
        raise InputError(
            f"solutions table: column(s) {absent} missing (it has {list(solutions.columns)}); "
            "rerun the variance stage that writes results/<model>/solutions.parquet."
        )
    frame = pd.DataFrame(
        {
            "trait": keys(solutions["trait"]).to_numpy(),
            "effect": keys(solutions["effect"]).to_numpy(),
            "level": keys(solutions["level"]).to_numpy(),
            "estimate": floats(solutions["estimate"]),
        }
    )
    for column in ("se", "reliability"):
        frame[column] = floats(solutions[column]) if column in solutions.columns else np.nan
    return frame


def rejected_frame(rejected: pd.DataFrame | None) -> pd.DataFrame:
    """The rejected rows with every column of :data:`REJECTED_COLUMNS` as text, plus the line
    number as a float (``line_num``) for sorting."""
    if rejected is None:
        rejected = pd.DataFrame(columns=list(REJECTED_COLUMNS))
    frame = pd.DataFrame(index=range(len(rejected)))
    for column in REJECTED_COLUMNS:
        if column in rejected.columns:
            frame[column] = keys(rejected[column]).to_numpy()
        else:
            frame[column] = ""
    frame["line_num"] = pd.to_numeric(frame["line"], errors="coerce")
    return frame


def rows_of(frame: pd.DataFrame | None, ids: Collection[str]) -> pd.DataFrame | None:
    """The rows of `frame` whose ``id`` is one of `ids` (a report table's few animals), so that
    lookups index only those; `frame` itself when it is None or has no ``id``."""
    if frame is None or "id" not in frame.columns:
        return frame
    return frame[member(keys(frame["id"]), pd.Series(list(ids), dtype=object))]


def lookup(frame: pd.DataFrame | None, column: str) -> pd.Series | None:
    """``column`` by animal ID (first row per ID), or None without ``id`` and ``column``."""
    if frame is None or column not in frame.columns or "id" not in frame.columns:
        return None
    ids = keys(frame["id"]).to_numpy()
    series = pd.Series(frame[column].to_numpy(), index=pd.Index(ids, dtype=object))
    return series[~series.index.duplicated(keep="first")]


def birth_years(pedigree: pd.DataFrame | None, only: Collection[str] | None = None) -> pd.Series | None:
    """Birth year by animal ID (float, NaN when unknown), or None without a usable column (no
    animal with a year); `only`: the IDs wanted (the rest is not indexed)."""
    if pedigree is None or "birth_year" not in pedigree.columns or "id" not in pedigree.columns:
        return None
    years = floats(pedigree["birth_year"])
    if not np.isfinite(years).any():
        return None
    ids = keys(pedigree["id"])
    if only is not None:  # the years of these IDs (:func:`rows_of`)
        wanted = member(ids, pd.Series(list(only), dtype=object))
        years, ids = years[wanted], ids[wanted]
    series = pd.Series(years, index=pd.Index(ids.to_numpy(), dtype=object))
    return series[~series.index.duplicated(keep="first")]


def top_animals(solutions: pd.DataFrame, effect: str, trait: str, n: int) -> pd.DataFrame:
    """The ``n`` levels of ``effect`` with the highest estimate for ``trait``.

    Returns columns ``id, ebv, se, reliability`` sorted by EBV (descending), ties by ID
    (ascending); animals without an estimate are never ranked.
    """
    return ranked(check_solutions(solutions), effect, trait, n)


def ranked(frame: pd.DataFrame, effect: str, trait: str, n: int) -> pd.DataFrame:
    """:func:`top_animals` on a table already passed through :func:`check_solutions`."""
    rows = frame[(frame["effect"] == effect) & (frame["trait"] == trait)]
    rows = rows[rows["estimate"].notna()]
    if 0 < n < len(rows):  # only rows at or above the n-th largest estimate can rank (ties too)
        estimate = rows["estimate"].to_numpy()
        rows = rows[estimate >= np.partition(estimate, estimate.size - n)[estimate.size - n]]
    rows = rows.sort_values("level", kind="mergesort").sort_values(
        "estimate", ascending=False, kind="mergesort"
    )
    out = rows.head(n)[["level", "estimate", "se", "reliability"]]
    return out.rename(columns={"level": "id", "estimate": "ebv"}).reset_index(drop=True)


def genetic_trend(ebv: pd.DataFrame, pedigree: pd.DataFrame) -> pd.DataFrame:
    """Mean EBV by birth year.

    Args:
        ebv: columns ``id, ebv`` (one row per animal).
        pedigree: columns ``id, birth_year`` (other columns ignored; missing or non-numeric
            years are skipped).

    Returns:
        Columns ``birth_year`` (float), ``n`` (animals with an EBV and that year) and
        ``mean_ebv``, sorted by year. Empty when no animal has both.
    """
    return trend(ebv, birth_years(pedigree))


def trend(ebv: pd.DataFrame, years: pd.Series | None) -> pd.DataFrame:
    """:func:`genetic_trend` with the years already looked up by :func:`birth_years`."""
    empty = pd.DataFrame({"birth_year": [], "n": [], "mean_ebv": []}).astype(
        {"birth_year": float, "n": "int64", "mean_ebv": float}
    )
    if years is None:
        return empty
    frame = pd.DataFrame(
        {
            "year": keys(ebv["id"]).map(years).astype(float).to_numpy(),
            "ebv": floats(ebv["ebv"]),
        }
    ).dropna()
    if frame.empty:
        return empty
    grouped = frame.groupby("year", sort=True)["ebv"].agg(["size", "mean"])
    return pd.DataFrame(
        {
            "birth_year": grouped.index.to_numpy(dtype=float),
            "n": grouped["size"].to_numpy(dtype="int64"),
            "mean_ebv": grouped["mean"].to_numpy(dtype=float),
        }
    )
