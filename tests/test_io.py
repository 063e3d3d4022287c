"""Reading inputs (separators, Parquet, IDs as strings) and writing outputs with sidecars."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.io import (
    load_matrix,
    read_table,
    save_matrix,
    sidecar_path,
    write_csv,
    write_json,
)


@pytest.mark.parametrize(
    "text",
    [
        "id,sire,dam\n00123,0,0\n00124,00123,0\n",
        "id\tsire\tdam\n00123\t0\t0\n00124\t00123\t0\n",
        "id;sire;dam\n00123;0;0\n00124;00123;0\n",
        "id  sire dam\n00123   0 0\n00124 00123   0\n",
    ],
    ids=["comma", "tab", "semicolon", "whitespace"],
)
def test_separators_and_ids_as_strings(tmp_path, text):
    path = tmp_path / "ped.csv"
    path.write_text(text)
    table = read_table(path)
    assert list(table.columns) == ["id", "sire", "dam"]
    assert list(table["id"]) == ["00123", "00124"]
    assert list(table["sire"]) == ["0", "00123"]
    assert list(table.index) == [2, 3]


def test_line_numbers_skip_blank_lines(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("\nid,y\na,1\n\nb,2\n")
    table = read_table(path)
    assert list(table.index) == [3, 5]
    assert list(table["id"]) == ["a", "b"]


def test_parquet_input(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"id": ["007", "008"], "y": [1.5, np.nan], "n": [3, 4]}).to_parquet(path)
    table = read_table(path)
    assert list(table["id"]) == ["007", "008"]
    assert table.loc[2, "y"] == ""
    assert float(table.loc[1, "y"]) == 1.5
    assert list(table.index) == [1, 2]


def test_missing_file_and_ragged_rows(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,y\na,1,2,3\n")
    with pytest.raises(InputError, match="bad.csv"):
        read_table(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,id\na,b\n")
    with pytest.raises(InputError, match="duplicate column"):
        read_table(dup)


def test_matrix_sidecar_roundtrip(tmp_path):
    m = sp.random(5, 5, density=0.5, random_state=1, format="csc")
    path = tmp_path / "m.npz"
    save_matrix(path, m, {"ids": list("abcde")})
    back, meta = load_matrix(path, ids=list("abcde"))
    assert abs(back - m).max() == 0
    assert meta["shape"] == [5, 5]
    with pytest.raises(InputError, match="ID order"):
        load_matrix(path, ids=list("edcba"))
    sidecar_path(path).unlink()
    with pytest.raises(InputError, match="sidecar"):
        load_matrix(path)


def test_json_writes_nan_as_null(tmp_path):
    path = tmp_path / "x.json"
    write_json({"a": np.float64("nan"), "b": np.int64(3), "c": np.array([1.0, 2.0])}, path)
    assert json.loads(path.read_text()) == {"a": None, "b": 3, "c": [1.0, 2.0]}


def test_line_numbers_count_line_breaks_inside_quoted_fields(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b'id,note,y\na,"two\nlines",1\nb,x,2\n\nc,"three\r\nlines\rhere",3\nd,z,4\n')
    table = read_table(path)
    assert list(table["id"]) == ["a", "b", "c", "d"]
    assert list(table.index) == [2, 4, 6, 9]


def test_whitespace_file_with_a_short_row_is_an_input_error(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("id y w\na 1 2\n\nb 3\n")
    with pytest.raises(InputError, match=r"p.txt: line 4 has fewer fields than the header"):
        read_table(path)
    path.write_text("id y\na 1\n\nb 2\n")
    assert list(read_table(path).index) == [2, 4]


def test_parquet_float_columns_are_listed(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"id": [80.0, np.nan], "s": ["a", "b"], "n": [1, 2]}).to_parquet(path)
    table = read_table(path)
    assert list(table["id"]) == ["80.0", ""]
    assert table.attrs["float_columns"] == ["id"]
    assert "float_columns" not in read_table(_csv(tmp_path)).attrs


def _csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id\n80.0\n")
    return path


def test_write_csv_round_trips_text_numbers_and_missing_values(tmp_path):
    frame = pd.DataFrame({
        "id": ["A1", "B,2", 'C"3', None],
        "year": pd.array([2010, None, 2012, 2013], dtype="Int64"),
        "ebv": [0.1, np.nan, -1e-300, 12345.678901234567],
        "n": [1, 2, 3, 4],
    })
    path = tmp_path / "out" / "table.csv"
    write_csv(frame, path)
    back = pd.read_csv(path, dtype={"id": str}, keep_default_na=False, na_values=[""])
    assert list(back.columns) == ["id", "year", "ebv", "n"]
    assert back["id"].tolist()[:3] == ["A1", "B,2", 'C"3'] and pd.isna(back["id"].iloc[3])
    assert back["year"].isna().tolist() == [False, True, False, False]
    # floats exactly: the shortest form that reads back to the same double
    assert np.array_equal(back["ebv"].to_numpy(), frame["ebv"].to_numpy(), equal_nan=True)
    assert back["n"].tolist() == [1, 2, 3, 4]
