"""Reading genotype files: a CSV or Parquet matrix with one ID column, or PLINK .bed/.bim/.fam.

CSV/Parquet: one row per animal, an ID column and one column per SNP holding 0, 1 or 2 (copies
of the counted allele); missing as an empty cell, NA (any of
:data:`henderson.clean.cells.MISSING_VALUES`) or one of ``missing_codes`` (e.g. 5 or 9). CSV files
are parsed by pyarrow straight into int8 columns (no Python loop over rows), with comma, tab,
semicolon or single-space separators; a file whose cells are all one character (the usual
export) takes a faster path (:mod:`henderson.genotypes.fastcsv`, about ten times faster on
50,000 SNP columns). PLINK binary files are read by ``bed-reader`` (allele 1 of
the .bim file counted, IDs from the .fam file's second column).

Any other value is an :class:`~henderson.errors.InputError` naming the file, the animal, its
line and the SNP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from henderson.clean.cells import MISSING_VALUES, normalise_ids
from henderson.errors import InputError
from henderson.genotypes.fastcsv import read_one_char_csv
from henderson.genotypes.matrix import MISSING, Genotypes, row_blocks

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
PLINK_SUFFIXES = (".bed", ".bim", ".fam")
_SENTINEL = -128  # a null cell while converting (no genotype or missing code can be -128)
_COLUMNS_PER_BLOCK = 512


@dataclass(frozen=True)
class GenotypeSource:
    """Where genotypes come from: ``kind`` (csv, parquet or plink), the config's ``path``, and
    the ``files`` read (one table, or .bed, .bim, .fam)."""

    kind: str
    path: str
    files: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.files[0]).name


def genotype_source(path: str | Path) -> GenotypeSource:
    """The kind and files of the config's ``genotypes`` value: a CSV/Parquet file, a .bed file
    (its .bim and .fam beside it), or a PLINK prefix (``geno`` for geno.bed/.bim/.fam)."""
    text = str(path)
    suffix = Path(text).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return GenotypeSource("parquet", text, (text,))
    if suffix in (".csv", ".tsv", ".txt"):
        return GenotypeSource("csv", text, (text,))
    prefix = text[: -len(suffix)] if suffix in PLINK_SUFFIXES else text
    if suffix in PLINK_SUFFIXES or Path(prefix + ".bed").exists():
        return GenotypeSource("plink", text, tuple(prefix + s for s in PLINK_SUFFIXES))
    return GenotypeSource("csv", text, (text,))


def read_genotypes(
    path: str | Path, *, id_column: str = "id", missing_codes: Sequence[int] = (5, 9)
) -> Genotypes:
    """Read a genotype file (see module doc) into `Genotypes` (IDs normalised like the
    pedigree's: stripped, Unicode NFC). Raises InputError for a missing file, a missing or
    repeated ID, a repeated SNP name, or a value that is not 0, 1, 2 or a missing code."""
    source = genotype_source(path)
    for file in source.files:
        if not Path(file).exists():
            raise InputError(
                f"{file}: genotype file not found. Check `genotypes:` in the config (a CSV or "
                "Parquet file, or a PLINK prefix with .bed, .bim and .fam beside each other)."
            )
    if source.kind == "plink":
        genotypes = _read_plink(source)
        lines = np.arange(1, len(genotypes.ids) + 1)
    elif source.kind == "parquet":
        genotypes, lines = _read_parquet(Path(path), id_column, tuple(missing_codes))
    else:
        genotypes, lines = _read_csv(Path(path), id_column, tuple(missing_codes))
    _check_names(genotypes, lines, source)
    return genotypes


def _check_names(genotypes: Genotypes, lines: np.ndarray, source: GenotypeSource) -> None:
    where = "row" if source.kind != "csv" else "line"
    ids = pd.Series(genotypes.ids)
    twice = ids.duplicated(keep=False).to_numpy()
    if twice.any():
        first = ids[twice].iloc[0]
        at = lines[(ids == first).to_numpy()].tolist()
        raise InputError(
            f"{source.name}: animal {first!r} has genotypes on {where}s {at}; keep one row per "
            f"animal ({int(ids.duplicated().sum())} repeated IDs in all)."
        )
    snps = pd.Series(genotypes.snps)
    if snps.duplicated().any():
        name = snps[snps.duplicated()].iloc[0]
        raise InputError(f"{source.name}: SNP {name!r} appears twice; give every SNP its own name.")


def _bad_code(file: str, animal: str, line: int, snp: str, value: str, codes: tuple[int, ...],
              where: str = "line") -> InputError:
    return InputError(
        f"{file}: animal {animal!r} ({where} {line}), SNP {snp!r}: {value!r} is not a genotype code "
        f"(0, 1, 2 copies of the allele) nor a missing value (empty, NA, or the missing codes "
        f"{list(codes)}). Fix the file, or list the code under genotype_qc.missing_codes."
    )


def _lookup(missing_codes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Tables over the int8 range (indexed by value + 128): valid code, and its stored code."""
    values = np.arange(-128, 128)
    valid = np.isin(values, [0, 1, 2, _SENTINEL, *missing_codes])
    stored = np.where(np.isin(values, [0, 1, 2]), values, MISSING).astype(np.int8)
    return valid, stored


def _convert_block(block: np.ndarray, valid: np.ndarray, stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, bad) of an int8 block: stored codes, and the mask of invalid values."""
    index = block.astype(np.int16) + 128
    return stored[index], ~valid[index]


def _separator(path: Path) -> str:
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    for sep in ("\t", ",", ";"):
        if sep in header:
            return sep
    return " "


def _read_csv(path: Path, id_column: str, missing_codes: tuple[int, ...]) -> tuple[Genotypes, np.ndarray]:
    sep = _separator(path)
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    names = [h.strip().strip('"') for h in header.split(sep)]
    if id_column not in names:
        raise InputError(
            f"{path.name}: no ID column {id_column!r} in the header (first columns: {names[:5]}). "
            "Set genotype_qc.id_column to the column that holds the animal IDs."
        )
    if names[0] == id_column and len(names) > 1:
        fast = read_one_char_csv(path, sep, len(names) - 1)
        if fast is not None:
            return _one_char_genotypes(path, fast, names, missing_codes)
    types = {name: pa.int8() for name in names}
    types[id_column] = pa.string()
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=1 << 26),
            parse_options=pcsv.ParseOptions(delimiter=sep),
            convert_options=pcsv.ConvertOptions(
                column_types=types, null_values=sorted(MISSING_VALUES), strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, exc, sep, names, id_column, missing_codes) from None
    ids = table.column(id_column)
    lines = np.arange(2, table.num_rows + 2)
    if ids.null_count:
        line = int(lines[np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0]])
        raise InputError(f"{path.name}: line {line} has no animal ID in column {id_column!r}.")
    animal_ids = normalise_ids(pd.Series(ids.to_numpy(zero_copy_only=False), dtype=object)).to_numpy()
    snp_names = [n for n in names if n != id_column]
    codes = _table_codes(table, snp_names, path.name, animal_ids, lines, missing_codes, "line")
    return Genotypes(ids=animal_ids, snps=np.array(snp_names, dtype=object), codes=codes), lines


def _one_char_genotypes(path: Path, fast: tuple[np.ndarray, np.ndarray], names: list[str],
                        missing_codes: tuple[int, ...]) -> tuple[Genotypes, np.ndarray]:
    """Genotypes from the fast path's IDs and n × m ASCII cells (see :mod:`.fastcsv`)."""
    raw_ids, cells = fast
    valid = np.zeros(256, dtype=bool)
    stored = np.full(256, MISSING, dtype=np.int8)
    for code in (0, 1, 2):
        valid[ord(str(code))] = True
        stored[ord(str(code))] = code
    one_char_missing = [c for c in MISSING_VALUES if len(c) == 1]
    one_char_missing += [str(c) for c in missing_codes if 0 <= c <= 9]
    valid[[ord(c) for c in one_char_missing]] = True
    lines = np.arange(2, len(raw_ids) + 2)
    ids = normalise_ids(pd.Series(raw_ids, dtype=object)).to_numpy()
    codes = np.empty(cells.shape, dtype=np.int8)
    for block in row_blocks(*cells.shape):
        part = cells[block]
        bad = ~valid[part]
        if bad.any():
            row, column = np.argwhere(bad)[0]
            row += block.start
            raise _bad_code(path.name, ids[row], int(lines[row]), names[column + 1], chr(cells[row, column]),
                            missing_codes)
        codes[block] = stored[part]
    return Genotypes(ids=ids, snps=np.array(names[1:], dtype=object), codes=codes), lines


def _table_codes(table: pa.Table, snp_names: list[str], file: str, ids: np.ndarray, lines: np.ndarray,
                 missing_codes: tuple[int, ...], where: str) -> np.ndarray:
    """The n × m int8 code matrix of int8 table columns, converted in blocks of columns."""
    n, m = table.num_rows, len(snp_names)
    valid, stored = _lookup(missing_codes)
    codes = np.empty((n, m), dtype=np.int8)
    first_bad: tuple[int, int, str] | None = None  # (row, column, value): the first in file order
    for start in range(0, m, _COLUMNS_PER_BLOCK):
        names = snp_names[start:start + _COLUMNS_PER_BLOCK]
        block = np.empty((len(names), n), dtype=np.int8)
        for k, name in enumerate(names):
            column = pc.fill_null(table.column(name), _SENTINEL)
            block[k] = column.to_numpy(zero_copy_only=False) if n else []
        converted, bad = _convert_block(block, valid, stored)
        if bad.any():
            row, k = np.argwhere(bad.T)[0]
            if first_bad is None or row < first_bad[0]:
                first_bad = (int(row), start + int(k), str(block[k, row]))
        codes[:, start:start + len(names)] = converted.T
    if first_bad is not None:
        row, column, value = first_bad
        raise _bad_code(file, ids[row], int(lines[row]), snp_names[column], value, missing_codes, where)
    return codes


def _csv_error(path: Path, exc: Exception, sep: str, names: list[str], id_column: str,
               missing_codes: tuple[int, ...]) -> InputError:
    """The InputError for a CSV pyarrow could not convert: the animal and SNP of a bad value."""
    text = str(exc)
    found = re.search(r"CSV column #(\d+)", text)
    if "parse error" in text or found is None:
        return InputError(f"{path.name}: cannot be read as a genotype table ({text}). Every line needs "
                          f"the {len(names)} fields of the header.")
    name = names[int(found.group(1))]
    table = pcsv.read_csv(
        path, parse_options=pcsv.ParseOptions(delimiter=sep),
        convert_options=pcsv.ConvertOptions(
            include_columns=[id_column, name], column_types={id_column: pa.string(), name: pa.string()},
            strings_can_be_null=False,
        ),
    )
    values = table.column(name).to_pylist()
    ids = table.column(id_column).to_pylist()
    for row, value in enumerate(values):
        cell = (value or "").strip()
        if cell in MISSING_VALUES:
            continue
        try:
            number = int(cell)
        except ValueError:
            number = None
        if number not in (0, 1, 2, *missing_codes):
            return _bad_code(path.name, ids[row], row + 2, name, cell, missing_codes)
    return InputError(f"{path.name}: column {name!r} cannot be read as genotype codes ({text}).")


def _read_parquet(path: Path, id_column: str, missing_codes: tuple[int, ...]) -> tuple[Genotypes, np.ndarray]:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise InputError(f"{path.name}: cannot be read as Parquet ({exc}).") from exc
    names = [str(n) for n in table.column_names]
    if id_column not in names:
        raise InputError(
            f"{path.name}: no ID column {id_column!r} (first columns: {names[:5]}). Set "
            "genotype_qc.id_column to the column that holds the animal IDs."
        )
    lines = np.arange(1, table.num_rows + 1)
    raw = table.column(id_column)
    if raw.null_count:
        row = int(lines[np.flatnonzero(raw.is_null().to_numpy(zero_copy_only=False))[0]])
        raise InputError(f"{path.name}: row {row} has no animal ID in column {id_column!r}.")
    from_float = pa.types.is_floating(raw.type)
    ids = pd.Series([str(v) if not isinstance(v, str) else v for v in raw.to_pylist()], dtype=object)
    if from_float:
        ids = pd.Series([repr(float(v)) for v in raw.to_pylist()], dtype=object)
    animal_ids = normalise_ids(ids, from_float=from_float).to_numpy()
    snp_names = [n for n in names if n != id_column]
    columns = {}
    for name in snp_names:
        columns[name] = _parquet_column(table.column(name), path.name, name, animal_ids, lines, missing_codes)
    converted = pa.table(columns) if columns else pa.table({"_": pa.array([], pa.int8())}).slice(0, 0)
    codes = _table_codes(converted, snp_names, path.name, animal_ids, lines, missing_codes, "row") if columns \
        else np.empty((table.num_rows, 0), dtype=np.int8)
    return Genotypes(ids=animal_ids, snps=np.array(snp_names, dtype=object), codes=codes), lines


def _parquet_column(column: pa.ChunkedArray, file: str, name: str, ids: np.ndarray, lines: np.ndarray,
                    missing_codes: tuple[int, ...]) -> pa.Array:
    """One SNP column as int8 (nulls kept): integers as stored, integral floats (NaN missing),
    or text (the missing values of MISSING_VALUES, else integers)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = [None if v is None or v.strip() in MISSING_VALUES else v.strip() for v in column.to_pylist()]
        values = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(values) & np.array([t is not None for t in text], dtype=bool))
        if bad.size:
            row = bad[0]
            raise _bad_code(file, ids[row], int(lines[row]), name, text[row], missing_codes, "row")
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(float) if len(column) else np.empty(0)
    else:
        raise InputError(f"{file}: SNP column {name!r} has type {column.type}; expected integer codes 0, 1, 2.")
    allowed = np.isin(values, [0, 1, 2, *missing_codes]) | np.isnan(values)
    if not allowed.all():
        row = np.flatnonzero(~allowed)[0]
        value = values[row]
        shown = str(int(value)) if float(value).is_integer() else str(value)
        raise _bad_code(file, ids[row], int(lines[row]), name, shown, missing_codes, "row")
    out = np.where(np.isnan(values), _SENTINEL, values).astype(np.int8)
    return pa.array(out, type=pa.int8())


def _read_plink(source: GenotypeSource) -> Genotypes:
    from bed_reader import open_bed  # imported here: only PLINK input needs it

    bed, bim, fam = source.files
    try:
        with open_bed(bed, bim_filepath=bim, fam_filepath=fam, count_A1=True) as reader:
            ids = np.array([str(v) for v in reader.iid], dtype=object)
            snps = np.array([str(v) for v in reader.sid], dtype=object)
            chromosome = np.array([str(v) for v in reader.chromosome], dtype=object)
            position = np.asarray(reader.bp_position, dtype=np.int64)
            codes = reader.read(dtype="int8", order="C")
    except InputError:
        raise
    except Exception as exc:  # bed-reader raises ValueError/RuntimeError for malformed files
        raise InputError(
            f"{Path(bed).name}: cannot be read as PLINK .bed/.bim/.fam ({exc}). Check that the three "
            "files belong together (the .fam lists the animals, the .bim the SNPs of the .bed)."
        ) from exc
    codes = np.ascontiguousarray(codes)
    codes[codes < 0] = MISSING  # bed-reader writes a missing call as -127
    ids = normalise_ids(pd.Series(ids, dtype=object)).to_numpy()
    return Genotypes(ids=ids, snps=snps, codes=codes, chromosome=chromosome, position=position)
