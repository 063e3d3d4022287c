"""Raw table cells: the missing-value codes, string columns, and quoting for messages.

Raw tables come from :func:`henderson.io.read_table`: every value a stripped string, missing
cells ``""``, the index the source line number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from henderson.io import FLOAT_COLUMNS_ATTR

MISSING_VALUES: frozenset[str] = frozenset(
    {"", "NA", "na", "N/A", ".", "NaN", "nan", "NULL", "null"}
)
"""Codes read as a missing phenotype, covariate, class level, birth year or sex."""


_LIST_LIMIT = 10

def float_columns(frame: pd.DataFrame) -> frozenset[str]:
    """Columns that were float-typed in the source file (Parquet); empty for CSV tables."""
    return frozenset(frame.attrs.get(FLOAT_COLUMNS_ATTR, ()))


def normalise_ids(series: pd.Series, *, from_float: bool = False) -> pd.Series:
    """IDs in one canonical text form, so that the same animal is the same string everywhere.

    Every ID is stripped and put in Unicode NFC (a composed "é" and "e" + combining accent are one
    ID). With ``from_float=True`` (the column was float-typed in a Parquet file, typically an
    integer column with missing values) an integral decimal ``"80.0"`` or ``"8e1"`` becomes
    ``"80"``; integers as written (``"007"``) stay. Without it nothing is reinterpreted:
    ``"00123"`` and ``"80.0"`` stay as written. Missing cells (``""``, null) and non-string values pass through. Returns a new object Series
    with the same index and name.

    For a column of a table from ``read_table``: ``from_float=name in float_columns(frame)``.
    """
    values = series.to_numpy(dtype=object, copy=True)
    is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    text = values[is_text]
    if text.size:
        text = np.array([v.strip() for v in text], dtype=object)
        wide = np.fromiter((not v.isascii() for v in text), dtype=bool, count=text.size)
        text[wide] = [unicodedata.normalize("NFC", v) for v in text[wide]]
        if from_float:
            number = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            whole = np.isfinite(number) & (np.floor(number) == number)
            # integers as written ("007") keep their form: only decimals become integers
            whole &= ~pd.Series(text, dtype=object).str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
            text[whole] = [str(int(v)) for v in number[whole]]
        values[is_text] = text
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


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


def _strings(series: pd.Series) -> pd.Series:
    """A column as strings without nulls (null cells become ``""``), index dropped."""
    if isinstance(series.dtype, pd.StringDtype) and not series.isna().any():
        return series.reset_index(drop=True)
    text = series.astype(object).where(series.notna(), "").astype(str)
    return text.reset_index(drop=True)
