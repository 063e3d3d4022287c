"""Pedigree faults that used to give silent wrong results: IDs that differ only in form, animals
added as founders without a word, and a pedigree without rows.

Each is now an error naming the file, the IDs and the remedy, or a warning in the pedigree
summary (``warnings``, which the clean summary carries) and in the log. Counts and IDs are
compared exactly.
"""

from __future__ import annotations

import logging
import unicodedata

import numpy as np
import pandas as pd
import pytest

from henderson.clean import clean_pedigree
from henderson.errors import InputError
from henderson.io import read_table
from henderson.stages.clean import clean_pedigree_stage

PED = "ped.csv"


def table(text: str) -> pd.DataFrame:
    """A raw table as ``read_table`` returns it (strings, index = file line, header line 1)."""
    rows = [line.split(",") for line in text.strip().splitlines()]
    frame = pd.DataFrame(rows[1:], columns=rows[0], dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    return frame


def pedigree(text: str, **kwargs):
    kwargs.setdefault("unknown_parent", ["0"])
    return clean_pedigree(table(text), source=PED, **kwargs)


def stage(tmp_path, pedigree_frame, phenotypes_frame, **kwargs):
    """Write both tables (CSV for str, else Parquet) and run the pedigree stage on the files."""
    paths = []
    for name, content in (("ped", pedigree_frame), ("data", phenotypes_frame)):
        if isinstance(content, str):
            path = tmp_path / f"{name}.csv"
            path.write_text(content, encoding="utf-8")
        else:
            path = tmp_path / f"{name}.parquet"
            content.to_parquet(path, index=False)
        paths.append(path)
    kwargs.setdefault("unknown_parent", ["0"])
    return clean_pedigree_stage(paths[0], paths[1], id_column="id", **kwargs)


# --------------------------------------------------------------------------------------------
# IDs that differ only in form


def test_parquet_pedigree_with_float_parents_gives_one_animal_per_id(tmp_path):
    # An integer column with missing values is float in Parquet: parents arrive as "80.0".
    ped = pd.DataFrame(
        {"id": [80, 81, 82, 83], "sire": [np.nan, 80.0, 80.0, 0.0], "dam": [np.nan, np.nan, 81.0, 81.0]}
    )
    data = pd.DataFrame({"id": [81, 82, 83], "y": [1.0, 2.0, 3.0]})
    result = stage(tmp_path, ped, data)
    tab = result.table
    assert tab["id"].tolist() == ["80", "81", "82", "83"]  # no "80.0" or "0.0" added as parents
    assert tab["sire"].tolist() == [None, "80", "80", None]
    assert tab["dam"].tolist() == [None, None, "81", "81"]
    assert result.summary["parents_added"] == 0 and result.summary["phenotyped_added"] == 0
    assert result.summary["ids_rewritten"] == 3  # "80.0", "0.0", "81.0"
    assert any("decimal numbers" in w and "'80.0'" in w for w in result.summary["warnings"])


def test_float_phenotype_ids_match_integer_pedigree_ids(tmp_path):
    ped = "id,sire,dam\n1,0,0\n2,0,0\n3,1,2\n"
    data = pd.DataFrame({"id": [1.0, 3.0, np.nan], "y": [1.0, 2.0, 3.0]})
    result = stage(tmp_path, ped, data)
    assert result.table["id"].tolist() == ["1", "2", "3"]
    assert result.summary["phenotyped"] == 2 and result.summary["phenotyped_added"] == 0


def test_csv_column_of_integral_decimals_is_read_as_integers(tmp_path):
    # a float column written out as text (e.g. by pandas or R): every parent ends in ".0"
    ped = "id,sire,dam\n1,,\n2,,\n3,1.0,2.0\n4,1.0,\n"
    data = "id,y\n3.0,1\n4.0,2\n"
    result = stage(tmp_path, ped, data)
    assert result.table["id"].tolist() == ["1", "2", "3", "4"]
    assert result.table["sire"].tolist() == [None, None, "1", "1"]
    assert result.summary["parents_added"] == 0 and result.summary["phenotyped_added"] == 0


def test_ids_differing_only_by_a_decimal_part_are_an_error():
    # "80.0" in a column that also holds text is not reinterpreted: which animal is meant?
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n80,0,0\nB7,0,0\n81,80.0,0\n82,B7,0")
    msg = str(err.value)
    assert PED in msg and "'80' (line 2) and '80.0' (sire on line 4)" in msg
    assert "80, not 80.0" in msg
    # between the phenotype file and the pedigree
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n1,0,0\n2,0,0", phenotype_ids=["1.0", "2", "X9"],
                 phenotype_source="data.csv, column 'id'")
    msg = str(err.value)
    assert "data.csv, column 'id'" in msg and "'1' (pedigree) and '1.0' (phenotypes)" in msg
    # leading zeros are not a difference of form: three animals, as before
    ped = pedigree("id,sire,dam\n00123,0,0\n123,00123,0\n0123,123,0")
    assert ped.table["id"].tolist() == ["00123", "123", "0123"]


def test_unicode_forms_of_one_id_are_one_animal():
    composed = unicodedata.normalize("NFC", "Jérôme")
    decomposed = unicodedata.normalize("NFD", "Jérôme")
    assert composed != decomposed
    text = f"id,sire,dam\n{composed},0,0\nC1,{decomposed},0\nC2,{composed},0"
    ped = pedigree(text, phenotype_ids=[decomposed, "C1"])
    assert ped.table["id"].tolist() == [composed, "C1", "C2"]
    assert ped.table["sire"].tolist() == [None, composed, composed]
    assert ped.summary["parents_added"] == 0 and ped.summary["phenotyped_added"] == 0
    assert ped.summary["ids_rewritten"] == 1
    assert any("decomposed Unicode" in w and "NFC" in w for w in ped.summary["warnings"])


# --------------------------------------------------------------------------------------------
# animals added as founders


def test_added_phenotyped_animals_and_parents_are_warned_with_counts_and_first_ids():
    rows = "\n".join(f"A{i},S{i},0" for i in range(12))
    pheno = [f"A{i}" for i in range(12)] + [f"X{i}" for i in range(15)]
    ped = pedigree("id,sire,dam\n" + rows, phenotype_ids=pheno)
    s = ped.summary
    assert (s["phenotyped"], s["phenotyped_added"], s["parents_added"]) == (27, 15, 12)
    assert s["phenotyped_added_first"] == [f"X{i}" for i in range(10)]
    assert s["parents_added_first"] == [f"S{i}" for i in range(10)]
    pheno_warning, parent_warning = s["warnings"]
    assert "15 of 27 phenotyped animals (55.6 %)" in pheno_warning
    assert "'X9', ... (15 in all)" in pheno_warning and "'X10'" not in pheno_warning
    assert PED in parent_warning and "12 parent(s)" in parent_warning and "'S0'" in parent_warning


def test_no_phenotyped_animal_in_the_pedigree_is_said_loudly():
    ped = pedigree("id,sire,dam\nA1,0,0\nA2,A1,0", phenotype_ids=["101", "102", "103"],
                   phenotype_source="data.csv, column 'id'")
    first = ped.summary["warnings"][0]
    assert first.startswith("NONE of the 3 phenotyped animals (data.csv, column 'id')")
    assert "`id_column`" in first and "'101'" in first and "'A1'" in first


def test_a_parent_code_with_very_many_offspring_is_named_as_a_likely_unknown_code():
    # 384 calves by "UNKNOWN"; every real parent has 1-2 offspring
    rows = [f"D{i},0,0" for i in range(192)]
    rows += [f"C{i},UNKNOWN,D{i // 2}" for i in range(384)]
    ped = pedigree("id,sire,dam\n" + "\n".join(rows))
    assert ped.summary["likely_unknown_codes"] == {"UNKNOWN": 384}
    warning = ped.summary["warnings"][-1]
    assert "'UNKNOWN'" in warning and "384 offspring" in warning and "384 as sire" in warning
    assert "add it to `unknown_parent`" in warning and "line 194" in warning
    # heavily used parents with rows of their own are not named...
    rows = [f"D{i},0,0" for i in range(100)] + ["S0,0,0", "S1,0,0"]
    rows += [f"C{i},S{i % 2},D{i // 2}" for i in range(200)]
    assert pedigree("id,sire,dam\n" + "\n".join(rows)).summary["likely_unknown_codes"] == {}
    # ...nor an added parent with 60 offspring where families have 10 at the median
    rows = [f"D{i},0,0" for i in range(12)] + [f"C{i},S{i % 6},D{i // 10}" for i in range(120)]
    rows += [f"E{i},BIG,0" for i in range(60)]
    ped = pedigree("id,sire,dam\n" + "\n".join(rows))
    assert ped.summary["likely_unknown_codes"] == {}
    assert ped.summary["parents_added"] == 7  # S0..S5 and BIG, still listed as added


def test_warnings_are_logged_by_the_stage(tmp_path, caplog):
    ped = "id,sire,dam\nA1,S1,0\nA2,S1,0\n"
    data = "id,y\nA1,1\nZ9,2\n"
    with caplog.at_level(logging.WARNING, logger="henderson"):
        result = stage(tmp_path, ped, data)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == result.summary["warnings"] and len(logged) == 2
    assert "'Z9'" in logged[0] and "data.csv, column 'id'" not in logged[0]
    assert "'S1'" in logged[1]


# --------------------------------------------------------------------------------------------
# a pedigree without rows


def test_header_only_pedigree_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam", phenotype_ids=["A"])
    msg = str(err.value)
    assert PED in msg and "no rows" in msg and "pedigree: null" in msg
    with pytest.raises(InputError, match=r"ped\.csv: the pedigree file has a header but no rows"):
        stage(tmp_path, "id,sire,dam\n\n", "id,y\nA,1\n")
    empty = pd.DataFrame({"id": pd.Series([], dtype=str), "sire": pd.Series([], dtype=str),
                          "dam": pd.Series([], dtype=str)})
    with pytest.raises(InputError, match=r"ped\.parquet: the pedigree file has a header but no"):
        stage(tmp_path, empty, "id,y\nA,1\n")


def test_empty_pedigree_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "ped.csv"
    path.write_text("")
    with pytest.raises(InputError, match="ped.csv: the file is empty"):
        read_table(path)
    with pytest.raises(InputError, match="ped.csv"):
        stage(tmp_path, "", "id,y\nA,1\n")


def test_an_unlisted_unknown_code_for_sires_and_dams_is_named_in_the_sex_errors():
    # "-" for both parents of 200 founders: selfing by the letter, an unknown-parent code in fact
    rows = [f"F{i},-,-" for i in range(200)] + [f"C{i},F{2 * i},F{2 * i + 1}" for i in range(100)]
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n" + "\n".join(rows))
    msg = str(err.value)
    assert "selfing" in msg and "'-' (200 offspring)" in msg and "add it to `unknown_parent`" in msg
    # "-" as sire of some founders and dam of others: a parent of both sexes
    rows = [f"F{i},-,0" for i in range(100)] + [f"G{i},0,-" for i in range(100)]
    rows += [f"C{i},F{i},G{i}" for i in range(100)]
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n" + "\n".join(rows))
    msg = str(err.value)
    assert "both as sire and as dam" in msg and "'-' (200 offspring)" in msg and "`unknown_parent`" in msg
    # a real selfed animal gets no such sentence
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\nP,0,0\nC,P,P")
    assert "`unknown_parent`" not in str(err.value)
