"""Tests of henderson.simulate: pedigree validity, exact inbreeding, recovered parameters, files, CLI.

Statistical checks use runs large enough that a tolerance of about 4 standard errors is still
tight; each tolerance is stated where it is used. Seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from henderson.config import load_config
from henderson.errors import ConfigError
from henderson.io import read_table
from henderson.simulate import (
    SimulatedData,
    SimulationSpec,
    config_yaml,
    main,
    simulate,
    simulate_pedigree,
    trait_names,
    write_simulation,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "resources" / "example"


# ----------------------------------------------------------------------------- oracles


def parent_indices(pedigree: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """0-based row of each animal's sire and dam (-1 unknown), by plain dictionary lookup."""
    row = {animal: i for i, animal in enumerate(pedigree["id"])}
    sire = np.array([row.get(s, -1) for s in pedigree["sire"]])
    dam = np.array([row.get(d, -1) for d in pedigree["dam"]])
    return sire, dam


def tabular_inbreeding(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """F from the dense numerator relationship matrix built by the tabular method.

    a_ij = (a_j,s(i) + a_j,d(i)) / 2 for j < i, a_ii = 1 + a_s(i),d(i) / 2 (unknown parent: 0).
    """
    n = sire.size
    a = np.zeros((n, n))
    for i in range(n):
        s, d = sire[i], dam[i]
        row = np.zeros(i)
        if s >= 0:
            row += 0.5 * a[s, :i]
        if d >= 0:
            row += 0.5 * a[d, :i]
        a[i, :i] = row
        a[:i, i] = row
        a[i, i] = 1.0 + (0.5 * a[s, d] if s >= 0 and d >= 0 else 0.0)
    return np.diag(a) - 1.0


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small() -> SimulatedData:
    return simulate(SimulationSpec(n_animals=2000, seed=11))


@pytest.fixture(scope="module")
def large() -> SimulatedData:
    # no selection: founders and Mendelian terms are then plain random samples
    return simulate(SimulationSpec(n_animals=20000, seed=5, selection="none"))


@pytest.fixture(scope="module")
def two_traits() -> SimulatedData:
    return simulate(SimulationSpec(n_animals=20000, seed=6, traits=2, selection="none"))


@pytest.fixture(scope="module")
def maternal_repeated() -> SimulatedData:
    return simulate(
        SimulationSpec(n_animals=20000, seed=7, maternal=True, records_per_animal=3, selection="none")
    )


def residuals(data: SimulatedData, trait: str, *, with_pe: bool = False) -> np.ndarray:
    """y - (mean + herd_year + sex + slope * age + a [+ pe]) for the records where y is observed."""
    p = data.parameters["fixed_effects"]
    ph = data.phenotypes
    truth = data.truth.set_index("id")
    fixed = (
        p["mean"][trait]
        + ph["herd_year"].map(lambda hy: p["herd_year"][hy][trait]).to_numpy()
        + ph["sex"].map(lambda sx: p["sex"][sx][trait]).to_numpy()
        + p["age_slope_per_day"][trait] * ph["age"].to_numpy()
    )
    genetic = truth.loc[ph["id"], f"tbv_{trait}"].to_numpy()
    if with_pe:
        genetic = genetic + truth.loc[ph["id"], f"pe_{trait}"].to_numpy()
    e = ph[trait].to_numpy() - fixed - genetic
    return e[~np.isnan(e)]


# ----------------------------------------------------------------------------- pedigree


def check_pedigree(ped: pd.DataFrame, n: int) -> None:
    assert list(ped.columns) == ["id", "sire", "dam", "birth_year", "sex"]
    assert len(ped) == n
    assert ped["birth_year"].dtype == np.int64
    assert set(ped["sex"]) <= {"M", "F"}
    assert ped["id"].map(lambda x: re.fullmatch(r"A\d{7,}", x) is not None).all()
    assert ped["id"].is_unique and ped["id"].is_monotonic_increasing  # zero-padded: string order
    sire, dam = parent_indices(ped)
    rows = np.arange(n)
    # every recorded parent is an earlier row (an earlier ID), unknown is written "0"
    assert ((ped["sire"] == "0") == (sire < 0)).all() and ((ped["dam"] == "0") == (dam < 0)).all()
    assert (sire < rows).all() and (dam < rows).all()
    sex = ped["sex"].to_numpy()
    year = ped["birth_year"].to_numpy()
    assert (sex[sire[sire >= 0]] == "M").all()
    assert (sex[dam[dam >= 0]] == "F").all()
    assert (year[sire[sire >= 0]] < year[sire >= 0]).all()
    assert (year[dam[dam >= 0]] < year[dam >= 0]).all()
    base = year == year.min()
    assert (sire[base] < 0).all() and (dam[base] < 0).all()
    # generations overlap: some cohort has parents born in different years
    assert pd.Series(year[sire[sire >= 0]]).groupby(year[sire >= 0]).nunique().max() > 1


def test_simulate_pedigree_is_valid() -> None:
    ped = simulate_pedigree(3000, seed=3, n_generations=8)
    check_pedigree(ped, 3000)
    assert ped["birth_year"].nunique() == 8
    sire, dam = parent_indices(ped)
    after_base = ped["birth_year"].to_numpy() > ped["birth_year"].min()
    # expected 3 % unknown sires and 2 % unknown dams among 2625 animals (binomial SE <= 0.35 %)
    assert 0.015 < (sire[after_base] < 0).mean() < 0.045
    assert 0.008 < (dam[after_base] < 0).mean() < 0.035
    # few sires per cohort: ceil(0.02 * 375) = 8
    sires_per_year = pd.Series(sire[after_base & (sire >= 0)]).groupby(
        ped["birth_year"].to_numpy()[after_base & (sire >= 0)]
    ).nunique()
    assert sires_per_year.max() <= 8
    # sires are not mated to their own recorded daughters
    mated = (sire >= 0) & (dam >= 0)
    assert not (sire[dam[mated]] == sire[mated]).any()


def test_simulate_pedigree_inbreeding_accrues() -> None:
    ped = simulate_pedigree(2000, seed=4)
    f = tabular_inbreeding(*parent_indices(ped))
    assert f.min() >= 0.0 and f.max() <= 1.0
    assert f.max() > 0.1 and f.mean() > 0.005


def test_simulate_pedigree_ids_widen_and_arguments_checked() -> None:
    assert simulate_pedigree(100, seed=1, n_generations=2)["id"].iloc[0] == "A0000001"
    with pytest.raises(ConfigError, match="n_animals"):
        simulate_pedigree(50, seed=1)  # fewer than 10 per generation
    with pytest.raises(ConfigError, match="seed"):
        simulate_pedigree(500, seed=-1)
    with pytest.raises(ConfigError, match="unknown_sire"):
        simulate_pedigree(500, seed=1, unknown_sire=1.5)


def test_unselected_simulation_has_the_same_pedigree() -> None:
    data = simulate(SimulationSpec(n_animals=600, seed=9, selection="none", traits=2))
    pd.testing.assert_frame_equal(data.pedigree, simulate_pedigree(600, seed=9))


def test_simulation_pedigree_valid_with_selection(small: SimulatedData) -> None:
    check_pedigree(small.pedigree, 2000)


# ----------------------------------------------------------------------------- inbreeding


def test_true_inbreeding_matches_tabular_method(small: SimulatedData) -> None:
    f_tab = tabular_inbreeding(*parent_indices(small.pedigree))
    f_sim = small.truth["inbreeding"].to_numpy()
    # truth is rounded to 6 decimals
    np.testing.assert_allclose(f_sim, f_tab, rtol=0, atol=6e-7)
    base = small.pedigree["birth_year"] == small.pedigree["birth_year"].min()
    assert (f_sim[base.to_numpy()] == 0).all()
    assert f_sim.max() > 0.1 and f_sim.mean() > 0.01  # inbreeding is present


# ----------------------------------------------------------------------------- variances


def test_founder_and_mendelian_variances(large: SimulatedData) -> None:
    ped, truth = large.pedigree, large.truth
    a = truth["tbv_weaning_weight"].to_numpy()
    year = ped["birth_year"].to_numpy()
    founders = a[year == year.min()]
    # n0 = founders.size = 2000
    # var: SE = 20 * sqrt(2 / n0) = 0.63; tolerance 4 SE = 2.5. mean: SE = sqrt(20 / n0) = 0.1
    assert abs(founders.var(ddof=1) - 20.0) < 2.5
    assert abs(founders.mean()) < 0.4
    sire, dam = parent_indices(ped)
    both = (sire >= 0) & (dam >= 0)
    f = truth["inbreeding"].to_numpy()
    b = 0.5 - (f[sire[both]] + f[dam[both]]) / 4
    standardized = (a[both] - (a[sire[both]] + a[dam[both]]) / 2) / np.sqrt(b)
    # about 17 500 Mendelian terms: SE of var = 20 * sqrt(2 / 17500) = 0.21, tolerance 1.0
    assert abs(standardized.var() - 20.0) < 1.0
    assert abs(standardized.mean()) < 0.15


def test_residual_variance_recovered(large: SimulatedData) -> None:
    e = residuals(large, "weaning_weight")
    # about 16 000 records: SE of var = 40 * sqrt(2 / 16000) = 0.45, tolerance 2.0; rounding of
    # y (0.01) and TBV (1e-4) adds < 1e-4 variance
    assert len(e) == len(large.phenotypes)
    assert abs(e.var() - 40.0) < 2.0
    assert abs(e.mean()) < 0.2  # SE 0.05


def test_phenotype_table_layout(small: SimulatedData) -> None:
    ph = small.phenotypes
    assert list(ph.columns) == ["id", "herd_year", "sex", "age", "weaning_weight"]
    assert ph["herd_year"].str.fullmatch(r"H\d{2}_\d{4}").all()
    assert ph["age"].between(150, 250).all() and ph["age"].dtype == np.int64
    # fraction phenotyped 0.8 of 2000: SE 0.009
    assert 0.76 < ph["id"].nunique() / 2000 < 0.84
    sex = small.pedigree.set_index("id")["sex"]
    assert (ph["sex"].to_numpy() == sex.loc[ph["id"]].to_numpy()).all()
    year = ph["herd_year"].str[-4:].astype(int).to_numpy()
    birth = small.pedigree.set_index("id").loc[ph["id"], "birth_year"].to_numpy()
    assert (year == birth).all()
    assert list(small.truth.columns) == ["id", "tbv_weaning_weight", "inbreeding"]


def test_multi_trait_correlations_recovered(two_traits: SimulatedData) -> None:
    data = two_traits
    g = np.array(data.parameters["variances"]["genetic_covariance"])
    r = np.array(data.parameters["variances"]["residual_covariance"])
    assert g.shape == r.shape == (2, 2)
    year = data.pedigree["birth_year"].to_numpy()
    founders = data.truth.loc[year == year.min(), ["tbv_weaning_weight", "tbv_yearling_weight"]]
    rg = g[0, 1] / np.sqrt(g[0, 0] * g[1, 1])
    # 2000 founders: SE of a correlation (1 - r^2) / sqrt(n) = 0.014 at r = 0.6; tolerance 0.06
    assert abs(founders.corr().iloc[0, 1] - rg) < 0.06
    np.testing.assert_allclose(founders.var(ddof=1), np.diag(g), rtol=0.13)  # 4 SE = 12.6 %
    # residual correlation on records with both traits (about 13 000): SE 0.007, tolerance 0.04
    ph = data.phenotypes
    both = ph[["weaning_weight", "yearling_weight"]].notna().all(axis=1).to_numpy()
    sub = SimulatedData(data.pedigree, ph.loc[both].reset_index(drop=True), data.truth, data.parameters)
    e1, e2 = residuals(sub, "weaning_weight"), residuals(sub, "yearling_weight")
    re_ = r[0, 1] / np.sqrt(r[0, 0] * r[1, 1])
    assert abs(np.corrcoef(e1, e2)[0, 1] - re_) < 0.04
    # missing fraction 0.1 per trait (SE 0.0024), never both missing
    missing = ph[["weaning_weight", "yearling_weight"]].isna()
    assert ((missing.mean() - 0.1).abs() < 0.015).all()
    assert not missing.all(axis=1).any()


def test_maternal_and_repeated_records(maternal_repeated: SimulatedData) -> None:
    data = maternal_repeated
    ph, truth, ped = data.phenotypes, data.truth, data.pedigree
    assert list(ph.columns) == ["id", "herd_year", "sex", "age", "dam", "weaning_weight"]
    assert list(truth.columns) == [
        "id", "tbv_weaning_weight", "mtbv_weaning_weight", "pe_weaning_weight", "inbreeding",
    ]
    dams = ped.set_index("id")["dam"]
    assert (ph["dam"].to_numpy() == dams.loc[ph["id"]].to_numpy()).all()
    counts = ph.groupby("id").size()
    assert (counts == 3).all()
    # record years: birth year, +1, +2
    year = ph["herd_year"].str[-4:].astype(int).to_numpy()
    birth = ped.set_index("id").loc[ph["id"], "birth_year"].to_numpy()
    assert (np.sort(np.unique(year - birth)) == [0, 1, 2]).all()
    g = data.parameters["variances"]
    assert g["maternal_covariance"] == [[10.0]] and g["pe_covariance"] == [[10.0]]
    year_all = ped["birth_year"].to_numpy()
    founders = truth.loc[year_all == year_all.min()]
    # 2000 founders: var(m) SE = 10 * sqrt(2/2000) = 0.32 (tol 1.3); corr(a, m) SE 0.021 (tol 0.09)
    assert abs(founders["mtbv_weaning_weight"].var() - 10.0) < 1.3
    assert abs(founders[["tbv_weaning_weight", "mtbv_weaning_weight"]].corr().iloc[0, 1] + 0.3) < 0.09
    # pe of 20 000 animals: SE 0.1, tolerance 0.5
    assert abs(truth["pe_weaning_weight"].var() - 10.0) < 0.5
    # records of an animal share its dam's maternal value: y - fixed - a - pe - m_dam ~ N(0, 40)
    known = ph["dam"].to_numpy() != "0"
    sub = SimulatedData(ped, ph.loc[known].reset_index(drop=True), truth, data.parameters)
    e = residuals(sub, "weaning_weight", with_pe=True)
    m = truth.set_index("id").loc[sub.phenotypes["dam"], "mtbv_weaning_weight"].to_numpy()
    # about 47 000 records: SE of var 0.26, tolerance 1.2
    assert abs((e - m).var() - 40.0) < 1.2


def test_selection_makes_genetic_progress(small: SimulatedData) -> None:
    tbv = small.truth.groupby(small.pedigree["birth_year"])["tbv_weaning_weight"].mean()
    # selection on phenotype (h2 = 1/3, sigma_a = 4.5): several sigma_a of gain by year 10
    assert tbv.iloc[-1] - tbv.iloc[0] > 5.0
    assert tbv.is_monotonic_increasing or tbv.iloc[-3:].min() > tbv.iloc[:3].max()


# ----------------------------------------------------------------------------- spec


def test_spec_defaults_and_h2() -> None:
    spec = SimulationSpec(n_animals=500, seed=1)
    assert spec.genetic_covariance == ((20.0,),) and spec.residual_covariance == ((40.0,),)
    assert spec.maternal_covariance is None and spec.pe_covariance is None
    assert spec.missing_fraction == 0.0
    three = SimulationSpec(n_animals=500, seed=1, traits=4)
    assert three.trait_names == ["weaning_weight", "yearling_weight", "fat_depth", "trait4"]
    assert np.linalg.eigvalsh(np.array(three.genetic_covariance)).min() > 0
    assert three.missing_fraction == 0.1
    h2 = SimulationSpec(n_animals=500, seed=1, h2=0.25, records_per_animal=2)
    # 20 / (20 + pe + e) = 0.25 with pe = 0.25 * 40 = 10: e = 50
    assert h2.residual_covariance == ((50.0,),)
    assert trait_names(5)[-1] == "trait5"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_animals": 20}, "n_animals"),
        ({"traits": 0}, "traits"),
        ({"h2": 1.5}, "h2"),
        ({"selection": "best"}, "selection"),
        ({"missing_fraction": 0.2}, "missing_fraction"),
        ({"genetic_covariance": [[20, 30], [30, 20]], "traits": 2}, "positive definite"),
        ({"genetic_covariance": [[20, 1]], "traits": 1}, "1 x 1"),
        ({"fraction_phenotyped": 0.0}, "fraction_phenotyped"),
        ({"maternal_covariance": [[5.0]]}, "maternal=False"),
        ({"records_per_animal": True}, "records_per_animal"),
    ],
)
def test_spec_rejects_bad_values(kwargs: dict, match: str) -> None:
    args = {"n_animals": 500, "seed": 1} | kwargs
    with pytest.raises(ConfigError, match=match):
        SimulationSpec(**args)


# ----------------------------------------------------------------------------- determinism, files


def test_same_seed_same_data_different_seed_different_data() -> None:
    spec = SimulationSpec(n_animals=800, seed=21, traits=2, maternal=True)
    one, two = simulate(spec), simulate(spec)
    for name in ("pedigree", "phenotypes", "truth"):
        pd.testing.assert_frame_equal(getattr(one, name), getattr(two, name))
    assert one.parameters == two.parameters
    other = simulate(SimulationSpec(n_animals=800, seed=22, traits=2, maternal=True))
    assert not other.truth.equals(one.truth)


def test_written_files_are_byte_identical(tmp_path: Path) -> None:
    spec = SimulationSpec(n_animals=400, seed=2, traits=3, records_per_animal=2)
    write_simulation(simulate(spec), tmp_path / "a")
    write_simulation(simulate(spec), tmp_path / "b")
    names = ["pedigree.csv", "phenotypes.csv", "truth.csv", "truth.json", "config/config.yaml"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_written_tables_read_back(tmp_path: Path) -> None:
    data = simulate(SimulationSpec(n_animals=400, seed=2, traits=2))
    write_simulation(data, tmp_path)
    ped = read_table(tmp_path / "pedigree.csv")
    assert list(ped["id"]) == list(data.pedigree["id"])
    ph = read_table(tmp_path / "phenotypes.csv")
    assert (ph["weaning_weight"] == "").sum() == data.phenotypes["weaning_weight"].isna().sum() > 0
    observed = ph["yearling_weight"] != ""
    np.testing.assert_array_equal(
        ph.loc[observed, "yearling_weight"].astype(float).to_numpy(),
        data.phenotypes["yearling_weight"].dropna().to_numpy(),
    )
    truth = pd.read_csv(tmp_path / "truth.csv")
    np.testing.assert_array_equal(truth["inbreeding"], data.truth["inbreeding"])


def test_config_single_trait_contract() -> None:
    text = config_yaml(SimulationSpec(n_animals=3000, seed=2026))
    assert text.startswith("# Generated by") and "--animals 3000 --seed 2026" in text.splitlines()[0]
    assert yaml.safe_load(text) == {
        "pedigree": "pedigree.csv",
        "phenotypes": "phenotypes.csv",
        "id_column": "id",
        "unknown_parent": ["0", "NA", "", "."],
        "models": {
            "weaning_weight": {
                "traits": ["weaning_weight"],
                "fixed": ["herd_year", "sex"],
                "covariates": ["age"],
                "random": {"animal": "additive"},
                "variances": {"animal": 20, "residual": 40},
                "estimate": "none",
            }
        },
    }


def test_config_maternal_pe_and_multi_trait() -> None:
    spec = SimulationSpec(n_animals=500, seed=1, traits=2, maternal=True, records_per_animal=2)
    model = yaml.safe_load(config_yaml(spec))["models"]["multi_trait"]
    assert model["traits"] == ["weaning_weight", "yearling_weight"]
    assert model["random"] == {
        "animal": "additive",
        "dam": {"type": "maternal", "column": "dam", "of": "animal"},
        "pe": {"type": "iid", "column": "id"},
    }
    v = model["variances"]
    assert list(v) == ["animal", "dam", "animal.dam", "pe", "residual"]
    np.testing.assert_allclose(v["animal"], spec.genetic_covariance, rtol=1e-9)
    np.testing.assert_allclose(v["animal.dam"], spec.direct_maternal_covariance, rtol=1e-9)
    np.testing.assert_allclose(v["residual"], spec.residual_covariance, rtol=1e-9)


# ----------------------------------------------------------------------------- command line


def test_cli_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    rc = main(["--animals", "300", "--seed", "4", "--out", str(out), "--generations", "5",
               "--herds", "4", "--maternal", "--h2", "0.3"])
    assert rc == 0
    for name in ["pedigree.csv", "phenotypes.csv", "truth.csv", "truth.json", "config/config.yaml"]:
        assert (out / name).is_file(), name
    assert "300 animals" in capsys.readouterr().out
    config = yaml.safe_load((out / "config" / "config.yaml").read_text())
    assert "dam" in config["models"]["weaning_weight"]["random"]
    header = (out / "config" / "config.yaml").read_text().splitlines()[0]
    assert "--animals 300 --seed 4 --generations 5 --herds 4" in header and "--h2 0.3" in header
    ped = pd.read_csv(out / "pedigree.csv", dtype=str)
    assert len(ped) == 300 and ped["birth_year"].nunique() == 5


@pytest.mark.parametrize("records", ["1", "2"])
def test_cli_multi_trait_maternal_config_loads(records: str, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    argv = ["--animals", "300", "--seed", "5", "--generations", "5", "--traits", "2", "--maternal",
            "--records-per-animal", records]
    assert main([*argv, "--out", str(out)]) == 0
    config = load_config(out / "config" / "config.yaml")
    spec = SimulationSpec(n_animals=300, seed=5, n_generations=5, traits=2, maternal=True,
                          records_per_animal=int(records))
    model = config.models["multi_trait"]
    assert model.traits == ("weaning_weight", "yearling_weight")
    effects = {e.name: (e.type, e.column, e.of) for e in model.random}
    assert effects["animal"][0] == "additive"
    assert effects["dam"] == ("maternal", "dam", "animal")
    expected = {
        "animal": spec.genetic_covariance,
        "dam": spec.maternal_covariance,
        "animal.dam": spec.direct_maternal_covariance,  # direct rows x maternal columns
        "residual": spec.residual_covariance,
    }
    if spec.pe_covariance is not None:
        assert effects["pe"] == ("iid", "id", None)
        expected["pe"] = spec.pe_covariance
    assert set(model.variances) == set(expected)
    for key, matrix in expected.items():
        np.testing.assert_allclose(model.variances[key], matrix, rtol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--animals", "5", "--seed", "1"], "--animals"),
        (["--animals", "ten", "--seed", "1"], "--animals"),
        (["--animals", "500", "--seed", "-2"], "--seed"),
        (["--animals", "500", "--seed", "1", "--traits", "0"], "--traits"),
        (["--animals", "500", "--seed", "1", "--h2", "1.5"], "--h2"),
        (["--animals", "500", "--seed", "1", "--records-per-animal", "0"], "--records-per-animal"),
        (["--animals", "500", "--seed", "1", "--missing-fraction", "0.5"], "--missing-fraction"),
        (["--animals", "500"], "--seed"),
    ],
)
def test_cli_bad_arguments(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and flag in err and "Traceback" not in err
    assert not (tmp_path / "x" / "pedigree.csv").exists()


def test_cli_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert main(["--animals", "200", "--seed", "1", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--records-per-animal" in capsys.readouterr().out


def test_module_entry_point_exit_code(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "henderson.simulate", "--animals", "0", "--seed", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 2 and "--animals" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- bundled example


def test_bundled_example_is_reproducible() -> None:
    readme = (EXAMPLE / "README.md").read_text()
    assert "python -m henderson.simulate --animals 3000 --seed 2026 --out resources/example" in readme
    data = simulate(SimulationSpec(n_animals=3000, seed=2026))
    assert sum(p.stat().st_size for p in EXAMPLE.rglob("*") if p.is_file()) < 1_000_000
    ped = pd.read_csv(EXAMPLE / "pedigree.csv", dtype=str, keep_default_na=False)
    assert (ped.to_numpy() == data.pedigree.astype(str).to_numpy()).all()
    ph = pd.read_csv(EXAMPLE / "phenotypes.csv", dtype={"id": str, "herd_year": str, "sex": str})
    assert (ph["id"].to_numpy() == data.phenotypes["id"].to_numpy()).all()
    np.testing.assert_allclose(ph["weaning_weight"], data.phenotypes["weaning_weight"], rtol=0, atol=1e-9)
    truth = pd.read_csv(EXAMPLE / "truth.csv", dtype={"id": str})
    np.testing.assert_allclose(truth["tbv_weaning_weight"], data.truth["tbv_weaning_weight"], atol=1e-9)
    config = yaml.safe_load((EXAMPLE / "config" / "config.yaml").read_text())
    assert config["models"]["weaning_weight"]["variances"] == {"animal": 20, "residual": 40}
