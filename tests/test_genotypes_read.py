"""Genotype readers (CSV, Parquet, PLINK through bed-reader), missing codes, bad codes, and the
saved matrix (save_genotypes / load_genotypes)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

from henderson.errors import InputError
from henderson.genotypes import (
    Genotypes,
    genotype_source,
    load_genotypes,
    read_genotypes,
    save_genotypes,
)

CODES = np.array([[0, 1, 2, -1], [2, 2, 1, 0], [1, -1, 0, 2]], dtype=np.int8)
IDS = ["A1", "A2", "A3"]
SNPS = ["s1", "s2", "s3", "s4"]


def write_csv(path, sep=",", missing=("", "NA", "9"), id_column="id"):
    lines = [sep.join([id_column, *SNPS])]
    for k, (animal, row) in enumerate(zip(IDS, CODES, strict=True)):
        cells = [str(v) if v >= 0 else missing[k % len(missing)] for v in row]
        lines.append(sep.join([animal, *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep", [",", "\t", ";", " "])
def test_csv_reader_reads_codes_and_missing_values(tmp_path, sep):
    missing = ("9", "9", "9") if sep == " " else ("", "NA", "9")  # a space-separated file has no empty cells
    g = read_genotypes(write_csv(tmp_path / "g.csv", sep, missing), id_column="id", missing_codes=(5, 9))
    assert list(g.ids) == IDS and list(g.snps) == SNPS
    assert g.codes.dtype == np.int8 and g.codes.flags.c_contiguous
    np.testing.assert_array_equal(g.codes, CODES)


def test_missing_codes_are_configurable(tmp_path):
    path = write_csv(tmp_path / "g.csv", missing=("5",))
    np.testing.assert_array_equal(read_genotypes(path, missing_codes=(5,)).codes, CODES)
    with pytest.raises(InputError, match=r"animal 'A1' \(line 2\), SNP 's4': '5' is not a genotype code"):
        read_genotypes(path, missing_codes=(9,))


@pytest.mark.parametrize("bad", ["3", "-1", "x", "1.5", "300"])
def test_bad_code_names_file_animal_line_and_snp(tmp_path, bad):
    path = tmp_path / "geno.csv"
    path.write_text("id,s1,s2\nA1,0,1\nA2,2,1\nA3,1," + bad + "\n")
    with pytest.raises(InputError) as err:
        read_genotypes(path)
    message = str(err.value)
    assert "geno.csv" in message and "'A3'" in message and "line 4" in message and "'s2'" in message
    assert repr(bad) in message and "missing_codes" in message


def test_one_character_cells_and_other_cells_read_alike(tmp_path):
    """Files of one-character cells take the fast path; empty cells, NA, quotes and a
    non-first ID column the column parser: both give the same matrix (the first bad value of
    a file is named the same way)."""
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, (50, 70)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.05] = -1
    ids = [f"cow{k}" for k in range(50)]
    snps = [f"rs{j}" for j in range(70)]
    variants = {
        "one_char.csv": (lambda v: "9" if v < 0 else str(v), True),
        "empty.csv": (lambda v: "" if v < 0 else str(v), True),
        "na.csv": (lambda v: "NA" if v < 0 else str(v), True),
        "quoted.csv": (lambda v: '"9"' if v < 0 else f'"{v}"', True),
        "id_last.csv": (lambda v: "9" if v < 0 else str(v), False),
    }
    for name, (cell, id_first) in variants.items():
        rows = []
        for animal, row in zip(ids, codes, strict=True):
            values = [cell(v) for v in row]
            rows.append(",".join([animal, *values] if id_first else [*values, animal]))
        header = ",".join(["id", *snps] if id_first else [*snps, "id"])
        (tmp_path / name).write_text(header + "\r\n" + "\r\n".join(rows) + "\r\n")
        g = read_genotypes(tmp_path / name)
        assert list(g.ids) == ids and list(g.snps) == snps, name
        np.testing.assert_array_equal(g.codes, codes, err_msg=name)
    for name in ("one_char.csv", "na.csv"):
        text = (tmp_path / name).read_bytes().decode().split("\r\n")
        text[7] = text[7].rsplit(",", 1)[0] + ",3"
        (tmp_path / name).write_text("\r\n".join(text))
        with pytest.raises(InputError, match=r"animal 'cow6' \(line 8\), SNP 'rs69': '3'"):
            read_genotypes(tmp_path / name)


def test_csv_without_the_id_column_or_with_a_repeated_id(tmp_path):
    path = write_csv(tmp_path / "g.csv", id_column="animal")
    with pytest.raises(InputError, match="no ID column 'id'.*genotype_qc.id_column"):
        read_genotypes(path)
    assert list(read_genotypes(path, id_column="animal").ids) == IDS
    (tmp_path / "d.csv").write_text("id,s1\nA1,0\nA2,1\nA1,2\n")
    with pytest.raises(InputError, match=r"animal 'A1' has genotypes on lines \[2, 4\]"):
        read_genotypes(tmp_path / "d.csv")


def test_parquet_reader_integer_float_and_text_columns(tmp_path):
    frame = pd.DataFrame({
        "id": [80.0, 81.0, 82.0],  # IDs from a float column: 80.0 is animal 80
        "s1": pd.array([0, 2, 1], dtype="Int8"),
        "s2": [1.0, 2.0, np.nan],
        "s3": ["2", "1", "0"],
        "s4": ["9", "0", "2"],
    })
    frame.to_parquet(tmp_path / "g.parquet")
    g = read_genotypes(tmp_path / "g.parquet")
    assert list(g.ids) == ["80", "81", "82"]
    np.testing.assert_array_equal(g.codes, CODES)
    frame["s2"] = [1.0, 2.0, 0.5]
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"animal '82' \(row 3\), SNP 's2': '0.5'"):
        read_genotypes(tmp_path / "bad.parquet")


def test_plink_round_trip_with_files_written_by_bed_reader(tmp_path):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 3, (7, 11)).astype(np.int8)
    codes[2, 5] = codes[6, 0] = -127  # bed-reader's missing value for int8
    properties = {
        "iid": [f"cow{k}" for k in range(7)],
        "sid": [f"rs{k}" for k in range(11)],
        "chromosome": ["1"] * 6 + ["2"] * 5,
        "bp_position": np.arange(11, dtype=np.int32) * 1000 + 5,
    }
    to_bed(tmp_path / "chip.bed", codes, properties=properties)
    for given in ("chip.bed", "chip"):
        g = read_genotypes(tmp_path / given)
        expected = np.where(codes < 0, -1, codes)
        np.testing.assert_array_equal(g.codes, expected)
        assert list(g.ids) == properties["iid"] and list(g.snps) == properties["sid"]
        assert list(g.chromosome) == properties["chromosome"]
        np.testing.assert_array_equal(g.position, properties["bp_position"])
    assert genotype_source(tmp_path / "chip").kind == "plink"
    assert [p.rsplit(".", 1)[1] for p in genotype_source(tmp_path / "chip").files] == ["bed", "bim", "fam"]


def test_plink_with_a_missing_companion_file(tmp_path):
    to_bed(tmp_path / "chip.bed", np.zeros((2, 3), dtype=np.int8))
    (tmp_path / "chip.fam").unlink()
    with pytest.raises(InputError, match="chip.fam: genotype file not found"):
        read_genotypes(tmp_path / "chip.bed")


def test_save_and_load_round_trip(tmp_path):
    g = Genotypes(np.array(IDS, dtype=object), np.array(SNPS, dtype=object), CODES.copy(),
                  chromosome=np.array(["1", "1", "2", "2"], dtype=object), position=np.array([10, 20, 5, 6]))
    prefix = tmp_path / "clean" / "genotypes"
    save_genotypes(prefix, g, {"input_digest": {"g.csv": "abc"}})
    loaded = load_genotypes(prefix)
    assert isinstance(loaded.codes, np.memmap) and loaded.codes.dtype == np.int8
    np.testing.assert_array_equal(loaded.codes, CODES)
    assert list(loaded.ids) == IDS and list(loaded.snps) == SNPS and list(loaded.chromosome) == ["1", "1", "2", "2"]
    snps = pd.read_parquet(tmp_path / "clean" / "genotypes.snps.parquet")
    # oracle: frequency of the counted allele and call rate, SNP by SNP over the called animals
    for j in range(4):
        called = CODES[:, j][CODES[:, j] >= 0]
        assert snps["allele_frequency"][j] == pytest.approx(called.sum() / (2 * called.size), abs=1e-12)
        assert snps["call_rate"][j] == pytest.approx(called.size / 3, abs=1e-12)
    meta = json.loads((tmp_path / "clean" / "genotypes.npy.meta.json").read_text())
    assert meta["shape"] == [3, 4] and meta["input_digest"] == {"g.csv": "abc"}
    assert not isinstance(load_genotypes(prefix, mmap=False).codes, np.memmap)
    pd.DataFrame({"id": IDS[:2]}).to_parquet(tmp_path / "clean" / "genotypes.ids.parquet")
    with pytest.raises(InputError, match="does not match"):
        load_genotypes(prefix)
