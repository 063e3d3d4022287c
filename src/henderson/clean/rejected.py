"""The ``rejected`` tables: what cleaning dropped, merged or set missing, with the reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

REJECTED_COLUMNS = ["file", "line", "id", "model", "action", "reason", "detail"]
"""Columns of every ``rejected`` table (see :func:`combine_rejected`)."""


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


def _count_reasons(rejected: pd.DataFrame) -> dict[str, int]:
    counts = rejected["reason"].value_counts()
    return {str(reason): int(counts[reason]) for reason in sorted(counts.index)}
