"""GBLUP and ssGBLUP through the workflow on Mrode (3rd ed.) chapter 11 data: the printed μ, DGV
and SNP effects (GBLUP), and ssGBLUP against dense equations with H built from dense A and G*."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "mrode_11_3_gblup"  # Mrode (2014) chapter 11, source in its README.md

pytestmark = pytest.mark.workflow

# Mrode (2014), chapter 11: GBLUP DGV of bulls 13..26 (p.185), μ, SNP effects back-solved (±0.002)
DGV = [0.069, 0.116, 0.049, 0.260, -0.500, -0.359, 0.146, -0.231, 0.028, 0.115, -0.240, 0.143, 0.054, 0.353]
MU = 9.944
SNP = [0.087, -0.311, 0.262, -0.080, 0.110, 0.139, 0.000, 0.001, -0.061, -0.016]
SIGMA_A, SIGMA_E = 35.241, 245.0


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def reference_only(path: Path) -> pd.DataFrame:
    """The book's records: the candidates (bulls 21..26) are predicted only (no response)."""
    phen = pd.read_csv(path, dtype={"id": str})
    phen.loc[phen["set"] != "reference", "fat_dyd"] = np.nan
    return phen


def write_config(workdir: Path, models: dict) -> None:
    for name in ("pedigree.csv", "genotypes.csv"):
        shutil.copy(DATA / name, workdir / name)
    reference_only(DATA / "phenotypes.csv").to_csv(workdir / "phenotypes.csv", index=False)
    config = {
        "pedigree": "pedigree.csv",
        "phenotypes": "phenotypes.csv",
        "genotypes": "genotypes.csv",
        # the book keeps every SNP (SNP 8 has a minor allele frequency of 0.036)
        "genotype_qc": {"min_maf": 0.0},
        "models": models,
    }
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def model(relationship: str) -> dict:
    return {
        "traits": ["fat_dyd"],
        "random": {"animal": {"type": "additive", "relationship": relationship}},
        "genomic": {"blend": 0.0, "tune": "none", "ridge": 0.01},
        "variances": {"animal": SIGMA_A, "residual": SIGMA_E},
        "estimate": "none",
    }


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("genomic")
    blup = {"traits": ["fat_dyd"], "random": {"animal": "additive"},
            "variances": {"animal": SIGMA_A, "residual": SIGMA_E}, "estimate": "none"}
    pcg = {**model("single_step"), "solver": "pcg", "pcg": {"tolerance": 1e-12}}
    write_config(workdir, {"gblup": model("genomic"), "ssgblup": model("single_step"), "blup": blup,
                           "ssgblup_pcg": pcg})
    snakemake(workdir)
    return workdir


def test_gblup_reproduces_mrode(evaluated: Path) -> None:
    table = pd.read_parquet(evaluated / "results" / "gblup" / "solutions.parquet")
    animals = table[table["effect"] == "animal"].set_index("level")
    dgv = animals.loc[[str(i) for i in range(13, 27)], "estimate"].to_numpy()
    np.testing.assert_allclose(dgv, DGV, atol=2e-3)
    mean = table.loc[table["effect"] == "mean", "estimate"].to_numpy()
    np.testing.assert_allclose(mean, [MU], atol=2e-3)
    # only the genotyped bulls are levels of a genomic relationship
    assert len(animals) == 14
    snps = pd.read_parquet(evaluated / "results" / "gblup" / "snp_effects.parquet")
    assert list(snps["snp"]) == [f"snp{i}" for i in range(1, 11)]
    np.testing.assert_allclose(snps["estimate"].to_numpy(), SNP, atol=2e-3)
    summary = pd.read_json(evaluated / "results" / "gblup" / "mme_summary.json", typ="series")
    assert summary["relationship"]["kind"] == "genomic" and summary["relationship"]["genotyped"] == 14


def tabular_a(ped: pd.DataFrame) -> np.ndarray:
    """Dense A by the tabular method (parents listed before offspring)."""
    ids = list(ped["id"].astype(str))
    pos = {v: k for k, v in enumerate(ids)}
    n = len(ids)
    a = np.zeros((n, n))
    for i, (s, d) in enumerate(zip(ped["sire"].astype(str), ped["dam"].astype(str))):
        s, d = pos.get(s), pos.get(d)
        for j in range(i):
            a[i, j] = a[j, i] = 0.5 * ((a[j, s] if s is not None else 0) + (a[j, d] if d is not None else 0))
        a[i, i] = 1 + (0.5 * a[s, d] if s is not None and d is not None else 0)
    return a


def dense_a_and_g():
    """Dense A (tabular), the pedigree IDs, the genotyped animals' positions among them, Z = M − 2p,
    p and VanRaden's G (no ridge) of the book's data."""
    ped = pd.read_csv(DATA / "pedigree.csv", dtype=str)
    ids = list(ped["id"])
    geno = pd.read_csv(DATA / "genotypes.csv", dtype={"id": str}).set_index("id")
    m = geno.to_numpy(dtype=float)
    p = m.mean(axis=0) / 2
    z = m - 2 * p
    two = np.array([ids.index(i) for i in geno.index])
    return tabular_a(ped), ids, two, z, p, z @ z.T / (2 * np.sum(p * (1 - p)))


def test_ssgblup_matches_dense_equations(evaluated: Path) -> None:
    a, ids, two, z, p, g = dense_a_and_g()
    g = g + 0.01 * np.eye(len(two))
    one = np.setdiff1d(np.arange(len(ids)), two)
    # H (Legarra et al. 2009): A with the genotyped block replaced by G and its regression on A
    a11, a12, a22 = a[np.ix_(one, one)], a[np.ix_(one, two)], a[np.ix_(two, two)]
    b = a12 @ np.linalg.inv(a22)
    h = np.zeros_like(a)
    h[np.ix_(one, one)] = a11 + b @ (g - a22) @ b.T
    h[np.ix_(one, two)] = b @ g
    h[np.ix_(two, one)] = (b @ g).T
    h[np.ix_(two, two)] = g
    phen = reference_only(DATA / "phenotypes.csv").dropna(subset=["fat_dyd"])
    n, q = len(phen), len(ids)
    x = np.ones((n, 1))
    zm = np.zeros((n, q))
    zm[np.arange(n), [ids.index(i) for i in phen["id"]]] = 1
    w = np.hstack([x, zm])
    lhs = w.T @ w
    lhs[1:, 1:] += np.linalg.inv(h) * SIGMA_E / SIGMA_A
    sol = np.linalg.solve(lhs, w.T @ phen["fat_dyd"].to_numpy())
    table = pd.read_parquet(evaluated / "results" / "ssgblup" / "solutions.parquet")
    animals = table[table["effect"] == "animal"].set_index("level")
    np.testing.assert_allclose(animals.loc[ids, "estimate"].to_numpy(), sol[1:], atol=1e-7)
    np.testing.assert_allclose(table.loc[table["effect"] == "mean", "estimate"], [sol[0]], atol=1e-7)
    # PEV from the same dense equations: reliabilities 1 − PEV/(σ²a H_ii)
    pev = np.diag(np.linalg.inv(lhs))[1:] * SIGMA_E
    np.testing.assert_allclose(animals.loc[ids, "reliability"].to_numpy(), 1 - pev / (SIGMA_A * np.diag(h)),
                               atol=1e-7)
    snps = pd.read_parquet(evaluated / "results" / "ssgblup" / "snp_effects.parquet")
    expected = z.T @ np.linalg.solve(g, sol[1:][two]) / (2 * np.sum(p * (1 - p)))
    np.testing.assert_allclose(snps["estimate"].to_numpy(), expected, atol=1e-7)


def test_ssgblup_by_pcg_applies_the_genotyped_block_as_an_operator(evaluated: Path) -> None:
    """`solver: pcg` on a single-step model: the genotyped block stays out of the coefficient
    matrix (mme_summary.json and the log say so) and the solutions equal the exact ones. Its
    reliabilities (`reliability: auto`) are sampled, as H has no approximation (200 samples,
    the summary's reason says why): every animal has one, within 3 Monte Carlo SE of the exact
    ones of the Cholesky run for at least 24 of the 26 animals."""
    import json

    def animals(name: str) -> pd.Series:
        table = pd.read_parquet(evaluated / "results" / name / "solutions.parquet")
        return table.set_index(["effect", "level"])["estimate"]

    exact, pcg = animals("ssgblup"), animals("ssgblup_pcg")
    np.testing.assert_allclose(pcg.reindex(exact.index).to_numpy(), exact.to_numpy(), rtol=0,
                               atol=1e-6 * exact.abs().max())
    summary = json.loads((evaluated / "results" / "ssgblup_pcg" / "mme_summary.json").read_text())
    assert summary["solver"]["name"] == "pcg"
    assert [b["levels"] for b in summary["solver"]["dense_blocks"]] == [14]
    assert "dense_blocks" not in json.loads((evaluated / "results" / "ssgblup" / "mme_summary.json").read_text())["solver"]
    logs = "".join(p.read_text() for p in (evaluated / "logs" / "ssgblup_pcg").glob("*.log"))
    assert "genomic block of animal is applied as an operator in the PCG products" in logs
    reliability = summary["solver"]["reliability"]
    assert reliability["method"] == "sampled" and reliability["samples"] == 200
    assert "not available for the genomic relationship of animal" in reliability["reason"]

    def rows(name: str) -> pd.DataFrame:
        table = pd.read_parquet(evaluated / "results" / name / "solutions.parquet")
        return table[table["effect"] == "animal"].set_index("level")

    exact, sampled = rows("ssgblup"), rows("ssgblup_pcg").reindex(rows("ssgblup").index)
    assert len(sampled) == 26 and sampled["reliability"].notna().all()
    z = (sampled["reliability"] - exact["reliability"]) / sampled["reliability_mc_se"]
    assert np.sum(np.abs(z.to_numpy()) < 3) >= 24
    animals_table = pd.read_parquet(evaluated / "results" / "ssgblup_pcg" / "animals.parquet")
    assert animals_table["reliability_animal"].notna().all()


def test_gblup_without_genotypes_is_a_config_error(tmp_path: Path) -> None:
    write_config(tmp_path, {"gblup": model("genomic")})
    config = yaml.safe_load((tmp_path / "config" / "config.yaml").read_text())
    del config["genotypes"]
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "-n"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0
    assert "needs genotypes; set `genotypes:`" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_g_against_a22_and_the_report(evaluated: Path) -> None:
    """mme_summary.json's G-against-A22 figures against dense G and A22; the report's genomic
    tables (genotype QC, relationship, GEBV against the pedigree model's EBV)."""
    import json

    a, _, two, _, _, g = dense_a_and_g()
    a22 = a[np.ix_(two, two)]
    off = ~np.eye(len(two), dtype=bool)
    slope = np.polyfit(a22[off], g[off], 1)[0]
    cmp = json.loads((evaluated / "results" / "gblup" / "mme_summary.json").read_text())["relationship"]["g_vs_a22"]
    assert cmp["animals"] == 14 and not cmp["sampled"]
    assert cmp["mean_diagonal_g"] == pytest.approx(np.diag(g).mean(), abs=1e-12)
    assert cmp["mean_diagonal_a22"] == pytest.approx(np.diag(a22).mean(), abs=1e-12)
    assert cmp["mean_offdiagonal_g"] == pytest.approx(g[off].mean(), abs=1e-12)
    assert cmp["regression_slope"] == pytest.approx(slope, abs=1e-10)
    assert cmp["correlation_offdiagonal"] == pytest.approx(np.corrcoef(a22[off], g[off])[0, 1], abs=1e-10)
    html = (evaluated / "results" / "ssgblup" / "report.html").read_text()
    for caption in ("Genotypes and genomic relationships", "G (VanRaden, before blending) against A22",
                    "GEBV against the EBV of model blup"):
        assert caption in html
    assert "Removed by the genotype QC" not in html  # the book's data pass every check (min_maf 0)
    assert "Genotypes and genomic relationships" in (evaluated / "results" / "blup" / "report.html").read_text()


def test_records_left_out_of_gblup_reach_the_top_of_the_report(tmp_path: Path) -> None:
    """A record of an animal without genotypes is left out of GBLUP: the log, mme_summary.json
    and the report's opening warnings say how many and which."""
    import json

    write_config(tmp_path, {"gblup": model("genomic")})
    phen = pd.read_csv(tmp_path / "phenotypes.csv", dtype={"id": str})
    extra = pd.DataFrame({"id": ["5"], "fat_dyd": [8.5], "edc": [40], "set": ["reference"]})
    pd.concat([phen, extra]).to_csv(tmp_path / "phenotypes.csv", index=False)
    snakemake(tmp_path)
    summary = json.loads((tmp_path / "results" / "gblup" / "mme_summary.json").read_text())
    assert summary["records"] == 8
    message = "1 of 9 records are of animals without genotypes ('5')"
    assert any(message in w for w in summary["relationship"]["warnings"])
    html = (tmp_path / "results" / "gblup" / "report.html").read_text()
    banner = html[html.index('<div class="warning banner"') : html.index('<section id="model">')]
    assert message.replace("'", "&#39;") in banner
