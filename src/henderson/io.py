"""Reading input tables, writing Parquet/JSON/npz outputs with metadata sidecars.

Input tables are read with every value as a string (IDs stay "00123", codes for missing values are
interpreted by the cleaning stage, not by the reader). The DataFrame index holds the source line
number (CSV: 1-based file line, header = line 1) or row number (Parquet: 1-based), so every rejected
row can be traced back to its place in the user's file. Text files without a header line are read
with the column names given; a file that is not UTF-8 is read as Windows-1252 (or Latin-1) with a
warning (:func:`detect_encoding`).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from henderson import __version__
from henderson.errors import ConfigError, InputError

if TYPE_CHECKING:  # scipy is imported where a matrix is read or written: the cleaning stages need none
    import scipy.sparse as sp

CSV_SEPARATORS = {"\t": "tab", ",": "comma", ";": "semicolon"}

FLOAT_COLUMNS_ATTR = "float_columns"
"""Key of ``DataFrame.attrs`` where :func:`read_table` lists a Parquet file's float-typed columns
(their integral values arrive as ``"80.0"``; see :func:`henderson.clean.cells.normalise_ids`)."""

WARNINGS_ATTR = "read_warnings"
"""Key of ``DataFrame.attrs`` where :func:`read_table` lists warnings of the reading (e.g. a file
read as Windows-1252 because it is not UTF-8), for the clean stage's summary."""


def detect_separator(header: str) -> str | None:
    """Separator of a delimited text header line: tab, comma, semicolon, else whitespace (None)."""
    for sep in CSV_SEPARATORS:
        if sep in header:
            return sep
    return None


def _first_nonblank_line(path: Path, encoding: str) -> tuple[int, str]:
    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                return number, line.rstrip("\r\n")
    raise InputError(f"{path}: the file is empty; expected a header line and data rows.")


def detect_encoding(path: str | Path) -> tuple[str, str | None]:
    """The text encoding of a file, and a warning when it is not UTF-8.

    UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order mark are read
    silently. Other files are read as Windows-1252 (cp1252: Excel's CSV export on
    Western-European Windows, a superset of the printable Latin-1), or as Latin-1 when a
    byte is undefined in cp1252; the warning names the file, the encoding, the first line
    that is not UTF-8 and a value from it. Cost: one streaming pass over the bytes.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        start = handle.read(4)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", None
    bad = _first_undecodable(path, "utf-8")
    if bad is None:
        return "utf-8-sig", None
    offset, line = bad
    encoding, label = "cp1252", "Windows-1252 (cp1252)"
    if _first_undecodable(path, encoding) is not None:
        encoding, label = "latin-1", "Latin-1 (ISO-8859-1)"
    with open(path, "rb") as handle:
        handle.seek(max(0, offset - 200))
        before = handle.read(min(offset, 200))
        after = handle.read(200)
    text = (before.rsplit(b"\n", 1)[-1] + after.split(b"\n", 1)[0]).decode(encoding)
    value = next((v for v in re.split(r"[\t,;\s]+", text) if not v.isascii()), text).strip('"')
    return encoding, (
        f"{path.name}: the file is not UTF-8 (line {line}); it was read as {label}, so "
        f"line {line} reads {value!r}. If accented names look wrong, save the "
        "file as UTF-8 (e.g. 'CSV UTF-8' in Excel) and rerun."
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, 1-based line) of the first byte that does not decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = lines = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # an error inside a block points into it (a split sequence: into its start)
                at = max(0, min(exc.start, len(block)))
                return offset + at, lines + block[:at].count(b"\n") + 1
            if not block:
                return None
            offset += len(block)
            lines += block.count(b"\n")


def _looks_like_data(fields: Sequence[str]) -> bool:
    """True when every field of a header line is a number: the line is a data row."""
    cells = [f.strip().strip('"') for f in fields]
    if not cells or any(c == "" for c in cells):
        return False
    return bool(pd.to_numeric(pd.Series(cells), errors="coerce").notna().all())


def read_table(
    path: str | Path,
    names: Sequence[str] | None = None,
    *,
    names_key: str | None = None,
    example: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a CSV (comma, tab, semicolon or whitespace separated) or Parquet table as strings.

    ``names``: the columns of a text file without a header line, in file order (every line is
    data; BLUPF90-style files); ``None``: the first non-blank line is the header. A header
    whose fields are all numbers is refused: the message says the file seems to have no
    header and shows the config key ``names_key`` with ``example`` names to set.

    Returns a DataFrame of ``str`` columns (missing cells as ``""``), indexed by source line
    (CSV: the line where the row starts, counting line breaks inside quoted fields) or 1-based
    row number (Parquet), index name ``"line"``. For Parquet, ``attrs[FLOAT_COLUMNS_ATTR]``
    lists the float-typed columns. ``attrs[WARNINGS_ATTR]`` lists warnings of the reading
    (a file that is not UTF-8, see :func:`detect_encoding`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found. Check the path in config/config.yaml.")
    if path.suffix.lower() in {".parquet", ".pq"}:
        if names is not None:
            raise ConfigError(
                f"{path}: a Parquet file names its own columns; remove `{names_key or 'names'}` "
                "from the config."
            )
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
        frame.attrs[WARNINGS_ATTR] = []
        return frame
    encoding, warning = detect_encoding(path)
    first_line, first = _first_nonblank_line(path, encoding)
    sep = detect_separator(first)
    fields = first.split(sep)
    if names is not None:
        names = [str(n) for n in names]
        _check_header(pd.Index(names), path)
        if [f.strip().strip('"') for f in fields] == names:
            raise InputError(
                f"{path}: line {first_line} is a header ({first.strip()!r}), but "
                f"`{names_key or 'names'}` says the file has none. Remove `{names_key or 'names'}` "
                "from the config (or the header line from the file)."
            )
        if len(fields) != len(names):
            raise InputError(
                f"{path}: line {first_line} has {len(fields)} fields but "
                f"`{names_key or 'names'}` names {len(names)} columns ({', '.join(names)}). "
                "List every column of the file, in file order."
            )
        header_line = first_line - 1
    else:
        if _looks_like_data(fields):
            shown = [*example, *(f"column{k + 1}" for k in range(len(example), len(fields)))]
            raise InputError(
                f"{path}: the first line ({first.strip()!r}) looks like data, not a header: every "
                "field is a number. If the file has no header line, list its columns in the "
                f"config, in file order: `{names_key or 'names'}: [{', '.join(shown[: len(fields)])}]`"
                " (with your column names)."
            )
        header_line = first_line
        _check_header(pd.Index([h.strip().strip('"') for h in fields]), path)
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
                skiprows=header_line - 1 if names is None else header_line,
                header=0 if names is None else None,
                names=names,
                index_col=False,
                encoding=encoding,
                engine="c" if sep is not None else "python",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        width = len(names) if names is not None else len(fields)
        line = _first_ragged_line(path, sep, header_line, width, encoding)
        what = "the header" if names is None else f"the {width} columns of `{names_key or 'names'}`"
        where = f"line {line} has a different number of fields than {what}" if line else str(exc)
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
    frame = frame.loc[~blank]
    frame.attrs[WARNINGS_ATTR] = [warning] if warning else []
    return frame


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


def _first_ragged_line(
    path: Path, sep: str | None, header_line: int, width: int, encoding: str
) -> int | None:
    """Line number of the first row whose field count is not ``width`` (error path)."""
    with open(path, encoding=encoding) as handle:
        lines = handle.read().splitlines()
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


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV without the pandas index, by Arrow's writer (several times faster than
    pandas' for large tables): a header row, text values in double quotes, numbers in their
    shortest exact form, missing values (None, NaN) empty."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), str(path))


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
        if all(type(v) is str for v in obj):  # e.g. the ID order of a matrix: no walk per item
            return list(obj)
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biu":
            return obj.tolist()
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
    import scipy.sparse as sp

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # uncompressed: at 1M animals compression took 2.4 s of a 5 s stage for a file half the size
    sp.save_npz(path, sp.csc_matrix(matrix), compressed=False)
    full = {"henderson_version": __version__, "shape": list(matrix.shape), "nnz": int(matrix.nnz)}
    full.update(meta)
    write_json(full, sidecar_path(path))


def load_matrix(path: str | Path, ids: list[str] | None = None) -> tuple[sp.csc_matrix, dict]:
    """Load a matrix saved by :func:`save_matrix`; verify its sidecar (shape, and ID order if given)."""
    import scipy.sparse as sp

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
