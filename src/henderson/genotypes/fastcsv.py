"""The fast path of the CSV reader for files whose genotype cells are all one character.

Most exported genotype matrices hold one character per cell (0, 1, 2, and a one-digit missing
code such as 5 or 9), so every line is ``<id>`` followed by exactly m pairs (separator, code):
2m bytes. pyarrow reads each line as one binary value (no per-cell parsing), the ID is the part
before the first separator, and the 2m bytes after it are split by numpy into an n × m byte
matrix and mapped to codes through a 256-entry table. A file with any other line (a multi-character
or empty cell, quotes, a blank line) returns None and is read by pyarrow's column parser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

_ROWS = 64  # rows gathered at a time (an index of 64 × 2m int64)


def read_one_char_csv(path: Path, sep: str, m: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids (n,) object array of str, cells (n, m) uint8 ASCII codes) of a CSV whose every data
    line is an ID and m one-character cells separated by ``sep``; None for any other file."""
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(skip_rows=1, column_names=["line"], block_size=1 << 26),
            parse_options=pcsv.ParseOptions(delimiter="\x01", quote_char=False, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types={"line": pa.binary()}, strings_can_be_null=False,
                                                null_values=[]),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    width = 2 * m
    sep_byte = ord(sep)
    cells = np.empty((table.num_rows, m), dtype=np.uint8)
    ids = np.empty(table.num_rows, dtype=object)
    row = 0
    step = np.arange(width, dtype=np.int64)
    for chunk in table.column("line").chunks:
        chunk = chunk.cast(pa.large_binary())
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        start = offsets[1:] - width
        first = pc.list_element(pc.split_pattern(chunk, pattern=sep.encode(), max_splits=1), 0)
        first_len = pc.binary_length(first).to_numpy(zero_copy_only=False)
        if (start - offsets[:-1] != first_len).any() or (first_len == 0).any():
            return None
        for at in range(0, len(chunk), _ROWS):
            block = data[start[at:at + _ROWS, None] + step]
            if (block[:, 0::2] != sep_byte).any():
                return None
            cells[row + at:row + at + block.shape[0]] = block[:, 1::2]
        ids[row:row + len(chunk)] = first.cast(pa.string()).to_numpy(zero_copy_only=False)
        row += len(chunk)
    return (ids, cells) if row else None
