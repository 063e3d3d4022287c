"""Birth years of a pedigree: a `birth_year` column (whole numbers) and/or a `birth_date` column
(ISO dates, YYYY/MM/DD, YYYYMMDD or DD/MM/YYYY; only the year is kept), the two agreeing where both
are given."""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from henderson.clean.cells import _LIST_LIMIT, _missing_mask, _q, _strings
from henderson.errors import InputError

# Birth dates: (pattern, day first) with groups y (year), a (month) and b (day). Only the year is
# kept, so a day-first form also accepts a month-first date (12/31/2019): its year is the same.
_DATE_FORMS = (
    (re.compile(r"(?P<y>\d{4})-(?P<a>\d{1,2})-(?P<b>\d{1,2})(?:[T ]\S*)?"), False),  # ISO
    (re.compile(r"(?P<y>\d{4})/(?P<a>\d{1,2})/(?P<b>\d{1,2})"), False),
    (re.compile(r"(?P<y>\d{4})(?P<a>\d{2})(?P<b>\d{2})"), False),  # YYYYMMDD
    (re.compile(r"(?P<b>\d{1,2})[/.-](?P<a>\d{1,2})[/.-](?P<y>\d{4})"), True),  # DD/MM/YYYY
)



def _birth_date_years(
    column: pd.Series, lines: np.ndarray, ids: pd.Series, source: str, name: str
) -> np.ndarray:
    """Years of birth dates as float64 (missing codes -> NaN); a value that is not a date in
    one of the forms of :data:`_DATE_FORMS` is an error naming its lines."""
    missing = _missing_mask(column)
    text = _strings(column).str.strip()
    year = np.full(len(text), np.nan)
    todo = ~missing
    for pattern, day_first in _DATE_FORMS:
        if not todo.any():
            break
        parts = text[todo].str.fullmatch(pattern)
        at = np.flatnonzero(todo)[parts.to_numpy(dtype=bool)]
        if not len(at):
            continue
        got = text.iloc[at].str.extract(pattern).astype(np.int64)
        y, a, b = (got[k].to_numpy() for k in ("y", "a", "b"))
        ok = _valid_dates(y, a, b)
        if day_first:
            ok = ok | _valid_dates(y, b, a)
        year[at[ok]] = y[ok]
        todo[at] = False
    bad = ~missing & np.isnan(year)
    if bad.any():
        listed = _listing(np.flatnonzero(bad), lambda i: f"line {lines[i]} ({_q(ids.iloc[i])}: {_q(text.iloc[i])})")
        raise InputError(
            f"{source}: {name} is not a date on {listed}. Write dates as "
            "YYYY-MM-DD (e.g. 2019-03-28), DD/MM/YYYY or YYYYMMDD, with a four-digit year, or "
            "leave the cell empty."
        )
    return year


def _listing(positions: np.ndarray, describe) -> str:
    """The first _LIST_LIMIT of `positions` described, and how many there are in all."""
    shown = ", ".join(describe(i) for i in positions[:_LIST_LIMIT])
    return shown + (f", ... ({len(positions)} in all)" if len(positions) > _LIST_LIMIT else "")


def _valid_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """True where (year, month, day) is a calendar date."""
    dates = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month, "day": day}), errors="coerce"
    )
    return dates.notna().to_numpy(dtype=bool)


def _merge_years(
    year: np.ndarray,
    dated: np.ndarray,
    lines: np.ndarray,
    ids: pd.Series,
    source: str,
    name: Mapping[str, str],
) -> np.ndarray:
    """Birth years from the year column, else from the date; the two disagreeing is an error."""
    with np.errstate(invalid="ignore"):
        clash = np.flatnonzero(~np.isnan(year) & ~np.isnan(dated) & (year != dated))
    if len(clash):
        listed = _listing(clash, lambda i: f"line {lines[i]} ({_q(ids.iloc[i])}: {int(year[i])} and {int(dated[i])})")
        raise InputError(
            f"{source}: {name['birth_year']} and the year of {name['birth_date']} differ on "
            f"{listed}. Correct one of them (or keep only one of the columns)."
        )
    return np.where(np.isnan(year), dated, year)


def _birth_years(
    column: pd.Series, lines: np.ndarray, ids: pd.Series, source: str, name: str = "birth_year"
) -> np.ndarray:
    """Birth years as float64 (missing codes -> NaN); a non-integer value is an error."""
    missing = _missing_mask(column)
    text = column.astype(object).where(~missing, None)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~missing & ~(np.isfinite(number) & (number == np.round(number)))
    if bad.any():
        listed = _listing(np.flatnonzero(bad), lambda i: f"line {lines[i]} ({_q(ids.iloc[i])}: {_q(text.iloc[i])})")
        raise InputError(
            f"{source}: {name} is not a whole number on {listed}. "
            "Write years as integers (e.g. 2019) or leave the cell empty."
        )
    return np.where(missing, np.nan, number)
