"""Phenotype-side checks against silent wrong results: numeric columns that barely parse, true
file lines after a quoted field spanning lines, labels that collide with the intercept, and IDs
written as "80.0" or in another Unicode form. Each test failed before its check existed.

Counts, lines, IDs and messages are compared exactly.
"""

from __future__ import annotations

import json
import logging
import unicodedata

import numpy as np
import pandas as pd
import pytest

from henderson.clean import LINE_COLUMN, ModelColumns, clean_phenotypes, clean_summary
from henderson.clean.cells import float_columns, normalise_ids
from henderson.config import model_columns_params, validate_config
from henderson.design import INTERCEPT, check_labels, fixed_design
from henderson.errors import ConfigError, InputError
from henderson.io import read_table, write_json
from henderson.stages.clean import clean_phenotypes_stage
from henderson.stages.evaluate import build_model


def models_param(**block) -> dict:
    block.setdefault("traits", ["weight"])
    cfg = validate_config({"phenotypes": "p.csv", "models": {"m": block}})
    return model_columns_params(cfg.models)


# --------------------------------------------------------------------------------------------
# numeric columns that do not parse


def test_decimal_commas_stop_the_run_naming_column_file_example_and_fix(tmp_path):
    path = tmp_path / "phen.csv"
    rows = "".join(f"A{i};M;{i},5;{100 + i}\n" for i in range(40))
    path.write_text("id;sex;weight;age\n" + rows)
    with pytest.raises(InputError) as err:
        clean_phenotypes_stage(path, id_column="id",
                               models=models_param(fixed=["sex"], covariates=["age"]))
    msg = str(err.value)
    assert msg.startswith("phen.csv: column 'weight': 40 of 40 values are not numbers (100%; "
                          "e.g. '0,5' on line 2): the values use a decimal comma.")
    assert "Use a dot as decimal separator (12.5, not 12,5)" in msg and "then rerun" in msg


def test_covariate_with_units_stops_the_run(tmp_path):
    path = tmp_path / "phen.csv"
    path.write_text("id,weight,age\n" + "".join(f"A{i},{i}.5,{100 + i} d\n" for i in range(6)))
    with pytest.raises(InputError, match=r"column 'age': 6 of 6 values .*carry text after the "
                                         r"number \(units"):
        clean_phenotypes_stage(path, id_column="id", models=models_param(covariates=["age"]))


def test_a_few_bad_values_warn_in_log_and_summary(tmp_path, caplog):
    path = tmp_path / "phen.csv"
    values = ["12.5"] * 7 + ['"12,5"', "heavy", ""]
    path.write_text("id,weight\n" + "".join(f"A{i},{v}\n" for i, v in enumerate(values)))
    with caplog.at_level(logging.INFO, logger="henderson"):
        result = clean_phenotypes_stage(path, id_column="id", models=models_param())
    assert result.summary["columns"]["weight"] == {
        "values": 9, "not_numbers": 2, "example": "12,5", "line": 9,
        "cause": "the values use a decimal comma",
    }
    warning = result.summary["warnings"][0]
    assert warning.startswith("phen.csv: column 'weight': 2 of 9 values are not numbers (22%; "
                              "e.g. '12,5' on line 9)")
    assert "results/clean/rejected.parquet" in warning
    logged = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in logged] == [warning]
    assert "model m: 7 records kept, 3 dropped" in caplog.text
    summary = clean_summary(None, result)
    write_json(summary, tmp_path / "summary.json")
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["warnings"] == [warning]
    assert written["phenotypes"]["columns"]["weight"]["not_numbers"] == 2


def test_exactly_half_bad_is_a_warning_more_is_an_error():
    def run(values):
        raw = pd.DataFrame({"id": [f"A{i}" for i in range(len(values))], "y": values})
        raw.index = pd.RangeIndex(2, 2 + len(raw), name="line")
        return clean_phenotypes(raw, source="p.csv", id_column="id",
                                models={"m": ModelColumns(traits=("y",))})

    assert run(["1", "2", "x", "y"]).summary["columns"]["y"]["not_numbers"] == 2
    with pytest.raises(InputError, match=r"column 'y': 3 of 5 values are not numbers \(60%"):
        run(["1", "2", "x", "y", "z", ""])


# --------------------------------------------------------------------------------------------
# line numbers


def test_rejected_line_is_the_true_file_line_after_a_multiline_field(tmp_path):
    path = tmp_path / "phen.csv"
    path.write_text('id,note,weight\nA1,"first\nsecond",10.5\nA2,x,\nA3,"a\r\nb\nc",11\nA4,y,NA\n')
    result = clean_phenotypes_stage(path, id_column="id", models=models_param())
    rejected = result.rejected
    assert rejected[["id", "line"]].values.tolist() == [["A2", 4], ["A4", 8]]
    assert result.table[LINE_COLUMN].tolist() == [2, 4, 5, 8]


# --------------------------------------------------------------------------------------------
# labels in solutions.parquet


def test_covariate_named_mean_is_a_config_error_before_any_work(tmp_path):
    path = tmp_path / "phen.csv"
    path.write_text("id,weight,mean\nA1,1,2\nA2,3,4\n")
    with pytest.raises(ConfigError, match=r"the covariate column 'mean' has the intercept's label"):
        clean_phenotypes_stage(path, id_column="id", models=models_param(covariates=["mean"]))
    cols = ModelColumns(traits=("weight",), covariates=("mean",))
    with pytest.raises(ConfigError, match=r"model 'm': the covariate 'mean' has the name of the "
                                          r"intercept's label 'mean'"):
        clean_phenotypes(read_table(path), source="phen.csv", id_column="id", models={"m": cols})


def test_reserved_and_ambiguous_labels():
    check_labels(["herd"], ["age"], ["animal", "pe"], where="models.m")
    with pytest.raises(ConfigError, match=r"models\.m: the class effect column 'mean'"):
        check_labels([INTERCEPT], [], [], where="models.m")
    with pytest.raises(ConfigError, match=r"the random effect 'mean' has the intercept's label"):
        check_labels([], [], [INTERCEPT], where="models.m")
    with pytest.raises(ConfigError, match=r"the random effect 'herd' has the name of a fixed effect"):
        check_labels(["herd"], [], ["herd"], where="models.m")
    records = pd.DataFrame({"y": [1.0, 2.0, 3.0], "mean": [0.5, 1.0, 2.0]})
    with pytest.raises(ConfigError, match=r"covariate column 'mean'"):
        fixed_design(records, (), ("mean",))
    assert fixed_design(records, (), ()).effect.tolist() == [INTERCEPT]


def test_model_stage_refuses_a_random_effect_named_like_a_fixed_effect():
    cfg = validate_config({"phenotypes": "p.csv", "models": {"m": {
        "traits": ["y"], "fixed": ["herd"], "random": {"herd": "iid"}, "estimate": "em"}}})
    table = pd.DataFrame({"line": [2, 3], "id": ["a", "b"], "herd": ["h", "h"], "y": ["1", "2"]})
    with pytest.raises(ConfigError, match=r"models\.m: the random effect 'herd'"):
        build_model(cfg.models["m"], table, id_column="id")


# --------------------------------------------------------------------------------------------
# IDs


def test_normalise_ids():
    decomposed = unicodedata.normalize("NFD", "Émile")
    ids = pd.Series([" 80.0", "007", decomposed, "", "12.5", "1e3", "x.0"], index=[5, 6, 7, 8, 9, 10, 11])
    text = normalise_ids(ids)
    assert text.tolist() == ["80.0", "007", "Émile", "", "12.5", "1e3", "x.0"]
    assert text.index.tolist() == ids.index.tolist() and text.dtype == object
    floats = normalise_ids(ids, from_float=True)
    assert floats.tolist() == ["80", "007", "Émile", "", "12.5", "1000", "x.0"]


def test_float_parquet_ids_match_the_pedigree_spelling(tmp_path):
    path = tmp_path / "phen.parquet"
    pd.DataFrame({"id": [80.0, 81.0, np.nan], "dam": [7.0, np.nan, 7.0],
                  "weight": [1.5, 2.5, 3.5]}).to_parquet(path)
    raw = read_table(path)
    assert raw["id"].tolist() == ["80.0", "81.0", ""] and float_columns(raw) >= {"id", "dam"}
    cols = ModelColumns(traits=("weight",), classes=("dam",), optional=(("mat", "dam"),))
    out = clean_phenotypes(raw, source="phen.parquet", id_column="id", models={"m": cols})
    assert out.table["id"].tolist() == ["80", "81"]
    assert out.table["dam"].tolist() == ["7", None]


def test_text_ids_keep_their_form_unless_all_are_integral_decimals():
    raw = pd.DataFrame({"id": ["007", "80.0", unicodedata.normalize("NFD", "Zoë")],
                        "herd": ["1.0", "2.0", "NA"], "y": ["1", "2", "3"]})
    raw.index = pd.RangeIndex(2, 5, name="line")
    cols = ModelColumns(traits=("y",), optional=(("herd_r", "herd"),))
    out = clean_phenotypes(raw, source="p.csv", id_column="id", models={"m": cols})
    assert out.table["id"].tolist() == ["007", "80.0", "Zoë"]
    assert out.table["herd"].tolist() == ["1", "2", None]
