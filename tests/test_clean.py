"""Tests of the clean stage: pedigree and phenotype checks, record selection, rejected tables.

Raw tables are built the way ``henderson.io.read_table`` returns them: every value a string,
missing cells "", index = source line (header on line 1, data from line 2).

Tolerances: parsed trait and covariate values are compared exactly (both sides parse the same
decimal text to the nearest float64); counts, IDs, lines and reasons are compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from henderson.clean import (
    LINE_COLUMN,
    MISSING_VALUES,
    REJECTED_COLUMNS,
    CleanedPedigree,
    ModelColumns,
    check_model_columns,
    clean_pedigree,
    clean_phenotypes,
    clean_summary,
    combine_rejected,
    model_records,
)
from henderson.errors import ConfigError, InputError

PED = "ped.csv"
DAT = "data.csv"


def table(text: str) -> pd.DataFrame:
    """A raw table from comma-separated literal text (first line = header on file line 1)."""
    rows = [line.split(",") for line in text.strip().splitlines()]
    header, body = [c.strip() for c in rows[0]], [[v.strip() for v in r] for r in rows[1:]]
    frame = pd.DataFrame(body, columns=header, dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(body), name="line")
    return frame


def _tuples(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(frame[columns].itertuples(index=False, name=None))


def pedigree(text: str, **kwargs) -> CleanedPedigree:
    kwargs.setdefault("unknown_parent", ["0"])
    return clean_pedigree(table(text), source=PED, **kwargs)


# Mrode (2014), Linear Models for the Prediction of Animal Breeding Values, 3rd ed., Example 3.1
# (pre-weaning gain of beef calves, Table 3.1): pedigree of animals 1-8, records on calves 4-8.
MRODE_PEDIGREE = """
id,sire,dam
1,0,0
2,0,0
3,0,0
4,1,0
5,3,2
6,1,2
7,4,5
8,3,6
"""
MRODE_DATA = """
animal,sex,sire,dam,wwg
4,M,1,0,4.5
5,F,3,2,2.9
6,F,1,2,3.9
7,M,4,5,3.5
8,M,3,6,5.0
"""
MRODE_MODEL = {"wwg": ModelColumns(traits=("wwg",), classes=("sex",), covariates=())}


# --------------------------------------------------------------------------------------------
# pedigree checks


def test_missing_pedigree_column_names_column_and_columns_found():
    with pytest.raises(InputError) as err:
        pedigree("animal,sire,mother\n1,0,0")
    msg = str(err.value)
    assert PED in msg and "'id'" in msg and "'dam'" in msg
    assert "'animal'" in msg and "'mother'" in msg  # the columns found


def test_missing_id_names_lines():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n1,0,0\n,1,0\n3,0,0\n0,1,0")
    msg = str(err.value)
    assert PED in msg and "no animal ID" in msg and "3, 5" in msg


def test_own_parent_names_id_and_line():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n1,0,0\n2,2,1x\n1x,0,0")
    msg = str(err.value)
    assert PED in msg and "own parent" in msg and "'2' (line 3)" in msg


def test_cycle_prints_the_loop():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\nA,C,0\nB,A,0\nC,B,0\nD,A,0")
    msg = str(err.value)
    assert PED in msg and "cycle" in msg
    # A's sire is C, C's sire is B, B's sire is A: child -> parent around the loop.
    assert "A -> C -> B -> A" in msg
    assert "line 2" in msg and "line 4" in msg


def test_two_animal_cycle():
    with pytest.raises(InputError, match=r"A -> B -> A"):
        pedigree("id,sire,dam\nA,0,B\nB,0,A")


def test_cycle_behind_a_deep_line_and_a_deep_line_without_one():
    """The generation-by-generation check stops after PEEL_GENERATIONS; deeper pedigrees are
    decided by the full search: a long line of descent is accepted, a loop at its end found."""
    from henderson.clean.pedigree_checks import PEEL_GENERATIONS

    depth = PEEL_GENERATIONS + 10
    line = ["id,sire,dam", "G0,0,0"] + [f"G{k},G{k - 1},0" for k in range(1, depth)]
    assert len(pedigree("\n".join(line)).table) == depth
    looped = ["id,sire,dam", f"G0,G{depth - 1},0"] + [f"G{k},G{k - 1},0" for k in range(1, depth)]
    with pytest.raises(InputError, match=rf"G0 -> G{depth - 1} -> G{depth - 2}"):
        pedigree("\n".join(looped))


def test_id_used_as_sire_and_dam():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\nS,0,0\nX,0,0\nC1,S,X\nC2,X,S")
    msg = str(err.value)
    assert PED in msg and "both as sire and as dam" in msg
    assert "'S' (sire on line 4, dam on line 5)" in msg
    assert "'X' (sire on line 5, dam on line 4)" in msg


def test_parent_born_after_offspring_names_both_and_years():
    text = "id,sire,dam,birth_year\nS,0,0,2010\nD,0,0,2012\nC,S,D,2011\nE,S,0,2010"
    with pytest.raises(InputError) as err:
        pedigree(text)
    msg = str(err.value)
    assert PED in msg and "born after" in msg
    assert "'C' (born 2011, line 4) has dam 'D' born 2012 (line 3)" in msg
    assert "'E'" not in msg  # same year as its sire: allowed


def test_non_integer_birth_year_names_line_and_value():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam,birth_year\nS,0,0,2010\nC,S,0,2011.5\nD,S,0,two")
    msg = str(err.value)
    assert PED in msg and "line 3 ('C': '2011.5')" in msg and "line 4 ('D': 'two')" in msg


def test_birth_year_accepts_integer_floats_and_missing_codes():
    # Parquet inputs arrive as "2011.0"; "NA" and "" are missing.
    ped = pedigree("id,sire,dam,birth_year\nS,0,0,2010.0\nC,S,0,2011\nD,S,0,NA\nE,S,0,")
    years = ped.table["birth_year"]
    assert str(years.dtype) == "Int64"
    assert years.iloc[:2].tolist() == [2010, 2011]
    assert years.iloc[2:].isna().all()


def test_sire_recorded_female_and_dam_recorded_male():
    text = "id,sire,dam,sex\nS,0,0,f\nD,0,0,M\nC,S,D,F"
    with pytest.raises(InputError) as err:
        pedigree(text)
    msg = str(err.value)
    assert PED in msg
    assert "'S' has sex 'f' (line 2) but is the sire of 'C' (line 4)" in msg
    assert "'D' has sex 'M' (line 3) but is the dam of 'C' (line 4)" in msg


def test_sex_consistent_and_kept_as_given():
    ped = pedigree("id,sire,dam,sex\nS,0,0,male\nD,0,0,F\nC,S,D,\nE,S,D,x")
    assert ped.table["sex"].tolist() == ["male", "F", None, "x"]


def test_identical_duplicate_rows_are_merged_and_reported():
    ped = pedigree("id,sire,dam\nS,0,0\nC,S,0\nC,S,\nS,0,0")  # "" and "0" both read as unknown
    assert ped.table["id"].tolist() == ["S", "C"]
    assert ped.summary["merged_duplicates"] == 2
    rej = ped.rejected
    assert list(rej.columns) == REJECTED_COLUMNS
    assert rej["line"].tolist() == [4, 5]
    assert rej["id"].tolist() == ["C", "S"]
    assert set(rej["action"]) == {"merged"} and set(rej["reason"]) == {"duplicate row"}
    assert rej["detail"].tolist() == ["identical to line 3", "identical to line 2"]
    assert rej["model"].isna().all() and set(rej["file"]) == {PED}


def test_conflicting_duplicates_name_id_and_lines():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\nS,0,0\nT,0,0\nC,S,0\nC,T,0\nS,0,0")
    msg = str(err.value)
    assert PED in msg and "'C' (lines 4, 5)" in msg and "'S'" not in msg.split("sex:")[1]


def test_added_parents_and_phenotyped_animals_are_founders_and_counted():
    pheno = ["P9", "E", "D1", "P7", "P9"]
    ped = pedigree("id,sire,dam\nC,S2,D1\nE,S1,D1\nF,C,0", phenotype_ids=pheno)
    tab = ped.table
    assert tab["id"].tolist() == ["C", "E", "F", "S2", "D1", "S1", "P9", "P7"]
    origins = ["pedigree"] * 3 + ["added parent"] * 3 + ["added phenotyped"] * 2
    assert tab["origin"].tolist() == origins
    added = tab["origin"] != "pedigree"
    assert tab.loc[added, "sire"].isna().all() and tab.loc[added, "dam"].isna().all()
    warnings = ped.summary.pop("warnings")
    assert ped.summary == {
        "file": PED, "rows": 3, "animals": 8, "sexes": "separate", "selfed": 0,
        "merged_duplicates": 0, "ids_rewritten": 0,
        "parents_added": 3, "parents_added_first": ["S2", "D1", "S1"],
        "phenotyped": 4, "phenotyped_added": 2, "phenotyped_added_first": ["P9", "P7"],
        "likely_unknown_codes": {},
    }
    assert "2 of 4 phenotyped animals (50.0 %)" in warnings[0] and "'P9', 'P7'" in warnings[0]
    assert "3 parent(s) have no row" in warnings[1] and "'S2', 'D1', 'S1'" in warnings[1]
    assert len(ped.rejected) == 0 and list(ped.rejected.columns) == REJECTED_COLUMNS


def test_ids_with_leading_zeros_stay_strings():
    ped = pedigree("id,sire,dam\n00123,0,0\n123,00123,000\n0123,123,0", unknown_parent=["000", "0"])
    assert ped.table["id"].tolist() == ["00123", "123", "0123"]
    assert ped.table["sire"].tolist() == [None, "00123", "123"]
    assert ped.table["dam"].tolist() == [None, None, None]


def test_unknown_parent_codes_and_empty_cells_are_unknown():
    ped = pedigree("id,sire,dam\nA,unknown,\nB,A,-\nC,0,B", unknown_parent=["unknown", "-"])
    # "0" is not a declared code here, so it is an added parent.
    assert ped.table["sire"].tolist() == [None, "A", "0", None]
    assert ped.table["dam"].tolist() == [None, None, "B", None]
    assert ped.summary["parents_added"] == 1


def test_parent_with_missing_value_code_that_is_not_an_unknown_code_is_an_error():
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\nA,NA,0\nB,0,NA\nC,A,B")
    msg = str(err.value)
    assert PED in msg and "'NA' (first on line 2, 2 rows)" in msg and "unknown_parent" in msg
    ped = pedigree("id,sire,dam\nA,NA,0\nB,0,NA", unknown_parent=["0", "NA"])
    assert ped.table["sire"].tolist() == [None, None]


def test_id_equal_to_unknown_code_is_a_missing_id():
    with pytest.raises(InputError, match=r"line\(s\) 3 have no animal ID"):
        pedigree("id,sire,dam\nA,0,0\n0,A,0")


def test_error_lists_at_most_ten_ids_and_the_count():
    rows = "\n".join(f"X{i},X{i},0" for i in range(15))
    with pytest.raises(InputError) as err:
        pedigree("id,sire,dam\n" + rows)
    msg = str(err.value)
    assert "'X9'" in msg and "'X10'" not in msg and "(15 in all)" in msg


def test_phenotyped_id_equal_to_unknown_code_is_an_error():
    with pytest.raises(InputError, match=r"phenotyped animal ID\(s\) '0'"):
        pedigree("id,sire,dam\nA,0,0", phenotype_ids=["A", "0"])


def _pedigree_oracle(rows, unknown, phenotype_ids):
    """Row by row: merge identical duplicates, then add parents and phenotyped animals."""
    seen, out, merged = {}, [], 0
    for ident, sire, dam in rows:
        sire = None if sire in unknown or sire == "" else sire
        dam = None if dam in unknown or dam == "" else dam
        if ident in seen:
            assert seen[ident] == (sire, dam)
            merged += 1
            continue
        seen[ident] = (sire, dam)
        out.append((ident, sire, dam, "pedigree"))
    for ident, sire, dam, _ in list(out):
        for parent in (sire, dam):
            if parent is not None and parent not in seen:
                seen[parent] = (None, None)
                out.append((parent, None, None, "added parent"))
    for ident in phenotype_ids:
        if ident not in seen:
            seen[ident] = (None, None)
            out.append((ident, None, None, "added phenotyped"))
    return out, merged


def test_pedigree_matches_row_by_row_oracle_on_random_pedigree():
    rng = np.random.default_rng(7)
    n = 400
    names = [f"{i:05d}" for i in range(n)]
    rows = []
    for i, name in enumerate(names):
        # Parents from earlier animals (no cycles), outsiders, or unknown; sires even, dams odd.
        def parent(parity, i=i):
            u = rng.random()
            if u < 0.3 or i < 4:
                return rng.choice(["0", ""])
            if u < 0.4:
                return f"OUT{parity}{rng.integers(0, 20)}"
            return names[2 * rng.integers(0, max(i // 2, 1)) + parity] if i > 2 else "0"
        sire, dam = parent(0), parent(1)
        if sire != "0" and sire == dam:
            dam = "0"
        rows.append((name, sire, dam))
    repeats = [rows[i] for i in rng.integers(0, n, 30)]
    all_rows = rows + repeats
    pheno = [names[i] for i in rng.integers(0, n, 50)] + [f"P{i}" for i in range(5)] + ["OUT13"]
    raw = pd.DataFrame(all_rows, columns=["id", "sire", "dam"], dtype=str)
    raw.index = pd.RangeIndex(2, 2 + len(raw), name="line")
    ped = clean_pedigree(raw, source=PED, unknown_parent=["0"], phenotype_ids=pheno)
    expected, merged = _pedigree_oracle(all_rows, {"0"}, pheno)
    got = list(ped.table[["id", "sire", "dam", "origin"]].itertuples(index=False, name=None))
    assert got == expected
    assert ped.summary["merged_duplicates"] == merged == len(ped.rejected)
    assert ped.summary["animals"] == len(expected)
    # Invariants: unique IDs; every known parent is an animal of the table.
    ids = set(ped.table["id"])
    assert len(ids) == len(ped.table)
    assert set(ped.table["sire"].dropna()) <= ids and set(ped.table["dam"].dropna()) <= ids


def test_pedigree_output_is_deterministic():
    text = "id,sire,dam,birth_year,sex\nC,S,D,2012,M\nS,0,0,2010,M\nD,X,0,2009,F\nC,S,D,2012,M"
    first, second = pedigree(text), pedigree(text)
    pd.testing.assert_frame_equal(first.table, second.table)
    pd.testing.assert_frame_equal(first.rejected, second.rejected)
    assert list(first.table.columns) == ["id", "sire", "dam", "birth_year", "sex", "origin"]


# --------------------------------------------------------------------------------------------
# phenotype columns and records


def test_missing_values_codes():
    assert MISSING_VALUES == frozenset({"", "NA", "na", "N/A", ".", "NaN", "nan", "NULL", "null"})


def test_unknown_model_column_is_config_error_naming_it():
    models = {"m1": ModelColumns(traits=("wwg",), classes=("herd",), covariates=("age",))}
    with pytest.raises(ConfigError) as err:
        check_model_columns(["animal", "wwg", "age"], source=DAT, id_column="animal", models=models)
    msg = str(err.value)
    assert DAT in msg and "model 'm1'" in msg and "'herd'" in msg
    assert "Columns present: 'animal', 'wwg', 'age'" in msg


def test_missing_id_column_and_other_config_faults():
    with pytest.raises(ConfigError, match=r"ID column 'calf'"):
        check_model_columns(["animal", "y"], source=DAT, id_column="calf",
                            models={"m": ModelColumns(traits=("y",))})
    with pytest.raises(ConfigError, match=r"model 'm' names no trait"):
        check_model_columns(["animal", "y"], source=DAT, id_column="animal",
                            models={"m": ModelColumns(traits=())})
    with pytest.raises(ConfigError, match=r"'y' is both a trait and a covariate"):
        check_model_columns(["animal", "y"], source=DAT, id_column="animal",
                            models={"m": ModelColumns(traits=("y",), covariates=("y",))})
    # The ID column may be a class column (e.g. a permanent-environment effect).
    check_model_columns(["animal", "y"], source=DAT, id_column="animal",
                        models={"m": ModelColumns(traits=("y",), classes=("animal",))})


def test_clean_phenotypes_checks_columns_before_work():
    with pytest.raises(ConfigError, match=r"trait column 'bw'"):
        clean_phenotypes(table(MRODE_DATA), source=DAT, id_column="animal",
                         models={"m": ModelColumns(traits=("bw",))})


def test_clean_phenotypes_normalises_missing_and_rejects_missing_ids():
    raw = table("animal,herd,y\n007,H1,1.5\n,H1,2\nNA,H2,3\n8,NULL,.\n9,H2,n/a")
    out = clean_phenotypes(raw, source=DAT, id_column="animal",
                           models={"m": ModelColumns(traits=("y",), classes=("herd",))})
    tab = out.table
    assert list(tab.columns) == [LINE_COLUMN, "animal", "herd", "y"]
    assert tab[LINE_COLUMN].dtype == np.int64 and tab[LINE_COLUMN].tolist() == [2, 5, 6]
    assert tab["animal"].tolist() == ["007", "8", "9"]
    assert tab["herd"].tolist() == ["H1", None, "H2"]
    assert tab["y"].tolist() == ["1.5", None, "n/a"]  # "n/a" is not a missing code
    rej = out.rejected
    no_id = rej[rej["reason"] == "missing id"]
    assert no_id["line"].tolist() == [3, 4] and no_id["model"].isna().all()
    assert set(no_id["action"]) == {"dropped"}
    by_model = rej[rej["model"] == "m"]
    assert by_model["line"].tolist() == [5, 6]
    assert by_model["reason"].tolist() == ["missing effect level", "non-numeric trait value"]
    assert out.summary == {
        "file": DAT, "rows": 5, "kept": 3,
        "columns": {"y": {"values": 2, "not_numbers": 1, "example": "n/a", "line": 6,
                          "cause": "the column holds text, not numbers"}},
        "warnings": [out.summary["warnings"][0]],
        "models": {"m": {"records": 1, "animals_with_records": 1, "dropped": 2, "set_missing": 0,
                         "by_reason": {"missing effect level": 1, "non-numeric trait value": 1},
                         "kept_without_level": {}, "warnings": []}},
    }
    assert out.summary["warnings"][0].startswith(
        f"{DAT}: column 'y': 1 of 2 values are not numbers (50%; e.g. 'n/a' on line 6)"
    )


SINGLE = """
animal,herd,sex,age,wwg
1,H1,M,200,4.5
2,H1,F,210,
3,H2,M,190,abc
4,,F,205,3.0
5,H2,M,,3.2
6,H2,F,old,3.3
7,H1,M,215,NA
8,H2,F,199.5,-1e-1
"""


def _cleaned(text: str, models) -> pd.DataFrame:
    return clean_phenotypes(table(text), source=DAT, id_column="animal", models=models).table


def test_model_records_single_trait_drop_rules():
    cols = ModelColumns(traits=("wwg",), classes=("herd", "sex"), covariates=("age",))
    records, rej = model_records(_cleaned(SINGLE, {"m": cols}), cols, source=DAT, model="m")
    assert records[LINE_COLUMN].tolist() == [2, 9]
    assert list(records.columns) == [LINE_COLUMN, "animal", "herd", "sex", "wwg", "age"]
    assert records["animal"].tolist() == ["1", "8"]
    assert records["wwg"].tolist() == [4.5, -0.1]  # exact: same decimal text, same float64
    assert records["age"].tolist() == [200.0, 199.5]
    assert records["wwg"].dtype == np.float64 and records["age"].dtype == np.float64
    assert records[LINE_COLUMN].dtype == np.int64
    assert list(rej.columns) == REJECTED_COLUMNS
    assert rej["line"].tolist() == [3, 4, 5, 6, 7, 8]
    assert rej["id"].tolist() == ["2", "3", "4", "5", "6", "7"]
    assert set(rej["action"]) == {"dropped"} and set(rej["model"]) == {"m"}
    assert set(rej["file"]) == {DAT}
    assert rej["reason"].tolist() == [
        "missing trait value", "non-numeric trait value", "missing effect level",
        "missing covariate", "non-numeric covariate", "missing trait value",
    ]
    assert rej["detail"].tolist() == [
        "column wwg: missing", "column wwg: 'abc' is not a number", "column herd: missing",
        "column age: missing", "column age: 'old' is not a number", "column wwg: missing",
    ]


MULTI = """
animal,herd,y1,y2,y3
1,H1,1.0,2.0,3.0
2,H1,x,2.5,
3,H2,,,
4,H2,bad,NA,worse
5,,1,2,3
6,H1,,,7
7,H2,inf,1,2
8,H1,2.5,,
"""


def test_model_records_multi_trait_sets_bad_values_missing():
    cols = ModelColumns(traits=("y1", "y2", "y3"), classes=("herd",))
    records, rej = model_records(_cleaned(MULTI, {"m": cols}), cols, source=DAT, model="m")
    assert records[LINE_COLUMN].tolist() == [2, 3, 7, 8, 9]
    got = records[["y1", "y2", "y3"]].to_numpy()
    want = np.array([[1, 2, 3], [np.nan, 2.5, np.nan], [np.nan, np.nan, 7], [np.nan, 1, 2],
                     [2.5, np.nan, np.nan]])
    np.testing.assert_array_equal(got, want)  # exact, NaN = missing or set missing
    expected = [
        (3, "2", "set missing", "non-numeric trait value", "column y1: 'x' is not a number"),
        (4, "3", "dropped", "missing trait value",
         "column y1: missing; column y2: missing; column y3: missing"),
        (5, "4", "dropped", "non-numeric trait value",
         ("column y1: 'bad' is not a number; column y2: missing; "
          "column y3: 'worse' is not a number")),
        (6, "5", "dropped", "missing effect level", "column herd: missing"),
        (8, "7", "set missing", "non-numeric trait value", "column y1: 'inf' is not a number"),
    ]
    got_rej = _tuples(rej, ["line", "id", "action", "reason", "detail"])
    assert got_rej == expected


def test_model_records_id_column_as_class_and_dtypes():
    cols = ModelColumns(traits=("wwg",), classes=("animal", "sex"))
    records, _ = model_records(_cleaned(MRODE_DATA, {"m": cols}), cols, source=DAT, model="m")
    assert list(records.columns) == [LINE_COLUMN, "animal", "sex", "wwg"]
    assert records["animal"].map(type).eq(str).all() and records["sex"].map(type).eq(str).all()


def test_model_records_same_result_on_a_table_read_back_with_string_dtype():
    # The model stage may read the cleaned table from Parquet: pandas string dtype, NaN missing.
    cols = ModelColumns(traits=("y1", "y2", "y3"), classes=("herd",))
    cleaned = _cleaned(MULTI, {"m": cols})
    reread = cleaned.astype({c: "str" for c in cleaned.columns if c != LINE_COLUMN})
    assert reread["y1"].isna().any()
    first, second = (model_records(t, cols, source=DAT, model="m") for t in (cleaned, reread))
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_model_records_unknown_column_is_config_error():
    cleaned = _cleaned(MRODE_DATA, MRODE_MODEL)
    with pytest.raises(ConfigError, match=r"model 'other': covariate column 'age'"):
        model_records(cleaned, ModelColumns(traits=("wwg",), covariates=("age",)),
                      source=DAT, model="other")


def _is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _records_oracle(rows, cols):
    """Row by row: which records a model keeps, their values, and what it rejects."""
    kept, rejected = [], []
    for line, row in rows:
        missing = {c: row[c] in MISSING_VALUES for c in row}
        faults = [("missing effect level", f"column {c}: missing")
                  for c in cols.classes if missing[c]]
        for c in cols.covariates:
            if missing[c]:
                faults.append(("missing covariate", f"column {c}: missing"))
            elif not _is_number(row[c]):
                faults.append(("non-numeric covariate", f"column {c}: '{row[c]}' is not a number"))
        bad = [t for t in cols.traits if not missing[t] and not _is_number(row[t])]
        good = [t for t in cols.traits if not missing[t] and _is_number(row[t])]
        if not good:
            why = "non-numeric trait value" if bad else "missing trait value"
            faults.append((why, "; ".join(
                f"column {t}: missing" if missing[t] else f"column {t}: '{row[t]}' is not a number"
                for t in cols.traits)))
        elif faults:
            faults.extend(("", f"column {t}: '{row[t]}' is not a number") for t in bad)
        if faults:
            rejected.append((line, "dropped", faults[0][0], "; ".join(f[1] for f in faults)))
            continue
        rejected.extend((line, "set missing", "non-numeric trait value",
                         f"column {t}: '{row[t]}' is not a number") for t in bad)
        values = [float(row[t]) if t in good else math.nan for t in cols.traits]
        kept.append((line, *values, *(float(row[c]) for c in cols.covariates)))
    return kept, rejected


def test_model_records_match_row_by_row_oracle():
    rng = np.random.default_rng(11)
    vocab = np.array(["1.5", "-2", "1e3", "0", "", "NA", ".", "abc", "inf", "7.25", "x1", "3"])
    n = 300
    raw = pd.DataFrame({
        "animal": [f"{i:04d}" for i in range(n)],
        "herd": rng.choice(["H1", "H2", "", "NA"], n, p=[0.45, 0.45, 0.05, 0.05]),
        "age": rng.choice(vocab, n, p=[0.3, 0.2, 0.1, 0.1] + [0.3 / 8] * 8),
        "y1": rng.choice(vocab, n), "y2": rng.choice(vocab, n),
    }).astype(str)
    raw.index = pd.RangeIndex(2, 2 + n, name="line")
    models = {
        "single": ModelColumns(traits=("y1",), classes=("herd",), covariates=("age",)),
        "multi": ModelColumns(traits=("y1", "y2"), classes=("herd", "animal"), covariates=("age",)),
    }
    out = clean_phenotypes(raw, source=DAT, id_column="animal", models=models)
    rows = [(line, raw.loc[line].to_dict()) for line in raw.index]
    for name, cols in models.items():
        records, rej = model_records(out.table, cols, source=DAT, model=name)
        kept, rejected = _records_oracle(rows, cols)
        got = _tuples(records, [LINE_COLUMN, *cols.traits, *cols.covariates])
        assert len(got) == len(kept)
        for g, k in zip(got, kept):  # exact, NaN matched as NaN
            assert g[0] == k[0]
            np.testing.assert_array_equal(np.array(g[1:], float), np.array(k[1:], float))
        got_rej = _tuples(rej, ["line", "action", "reason", "detail"])
        assert got_rej == rejected
        summary = out.summary["models"][name]
        assert summary["records"] == len(kept)
        assert summary["dropped"] + summary["set_missing"] == len(rejected)
        # Invariant: every input row is either a record or dropped, exactly once.
        dropped = set(rej.loc[rej["action"] == "dropped", "line"])
        assert dropped.isdisjoint(records[LINE_COLUMN]) and len(dropped) + len(records) == n


# --------------------------------------------------------------------------------------------
# rejected tables and summaries


def test_combine_rejected_is_stable_and_sorted():
    a = pd.DataFrame({"file": ["b.csv", "a.csv", "a.csv"], "line": [1, 9, 3], "id": ["x", "y", "z"],
                      "model": ["m2", None, "m2"], "action": ["dropped"] * 3,
                      "reason": ["r"] * 3, "detail": ["d1", "d2", "d3"]})
    b = pd.DataFrame({"file": ["a.csv", "a.csv", "a.csv"], "line": [3, 3, None],
                      "id": ["z", "z", "w"], "model": ["m1", "m2", None],
                      "action": ["set missing"] * 3, "reason": ["r"] * 3,
                      "detail": ["e1", "e2", "e3"]})
    out = combine_rejected(a, None, b)
    assert list(out.columns) == REJECTED_COLUMNS and str(out["line"].dtype) == "Int64"
    assert out["detail"].tolist() == ["e1", "d3", "e2", "d2", "e3", "d1"]
    assert combine_rejected().columns.tolist() == REJECTED_COLUMNS


def test_clean_summary_counts_reasons_over_both_files():
    ped = pedigree("id,sire,dam\nA,0,0\nA,0,0")
    phen = clean_phenotypes(table("animal,y\nA,1\n,2\nB,x"), source=DAT, id_column="animal",
                            models={"m": ModelColumns(traits=("y",))})
    summary = clean_summary(ped, phen)
    assert summary["pedigree"]["merged_duplicates"] == 1
    assert summary["phenotypes"] == {
        "file": DAT, "rows": 3, "kept": 2,
        "columns": {"y": {"values": 2, "not_numbers": 1, "example": "x", "line": 4,
                          "cause": "the column holds text, not numbers"}},
    }
    assert summary["warnings"] == phen.summary["warnings"] and len(summary["warnings"]) == 1
    assert summary["models"]["m"]["records"] == 1
    assert summary["rejected_by_reason"] == {
        "duplicate row": 1, "missing id": 1, "non-numeric trait value": 1,
    }
    assert clean_summary(None, phen)["pedigree"] is None


# --------------------------------------------------------------------------------------------
# Mrode Example 3.1


def test_mrode_example_3_1_cleans_without_rejections():
    phen = clean_phenotypes(table(MRODE_DATA), source=DAT, id_column="animal", models=MRODE_MODEL)
    ped = clean_pedigree(table(MRODE_PEDIGREE), source=PED, unknown_parent=["0"],
                         phenotype_ids=phen.table["animal"])
    assert ped.table["id"].tolist() == [str(i) for i in range(1, 9)]
    assert ped.table["sire"].tolist() == [None, None, None, "1", "3", "1", "4", "3"]
    assert ped.table["dam"].tolist() == [None, None, None, None, "2", "2", "5", "6"]
    assert set(ped.table["origin"]) == {"pedigree"}
    expected = {"file": PED, "rows": 8, "animals": 8, "merged_duplicates": 0,
                "parents_added": 0, "phenotyped_added": 0, "warnings": []}
    assert {k: ped.summary[k] for k in expected} == expected
    assert len(phen.rejected) == 0
    records, rej = model_records(phen.table, MRODE_MODEL["wwg"], source=DAT, model="wwg")
    assert len(rej) == 0
    assert records["animal"].tolist() == ["4", "5", "6", "7", "8"]
    assert records["sex"].tolist() == ["M", "F", "F", "M", "M"]
    assert records["wwg"].tolist() == [4.5, 2.9, 3.9, 3.5, 5.0]
    summary = clean_summary(ped, phen)
    assert summary["models"]["wwg"] == {"records": 5, "animals_with_records": 5, "dropped": 0,
                                        "set_missing": 0, "by_reason": {},
                                        "kept_without_level": {}, "warnings": []}
    assert summary["rejected_by_reason"] == {} and summary["warnings"] == []


def test_mrode_calves_without_pedigree_file_rows_get_parents_added():
    # The data file's own sire/dam columns as a pedigree: parents 1, 3, 2 are added founders,
    # in order of first appearance (sire before dam).
    raw = table(MRODE_DATA)[["animal", "sire", "dam"]].rename(columns={"animal": "id"})
    ped = clean_pedigree(raw, source=DAT, unknown_parent=["0"])
    assert ped.table["id"].tolist() == ["4", "5", "6", "7", "8", "1", "3", "2"]
    assert ped.summary["parents_added"] == 3 and ped.summary["animals"] == 8


def test_explicit_group_codes_are_unknown_parents_in_the_checks():
    """A group code as both sire and dam is not selfing, gets no founder row, and stays in the
    parent fields for the relationships stage; a code that is also an animal is left alone."""
    text = "id,sire,dam\n1,G1,G1\n2,G1,G2\n3,1,2\n4,3,G2\n"
    with pytest.raises(InputError, match="same sire and dam"):
        pedigree(text)
    ped = pedigree(text, group_codes=["G1", "G2"]).table.set_index("id")
    assert list(ped.index) == ["1", "2", "3", "4"]  # no rows for the codes
    assert ped.loc["1", "sire"] == "G1" and ped.loc["1", "dam"] == "G1"
    assert ped.loc["2", "dam"] == "G2" and ped.loc["4", "dam"] == "G2" and ped.loc["4", "sire"] == "3"
    clash = pedigree("id,sire,dam\nG1,0,0\n2,G1,0\n", group_codes=["G1"]).table.set_index("id")
    assert "G1" in clash.index and clash.loc["2", "sire"] == "G1"
