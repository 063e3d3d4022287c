"""Number and text formatting, and the plain data the template renders (:class:`Table`,
:class:`Plot`).

Numbers are formatted for reading, not for reuse (the Parquet/JSON outputs hold full precision):
EBVs, their standard errors and inbreeding coefficients with 3 decimals, reliabilities with 2,
ratios and correlations with 3, variances and BLUEs with 4 significant digits, counts with
thousands separators; a missing value is shown as an em dash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

DASH = "\u2014"


@dataclass(frozen=True)
class Table:
    """A formatted table: every cell is already a string; ``numeric[j]`` right-aligns column j."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    note: str = ""


@dataclass(frozen=True)
class Plot:
    """An embedded figure: ``uri`` is a ``data:image/svg+xml;base64,...`` URI."""

    title: str
    caption: str
    uri: str
    alt: str


def is_missing(value: Any) -> bool:
    """None, NaN, NA or NaT (a value that cannot be tested counts as present)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_count(value: Any) -> str:
    """An integer count with thousands separators (``12,345``); missing -> em dash."""
    if is_missing(value):
        return DASH
    return f"{int(value):,}"


def fmt_fixed(value: Any, decimals: int = 3) -> str:
    """A number with a fixed number of decimals; negative zero is shown as zero."""
    if is_missing(value):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def fmt_sig(value: Any, digits: int = 4) -> str:
    """A number with about ``digits`` significant digits, readable over many magnitudes.

    Values of at least 10**digits are shown as integers with thousands separators, very small
    ones in scientific notation, the rest with ``digits`` significant digits (``0.3333``, ``20``).
    """
    if is_missing(value):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if x == 0.0:
        return "0"
    ax = abs(x)
    if ax >= 10**digits and ax < 1e15:
        return f"{x:,.0f}"
    if ax < 1e-3 or ax >= 1e15:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def fmt_ratio(value: Any) -> str:
    """A ratio or correlation with 3 decimals."""
    return fmt_fixed(value, 3)


def fmt_year(value: Any) -> str:
    """A birth year without separators (``2021``); missing -> em dash."""
    return DASH if is_missing(value) else fmt_sig(value, 6).replace(",", "")


def text(value: Any) -> str:
    """A user-provided cell as text (escaped later by the template); missing -> em dash."""
    if is_missing(value):
        return DASH
    out = str(value)
    return out if out != "" else DASH


def animals(n: int) -> str:
    """``1 animal``, ``1,234 animals``."""
    return f"{n:,} animal" + ("" if n == 1 else "s")
