"""Raw table cells: the missing-value codes, string columns, and quoting for messages.

Raw tables come from :func:`henderson.io.read_table`: every value a stripped string, missing
cells ``""``, the index the source line number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

MISSING_VALUES: frozenset[str] = frozenset(
    {"", "NA", "na", "N/A", ".", "NaN", "nan", "NULL", "null"}
)
"""Codes read as a missing phenotype, covariate, class level, birth year or sex."""


_LIST_LIMIT = 10


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
