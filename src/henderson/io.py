"""Reading input tables, writing Parquet/JSON/npz outputs with metadata sidecars.

Input tables are read with every value as a string (IDs stay "00123", codes for missing values are
interpreted by the cleaning stage, not by the reader). The DataFrame index holds the source line
number (CSV: 1-based file line, header = line 1) or row number (Parquet: 1-based), so every rejected
row can be traced back to its place in the user's file.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson import __version__
from henderson.errors import InputError

CSV_SEPARATORS = {"\t": "tab", ",": "comma", ";": "semicolon"}

FLOAT_COLUMNS_ATTR = "float_columns"
"""Key of ``DataFrame.attrs`` where :func:`read_table` lists a Parquet file's float-typed columns
(their integral values arrive as ``"80.0"``; see :func:`henderson.clean.cells.normalise_ids`)."""


def detect_separator(header: str) -> str | None:
    """Separator of a delimited text header line: tab, comma, semicolon, else whitespace (None)."""
    for sep in CSV_SEPARATORS:
        if sep in header:
            return sep
    return None


def _first_nonblank_line(path: Path) -> tuple[int, str]:
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                return number, line.rstrip("\r\n")
    raise InputError(f"{path}: the file is empty; expected a header line and data rows.")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (comma, tab, semicolon or whitespace separated) or Parquet table as strings.

    Returns a DataFrame of ``str`` columns (missing cells as ``""``), indexed by source line
    (CSV: the line where the row starts, counting line breaks inside quoted fields) or 1-based
    row number (Parquet), index name ``"line"``. For Parquet, ``attrs[FLOAT_COLUMNS_ATTR]``
    lists the float-typed columns.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found. Check the path in config/config.yaml.")
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise InputError(f"{path}: cannot be read as Parquet ({exc}).") from exc
        floats = [str(c).strip() for c, t in frame.dtypes.items() if pd.api.types.is_float_dtype(t)]
        frame = frame.astype(object).where(frame.notna(), "")
        frame = frame.map(_cell_to_str)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
        frame.columns = [str(c).strip() for c in frame.columns]
        _check_header(frame.columns, path)
        # Integral floats arrive as "80.0"; ID columns normalise them (clean.cells.normalise_ids).
        frame.attrs[FLOAT_COLUMNS_ATTR] = floats
        return frame
    header_line, header = _first_nonblank_line(path)
    sep = detect_separator(header)
    _check_header(pd.Index([h.strip().strip('"') for h in header.split(sep)]), path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=sep if sep is not None else r"\s+",
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                skiprows=header_line - 1,
                index_col=False,
                encoding="utf-8-sig",
                engine="c" if sep is not None else "python",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        line = _first_ragged_line(path, sep, header_line)
        where = f"line {line} has a different number of fields than the header" if line else str(exc)
        raise InputError(
            f"{path}: {where}. Fix the separators or quote fields that contain them."
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_header(frame.columns, path)
    frame.index = pd.Index(_record_lines(frame, header_line), name="line")
    short = frame.isna()
    if short.to_numpy().any():
        # whitespace-separated rows with fewer fields than the header: blank lines are skipped,
        # any other short row is ambiguous (which value is missing?)
        empty = (short | (frame == "")).all(axis=1)
        ragged = short.any(axis=1) & ~empty
        if ragged.any():
            raise InputError(
                f"{path}: line {int(frame.index[ragged.to_numpy()][0])} has fewer fields than the "
                "header. Write a missing value as NA (whitespace-separated files cannot have empty "
                "cells)."
            )
        frame = frame.fillna("")
    frame = frame.map(str.strip) if len(frame) else frame
    blank = (frame == "").all(axis=1)
    return frame.loc[~blank]


def _record_lines(frame: pd.DataFrame, header_line: int) -> np.ndarray:
    """Source line of each row: one line per row, plus the line breaks inside quoted fields of
    the rows before it (a quoted value spanning two lines moves every later row down one)."""
    n = len(frame)
    lines = np.arange(header_line + 1, header_line + 1 + n, dtype=np.int64)
    breaks = np.zeros(n, dtype=np.int64)
    for column in frame.columns:
        text = frame[column]
        if text.dtype != object and not pd.api.types.is_string_dtype(text):
            continue
        counts = text.str.count(r"\r\n|\r|\n")
        breaks += counts.fillna(0).to_numpy(dtype=np.int64)
    if breaks.any():
        lines[1:] += np.cumsum(breaks)[:-1]
    return lines


def _first_ragged_line(path: Path, sep: str | None, header_line: int) -> int | None:
    """Line number of the first row whose field count differs from the header's (error path)."""
    with open(path, encoding="utf-8-sig") as handle:
        lines = handle.read().splitlines()
    width = len(lines[header_line - 1].split(sep))
    for number in range(header_line + 1, len(lines) + 1):
        text = lines[number - 1]
        if text.strip() and len(text.split(sep)) != width:
            return number
    return None


def _cell_to_str(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return repr(float(value))
    return str(value)


def _check_header(columns: pd.Index, path: Path) -> None:
    names = list(columns)
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate column name(s) {dupes} in the header; rename them.")
    if any(c == "" or c.startswith("Unnamed:") for c in names):
        raise InputError(f"{path}: the header has an empty column name; name every column.")


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex), for metadata sidecars and cache checks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table to Parquet without the pandas index (deterministic bytes for equal input)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON with sorted-free, indented, finite-only numbers (NaN becomes null)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_jsonable(obj), handle, indent=2, allow_nan=False)
        handle.write("\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def sidecar_path(path: str | Path) -> Path:
    """Metadata sidecar of an output file: ``<file>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def save_matrix(path: str | Path, matrix: sp.spmatrix, meta: dict[str, Any]) -> None:
    """Save a sparse matrix as scipy ``.npz`` with a JSON sidecar (version, shape, plus ``meta``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sp.save_npz(path, sp.csc_matrix(matrix), compressed=True)
    full = {"henderson_version": __version__, "shape": list(matrix.shape), "nnz": int(matrix.nnz)}
    full.update(meta)
    write_json(full, sidecar_path(path))


def load_matrix(path: str | Path, ids: list[str] | None = None) -> tuple[sp.csc_matrix, dict]:
    """Load a matrix saved by :func:`save_matrix`; verify its sidecar (shape, and ID order if given)."""
    path = Path(path)
    matrix = sp.csc_matrix(sp.load_npz(path))
    side = sidecar_path(path)
    if not side.exists():
        raise InputError(f"{path}: metadata sidecar {side.name} is missing; rerun the stage that made it.")
    with open(side, encoding="utf-8") as handle:
        meta = json.load(handle)
    if list(matrix.shape) != list(meta.get("shape", [])):
        raise InputError(f"{path}: shape {matrix.shape} does not match its sidecar {meta.get('shape')}.")
    if ids is not None and list(meta.get("ids", [])) != list(ids):
        raise InputError(f"{path}: ID order differs from the cleaned pedigree; rerun the workflow.")
    return matrix, meta
