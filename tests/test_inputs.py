"""Real data from real users: a phenotype column named `line`, pedigree column names and
header-less BLUPF90-style files, files that are not UTF-8, birth dates, sex codes, YAML values
that are not text, YAML alias bombs, absurd magnitudes and one-level random effects, and
phenotype dams and sexes that disagree with the pedigree. Each test failed before its feature.

Counts, lines, IDs and messages are compared exactly; no numerical tolerance is involved.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from henderson.clean import (
    LINE_COLUMN,
    ModelColumns,
    clean_pedigree,
    clean_phenotypes,
    model_records,
)
from henderson.config import load_config, model_columns_params, validate_config
from henderson.config_checks import MAX_CONFIG_VALUES, check_size
from henderson.errors import ConfigError, InputError
from henderson.io import WARNINGS_ATTR, read_table, write_parquet
from henderson.stages.clean import (
    clean_pedigree_stage,
    clean_phenotypes_stage,
)
from henderson.stages.evaluate import build_model

DAT = "data.csv"
PED = "ped.csv"


def raw(text: str) -> pd.DataFrame:
    """A table as ``read_table`` returns it (strings, index = file line, header on line 1)."""
    rows = [line.split(",") for line in text.strip().splitlines()]
    frame = pd.DataFrame(rows[1:], columns=rows[0], dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    return frame


def models_of(cfg: dict) -> dict:
    """The clean stage's model param, as the workflow passes it."""
    return model_columns_params(validate_config(cfg).models)


# --------------------------------------------------------------------------------------------
# 1. a column named `line` is the user's


def test_a_phenotype_column_named_line_is_an_ordinary_effect():
    data = raw("animal,line,y\n1,A,1.5\n2,B,\n3,A,2.5\n4,B,3.0")
    cols = ModelColumns(traits=("y",), classes=("line",))
    out = clean_phenotypes(data, source=DAT, id_column="animal", models={"m": cols})
    assert out.table["line"].tolist() == ["A", "B", "A", "B"]
    assert out.table[LINE_COLUMN].tolist() == [2, 3, 4, 5]
    records, rejected = model_records(out.table, cols, source=DAT, model="m")
    assert records["line"].tolist() == ["A", "A", "B"]
    assert records[LINE_COLUMN].tolist() == [2, 4, 5]
    # the rejected table is another table: its `line` is the file line
    assert rejected[["line", "id"]].values.tolist() == [[3, "2"]]


def test_the_model_stage_builds_a_model_with_a_line_effect():
    cfg = validate_config({"phenotypes": DAT, "id_column": "animal", "models": {"m": {
        "traits": ["y"], "fixed": ["line"], "random": {"herd": "iid"},
        "variances": {"herd": 1, "residual": 2}, "estimate": "none"}}})
    data = raw("animal,line,herd,y\n1,A,h1,1.5\n2,B,h2,2\n3,A,h2,2.5\n4,B,h1,3.0")
    table = clean_phenotypes(data, source=DAT, id_column="animal",
                             models={"m": cfg.models["m"].columns}).table
    model = build_model(cfg.models["m"], table, id_column="animal")
    assert model.n_records == 4


# --------------------------------------------------------------------------------------------
# 2-3. pedigree column names; files without a header


def test_pedigree_columns_map_the_header(tmp_path):
    (tmp_path / "ped.csv").write_text("animal;father;mother;year\nA;0;0;2018\nB;0;0;2018\nC;A;B;2020\n")
    (tmp_path / "data.csv").write_text("id,y\nC,1\n")
    ped = clean_pedigree_stage(
        tmp_path / "ped.csv", tmp_path / "data.csv", id_column="id", unknown_parent=["0"],
        pedigree_columns={"id": "animal", "sire": "father", "dam": "mother", "birth_year": "year"},
    )
    assert ped.table[["id", "sire", "dam"]].values.tolist() == [
        ["A", None, None], ["B", None, None], ["C", "A", "B"]]
    assert ped.table["birth_year"].tolist() == [2018, 2018, 2020]


def test_a_missing_mapped_pedigree_column_names_the_key():
    with pytest.raises(InputError) as err:
        clean_pedigree(raw("animal,sire,dam\nA,0,0"), source=PED, unknown_parent=["0"],
                       columns={"id": "animal_id"})
    assert "no column 'animal_id' (id)" in str(err.value)
    assert "pedigree_columns" in str(err.value)
    with pytest.raises(InputError, match=r"pedigree_columns: \{id: animal"):
        clean_pedigree(raw("animal,sire,dam\nA,0,0"), source=PED, unknown_parent=["0"])


def test_pedigree_columns_config():
    base = {"phenotypes": DAT, "models": {"m": {"traits": ["y"]}}}
    cfg = validate_config({**base, "pedigree_columns": {"id": "animal", "sex": "gender"}})
    assert cfg.pedigree_columns == {"id": "animal", "sire": "sire", "dam": "dam",
                                    "birth_year": "birth_year", "birth_date": "birth_date",
                                    "sex": "gender"}
    assert cfg.pedigree_sex_column == "gender"
    assert validate_config(base).pedigree_columns["id"] == "id"
    listed = validate_config({**base, "pedigree_columns": ["id", "sire", "dam", "sex"]})
    assert listed.pedigree_columns == ("id", "sire", "dam", "sex")
    assert listed.reading_params()["pedigree_columns"] == ["id", "sire", "dam", "sex"]
    for bad, words in [
        ({"animal": "x"}, ["pedigree_columns", "mapping from roles"]),
        (["id", "sire", "x"], ["must include dam"]),
        ({"id": "sire"}, ["two roles"]),
    ]:
        with pytest.raises(ConfigError) as err:
            validate_config({**base, "pedigree_columns": bad})
        for word in words:
            assert word in str(err.value)
    with pytest.raises(ConfigError, match="does not name the ID column 'id'"):
        validate_config({**base, "phenotype_columns": ["animal", "y"]})


BLUPF90_PEDIGREE = "1 0 0\n2 0 0\n3 0 0\n4 1 0\n5 3 2\n6 1 2\n7 4 5\n8 3 6\n"
BLUPF90_DATA = "4 1 4.5\n5 2 2.9\n6 2 3.9\n7 1 3.5\n\n8 1 5.0\n"


def test_files_without_a_header_read_with_the_names_in_the_config(tmp_path):
    (tmp_path / "ped.txt").write_text(BLUPF90_PEDIGREE)
    (tmp_path / "data.txt").write_text(BLUPF90_DATA)
    ped = clean_pedigree_stage(
        tmp_path / "ped.txt", tmp_path / "data.txt", id_column="animal", unknown_parent=["0"],
        pedigree_columns=["id", "sire", "dam"], phenotype_columns=["animal", "sex", "wwg"],
    )
    assert ped.table["id"].tolist() == [str(i) for i in range(1, 9)]
    assert ped.summary["phenotyped_added"] == 0
    cfg = {"phenotypes": "data.txt", "id_column": "animal", "phenotype_columns": ["animal", "sex", "wwg"],
           "models": {"m": {"traits": ["wwg"], "fixed": ["sex"]}}}
    phen = clean_phenotypes_stage(tmp_path / "data.txt", id_column="animal", models=models_of(cfg),
                                  phenotype_columns=["animal", "sex", "wwg"])
    assert phen.table["animal"].tolist() == ["4", "5", "6", "7", "8"]
    assert phen.table[LINE_COLUMN].tolist() == [1, 2, 3, 4, 6]  # every line is data
    assert phen.table["wwg"].tolist() == ["4.5", "2.9", "3.9", "3.5", "5.0"]


def test_a_header_that_looks_like_data_names_the_key_to_set(tmp_path):
    (tmp_path / "ped.txt").write_text(BLUPF90_PEDIGREE)
    (tmp_path / "data.txt").write_text(BLUPF90_DATA)
    with pytest.raises(InputError) as err:
        clean_pedigree_stage(tmp_path / "ped.txt", tmp_path / "data.txt", id_column="id",
                             unknown_parent=["0"])
    message = str(err.value)
    assert "looks like data, not a header" in message
    assert "`pedigree_columns: [id, sire, dam]`" in message
    with pytest.raises(InputError) as err:
        clean_phenotypes_stage(tmp_path / "data.txt", id_column="id",
                               models=models_of({"phenotypes": DAT, "models": {"m": {"traits": ["y"]}}}))
    assert "`phenotype_columns: [id, column2, column3]`" in str(err.value)


def test_names_that_do_not_fit_the_file_are_refused(tmp_path):
    (tmp_path / "ped.txt").write_text(BLUPF90_PEDIGREE)
    with pytest.raises(InputError, match=r"line 1 has 3 fields but `pedigree_columns` names 4"):
        read_table(tmp_path / "ped.txt", ["id", "sire", "dam", "sex"], names_key="pedigree_columns")
    (tmp_path / "header.txt").write_text("id sire dam\n" + BLUPF90_PEDIGREE)
    with pytest.raises(InputError, match=r"line 1 is a header \('id sire dam'\), but "):
        read_table(tmp_path / "header.txt", ["id", "sire", "dam"], names_key="pedigree_columns")
    (tmp_path / "ragged.txt").write_text("1 0 0\n2 0 0 x\n")
    with pytest.raises(InputError, match=r"line 2 has a different number of fields"):
        read_table(tmp_path / "ragged.txt", ["id", "sire", "dam"], names_key="pedigree_columns")


# --------------------------------------------------------------------------------------------
# 4. files that are not UTF-8


def test_a_windows_1252_file_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "data.csv"
    path.write_bytes("id;herd;y\n1;Hérault;3.5\n2;Cœur-Zürich;4\n".encode("cp1252"))
    table = read_table(path)
    assert table["herd"].tolist() == ["Hérault", "Cœur-Zürich"]  # œ is 0x9C in cp1252 only
    [warning] = table.attrs[WARNINGS_ATTR]
    assert warning.startswith("data.csv: the file is not UTF-8 (line 2); it was read as "
                              "Windows-1252 (cp1252), so line 2 reads 'Hérault'.")
    cfg = {"phenotypes": DAT, "models": {"m": {"traits": ["y"], "fixed": ["herd"]}}}
    with caplog.at_level(logging.WARNING, logger="henderson"):
        phen = clean_phenotypes_stage(path, id_column="id", models=models_of(cfg))
    assert phen.summary["warnings"] == [warning]
    assert warning in caplog.text


def test_bytes_undefined_in_cp1252_fall_back_to_latin_1(tmp_path):
    path = tmp_path / "ped.csv"
    path.write_bytes(b"id,sire,dam\nA\x81,0,0\n")
    ped = clean_pedigree(read_table(path), source="ped.csv", unknown_parent=["0"])
    assert ped.table["id"].tolist() == ["A\x81"]
    assert "read as Latin-1 (ISO-8859-1)" in ped.summary["warnings"][0]


def test_utf8_and_utf16_files_read_without_warning(tmp_path):
    for encoding in ("utf-8", "utf-8-sig", "utf-16"):
        path = tmp_path / f"{encoding}.csv"
        path.write_text("id,herd\n1,Hérault\n", encoding=encoding)
        table = read_table(path)
        assert table["herd"].tolist() == ["Hérault"] and table.attrs[WARNINGS_ATTR] == []


# --------------------------------------------------------------------------------------------
# 5. birth dates


def test_birth_dates_give_birth_years():
    ped = clean_pedigree(raw(
        "id,sire,dam,birth_date\n"
        "A,0,0,2018-03-28\nB,0,0,28/03/2018\nC,A,B,20200101\nD,A,B,12/31/2020\n"
        "E,A,B,2019-03-01 00:00:00\nF,A,B,1.2.2021\nG,A,B,NA"
    ), source=PED, unknown_parent=["0"])
    assert ped.table["birth_year"].tolist()[:6] == [2018, 2018, 2020, 2020, 2019, 2021]
    assert pd.isna(ped.table["birth_year"].iloc[6])


def test_birth_dates_that_are_not_dates_name_the_lines():
    with pytest.raises(InputError) as err:
        clean_pedigree(raw("id,sire,dam,born\nA,0,0,2018-02-30\nB,0,0,01/02/19\nC,0,0,2019-01-01"),
                       source=PED, unknown_parent=["0"], columns={"birth_date": "born"})
    assert str(err.value).startswith(
        "ped.csv: born is not a date on line 2 ('A': '2018-02-30'), line 3 ('B': '01/02/19')."
    )


def test_birth_dates_check_birth_order_and_agree_with_birth_years():
    with pytest.raises(InputError, match=r"parent\(s\) born after their offspring"):
        clean_pedigree(raw("id,sire,dam,birth_date\nA,0,0,2021-01-01\nC,A,0,2020-05-01"),
                       source=PED, unknown_parent=["0"])
    both = clean_pedigree(raw("id,sire,dam,birth_year,birth_date\nA,0,0,2018,\nB,0,0,,2019-05-01"),
                          source=PED, unknown_parent=["0"])
    assert both.table["birth_year"].tolist() == [2018, 2019]
    with pytest.raises(InputError, match=r"differ on line 2 \('A': 2018 and 2019\)"):
        clean_pedigree(raw("id,sire,dam,birth_year,birth_date\nA,0,0,2018,2019-01-01"),
                       source=PED, unknown_parent=["0"])


# --------------------------------------------------------------------------------------------
# 6. sex codes


def test_sex_codes_from_the_config_check_parent_sexes():
    text = "id,sire,dam,sex\nS,0,0,2\nD,0,0,2\nC,S,D,1"
    with pytest.raises(InputError, match=r"'S' has sex '2' \(line 2\) but is the sire of 'C'"):
        clean_pedigree(raw(text), source=PED, unknown_parent=["0"],
                       sex_codes={"male": ["1"], "female": ["2"]})
    # with the default codes (M, MALE / F, FEMALE) nothing is checked, and the warning says why
    ped = clean_pedigree(raw(text), source=PED, unknown_parent=["0"])
    [warning] = ped.summary["warnings"]
    assert "no value of column 'sex' is a male (M, MALE) or female (F, FEMALE) code" in warning
    assert "sex_codes" in warning


def test_sex_codes_config():
    base = {"phenotypes": DAT, "models": {"m": {"traits": ["y"]}}}
    assert validate_config(base).sex_codes == {"male": ("M", "MALE"), "female": ("F", "FEMALE")}
    cfg = validate_config({**base, "sex_codes": {"male": ["1", "M"]}})
    assert cfg.sex_codes == {"male": ("1", "M"), "female": ("F", "FEMALE")}
    with pytest.raises(ConfigError, match=r"\['M'\] is both a male and a female code"):
        validate_config({**base, "sex_codes": {"male": ["M"], "female": ["m"]}})


# --------------------------------------------------------------------------------------------
# 7-8. YAML: values that are not text; alias bombs


@pytest.mark.parametrize(
    "text, words",
    [
        ("id_column: yes", ["id_column: True (a boolean)", "write the name in quotes, e.g. 'yes'"]),
        ("models: {m: {traits: [no]}}", ["models.m.traits.0: False (a boolean)", "'no'"]),
        ("models: {m: {traits: [y], fixed: [on]}}", ["models.m.fixed.0: True", "yes/no/on/off"]),
        ("unknown_parent: [0, NA]", ["unknown_parent.0: 0 (a number)", "e.g. '0'"]),
        ("models: {m: {traits: [y], random: {off: iid}}}",
         ["models.m.random.False: False (a boolean) where a key (a name) is expected"]),
    ],
)
def test_names_yaml_does_not_read_as_text_get_a_hint(tmp_path, text, words):
    path = tmp_path / "config.yaml"
    path.write_text("phenotypes: data.csv\nmodels: {m: {traits: [y]}}\n" + text + "\n")
    if text.startswith("models"):
        path.write_text("phenotypes: data.csv\n" + text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for word in words:
        assert word in str(err.value)


BOMB = textwrap.dedent("""\
    phenotypes: data.csv
    models: {m: {traits: [y]}}
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    unknown_parent: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """)


def test_a_billion_laughs_config_is_refused_quickly(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600
    # in a child process with 1 GB of address space and a time limit, so that a failure of
    # the guard cannot take the machine's memory
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from henderson.config import load_config
        from henderson.errors import ConfigError
        try:
            load_config({str(path)!r})
        except ConfigError as error:
            print(error)
            sys.exit(0)
        sys.exit(3)
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"expands to more than {MAX_CONFIG_VALUES:,} values" in result.stdout


def test_config_size_counts_shared_values_once_per_use():
    shared = ["a", "b"]
    assert check_size({"x": shared, "y": shared}) == 1 + 2 + 2 * 3
    loop: list = []
    loop.append(loop)
    with pytest.raises(ConfigError, match="contains itself"):
        validate_config({"phenotypes": DAT, "models": {}, "x": loop})
    anchored = yaml.safe_load("phenotypes: d.csv\nv: &v {residual: 40}\n"
                              "models: {a: {traits: [y], variances: *v}, b: {traits: [y], variances: *v}}")
    del anchored["v"]
    assert set(validate_config(anchored).models) == {"a", "b"}


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes("phenotypes: données.csv\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# --------------------------------------------------------------------------------------------
# 9. absurd magnitudes; a random effect with one level


def test_an_absurd_trait_value_names_its_line_and_id():
    data = raw("animal,y,age\n1,1.5,10\n2,1e300,11\n3,2,12")
    with pytest.raises(InputError) as err:
        clean_phenotypes(data, source=DAT, id_column="animal",
                         models={"m": ModelColumns(traits=("y",), covariates=("age",))})
    assert str(err.value).startswith(
        "data.csv: column 'y', line 3 (ID '2'): the value '1e300' is too large (more than 1e+100"
    )
    with pytest.raises(InputError, match=r"column 'age', line 2 \(ID '1'\): the value '-2e150'"):
        clean_phenotypes(raw("animal,y,age\n1,1.5,-2e150"), source=DAT, id_column="animal",
                         models={"m": ModelColumns(traits=("y",), covariates=("age",))})


def test_a_random_effect_with_one_level_is_refused_when_estimated():
    block = {"traits": ["y"], "fixed": ["sex"], "random": {"herd": "iid"}}
    data = raw("animal,sex,herd,y\n1,M,H1,1.5\n2,F,H1,2\n3,M,H1,2.5\n4,F,,3")
    spec = validate_config({"phenotypes": DAT, "id_column": "animal", "models": {"m": block}}).models["m"]
    table = clean_phenotypes(data, source=DAT, id_column="animal", models={"m": spec.columns}).table
    with pytest.raises(ConfigError) as err:
        build_model(spec, table, id_column="animal")
    assert str(err.value).startswith(
        "models.m.random.herd: column 'herd' has one level ('H1') in the model's 4 records: the "
        "variance of a random effect with a single level cannot be estimated"
    )
    given = validate_config({"phenotypes": DAT, "id_column": "animal", "models": {"m": {
        **block, "variances": {"herd": 1, "residual": 1}, "estimate": "none"}}}).models["m"]
    assert build_model(given, table, id_column="animal").n_records == 4


# --------------------------------------------------------------------------------------------
# 10. phenotype dams and sexes against the pedigree

PEDIGREE = "id,sire,dam,sex\nS1,0,0,M\nD1,0,0,F\nD2,0,0,F\nA1,S1,D1,M\nA2,S1,D1,F\nA3,S1,D2,F\nA4,S1,0,M\n"
DATA = (
    "animal,dam,sex,y\n"
    "A1,D1,M,1\n"   # agrees
    "A2,D2,F,2\n"   # another dam
    "A3,0,M,3\n"    # no dam here, D2 in the pedigree; and male here, female in the pedigree
    "A4,D2,M,4\n"   # a dam the pedigree lacks
    "A2,D2,F,5\n"   # the same animal again
)


@pytest.fixture
def maternal_files(tmp_path):
    (tmp_path / "ped.csv").write_text(PEDIGREE)
    (tmp_path / "data.csv").write_text(DATA)
    ped = clean_pedigree_stage(tmp_path / "ped.csv", tmp_path / "data.csv", id_column="animal",
                               unknown_parent=["0"])
    write_parquet(ped.table, tmp_path / "pedigree.parquet")
    cfg = {"pedigree": "ped.csv", "phenotypes": "data.csv", "id_column": "animal", "models": {
        "mat": {"traits": ["y"], "fixed": ["sex"], "random": {
            "animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}}},
        "direct": {"traits": ["y"], "random": {"animal": "additive"}}}}
    return tmp_path, models_of(cfg)


def test_phenotype_dams_and_sexes_that_disagree_with_the_pedigree_are_reported(maternal_files, caplog):
    path, models = maternal_files
    with caplog.at_level(logging.WARNING, logger="henderson"):
        phen = clean_phenotypes_stage(
            path / "data.csv", id_column="animal", models=models, pedigree_path=path / "pedigree.parquet",
            pedigree_file="ped.csv", unknown_parent=["0"],
        )
    mat = phen.summary["models"]["mat"]
    assert mat["dam_check"] == {"differ": 2, "only_phenotypes": 1, "only_pedigree": 1}
    [dam] = mat["warnings"]
    assert dam == (
        "data.csv: the dam column 'dam' (maternal effect 'dam' of model 'mat') disagrees with the "
        "pedigree ped.csv on 4 record(s) of 3 animal(s) ('A2', 'A3', 'A4'): 2 name another dam "
        "than the pedigree ('A2' line 3: 'D2' here, 'D1' in the pedigree, 'A2' line 6: 'D2' here, "
        "'D1' in the pedigree); 1 name a dam the pedigree does not give ('A4' line 5: 'D2' here, "
        "none in the pedigree); 1 have no dam where the pedigree has one ('A3' line 4: none here, "
        "'D2' in the pedigree). The relationship matrix uses the pedigree; the maternal effect "
        "uses column 'dam' as given (a record without a dam there has no maternal effect). "
        "Correct whichever file is wrong."
    )
    assert phen.summary["models"]["direct"]["warnings"] == []
    assert "dam_check" not in phen.summary["models"]["direct"]
    [sex] = phen.summary["warnings"]
    assert sex.startswith(
        "data.csv: column 'sex' disagrees with the sex in the pedigree ped.csv on 1 record(s) of "
        "1 animal(s): 'A3' line 4: 'M' here, 'F' in the pedigree."
    )
    assert dam in caplog.text and sex in caplog.text


def test_dams_and_sexes_that_agree_give_no_warning(tmp_path):
    (tmp_path / "ped.csv").write_text(PEDIGREE)
    (tmp_path / "data.csv").write_text("animal,dam,sex,y\nA1,D1,male,1\nA3,D2,f,2\n")
    ped = clean_pedigree_stage(tmp_path / "ped.csv", tmp_path / "data.csv", id_column="animal",
                               unknown_parent=["0"])
    write_parquet(ped.table, tmp_path / "pedigree.parquet")
    cfg = {"pedigree": "ped.csv", "phenotypes": "data.csv", "id_column": "animal", "models": {
        "mat": {"traits": ["y"], "random": {
            "animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}}}}}
    phen = clean_phenotypes_stage(tmp_path / "data.csv", id_column="animal", models=models_of(cfg),
                                  pedigree_path=tmp_path / "pedigree.parquet", unknown_parent=["0"])
    assert phen.summary["warnings"] == [] and phen.summary["models"]["mat"]["warnings"] == []
    assert phen.summary["models"]["mat"]["dam_check"] == {
        "differ": 0, "only_phenotypes": 0, "only_pedigree": 0}


# --------------------------------------------------------------------------------------------
# the workflow: a header-less pedigree with sex codes, a Windows-1252 phenotype file with a
# `line` column, a maternal model whose phenotype dams disagree with the pedigree


@pytest.mark.workflow
def test_real_world_inputs_through_the_workflow(tmp_path):
    from test_workflow import setup_dir, snakemake

    pedigree = "1 0 0 1\n2 0 0 2\n3 0 0 1\n4 1 0 1\n5 3 2 2\n6 1 2 2\n7 4 5 1\n8 3 6 1\n"
    data = ("animal;line;herd;sex;dam;wwg\n4;A;Hérault;M;0;4.5\n5;B;Hérault;F;2;2.9\n"
            "6;A;Zürich;F;2;3.9\n7;B;Zürich;M;5;3.5\n8;A;Zürich;F;5;5.0\n")
    config = {
        "pedigree": "pedigree.csv", "phenotypes": "data.csv", "id_column": "animal",
        "pedigree_columns": ["id", "sire", "dam", "sex"],
        "sex_codes": {"male": ["1", "M"], "female": ["2", "F"]},
        "models": {"wwg": {
            "traits": ["wwg"], "fixed": ["line"],
            "random": {"animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}},
            "variances": {"animal": 20, "dam": 8, "animal.dam": -2, "residual": 40}, "estimate": "none",
        }},
    }
    work = setup_dir(tmp_path, config, pedigree=pedigree, data="")
    (work / "data.csv").write_bytes(data.encode("cp1252"))
    snakemake(work)
    summary = json.loads((work / "results/clean/summary.json").read_text())
    warnings = summary["warnings"]
    assert any(w.startswith("data.csv: the file is not UTF-8 (line 2)") for w in warnings)
    assert any("'8' line 6: 'F' here, '1' in the pedigree" in w for w in warnings)
    [dam] = summary["models"]["wwg"]["warnings"]
    assert "1 name another dam than the pedigree ('8' line 6: '5' here, '6' in the pedigree)" in dam
    assert summary["pedigree"]["animals"] == 8
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet")
    assert set(sol.loc[sol["effect"] == "line", "level"]) == {"A", "B"}
    assert (work / "results/wwg/report.html").exists()


def test_an_unknown_parent_code_in_the_dam_column_is_a_missing_dam(tmp_path):
    """Dam '0' (an `unknown_parent` code) is no dam: `missing: drop` rejects the record with its
    reason, `missing: keep` keeps it without a maternal level."""
    (tmp_path / "data.csv").write_text("id,dam,y\nA1,0,1.5\nA2,D1,2.0\nA3,,2.5\nA4,D1,3.1\n")
    random = {"animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}}
    cfg = {"pedigree": "ped.csv", "phenotypes": "data.csv", "models": {
        "drop": {"traits": ["y"], "random": {**random, "dam": {**random["dam"], "missing": "drop"}}},
        "keep": {"traits": ["y"], "random": random}}}
    phen = clean_phenotypes_stage(tmp_path / "data.csv", id_column="id", models=models_of(cfg), unknown_parent=["0"])
    dropped = phen.rejected[phen.rejected["model"] == "drop"]
    assert sorted(dropped["id"]) == ["A1", "A3"]
    assert phen.summary["models"]["drop"]["records"] == 2
    assert phen.summary["models"]["keep"]["records"] == 4
    assert phen.summary["models"]["keep"]["kept_without_level"] == {"dam": 2}
