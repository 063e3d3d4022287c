"""Metafounders with Γ estimated from the genotypes, in single step, through the workflow: Γ as
the package estimates it, solutions, reliabilities and SNP effects against dense equations on
H^Γ built from the tabular A^Γ, and a REML fit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_groups_ainv import _dense_gamma
from test_metafounder_gamma import metafounder_population
from test_workflow import snakemake

from henderson.genomic.metafounder_gamma import estimate_gamma
from henderson.genotypes import load_genotypes

pytestmark = pytest.mark.workflow

SIGMA_A, SIGMA_E, BLEND = 1.0, 2.0, 0.05


def _model(**change) -> dict:
    return {"traits": ["y"], "random": {"animal": {"type": "additive", "relationship": "single_step"}},
            "genomic": {"blend": BLEND, "tune": "none", "ridge": 0.0},
            "variances": {"animal": SIGMA_A, "residual": SIGMA_E}, "estimate": "none", **change}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    work = tmp_path_factory.mktemp("metafounders")
    grouped, x, _, gen = metafounder_population(founders=(40, 30), generations=2, per_generation=60, snps=400, seed=8)
    ids = [str(i) for i in grouped.ped.ids]
    codes = np.array(grouped.groups + (None,), dtype=object)
    sire = [ids[s] if s >= 0 else codes[grouped.sire_group[i]] for i, s in enumerate(grouped.ped.sire)]
    dam = [ids[d] if d >= 0 else codes[grouped.dam_group[i]] for i, d in enumerate(grouped.ped.dam)]
    pd.DataFrame({"id": ids, "sire": sire, "dam": dam}).to_csv(work / "pedigree.csv", index=False)
    rng = np.random.default_rng(3)
    recorded = np.flatnonzero(gen > 0)
    y = 10 + 0.4 * (x[recorded].astype(float) - 1) @ rng.normal(0, 0.1, x.shape[1]) + rng.normal(0, 1.4, recorded.size)
    pd.DataFrame({"id": np.asarray(ids)[recorded], "y": y}).to_csv(work / "phenotypes.csv", index=False)
    geno = np.flatnonzero(gen > 0)
    table = pd.DataFrame(x[geno], columns=[f"snp{j}" for j in range(x.shape[1])])
    table.insert(0, "id", np.asarray(ids)[geno])
    table.to_csv(work / "genotypes.csv", index=False)
    config = {
        "pedigree": "pedigree.csv", "phenotypes": "phenotypes.csv", "genotypes": "genotypes.csv",
        "groups": {"assign": "explicit", "codes": list(grouped.groups), "metafounders": {"gamma": "estimate"}},
        "models": {"ss": _model(), "ss_reml": _model(estimate="ai")},
    }
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(work)
    return work, grouped


def test_gamma_is_estimated_from_the_clean_genotypes(evaluated):
    work, grouped = evaluated
    meta = json.loads((work / "results/relationships/ainv_groups.npz.meta.json").read_text())
    clean = load_genotypes(work / "results/clean/genotypes", mmap=False)
    want = estimate_gamma(grouped, np.asarray(clean.ids, dtype=str), clean.codes)
    np.testing.assert_allclose(meta["gamma"], want.gamma, rtol=0, atol=1e-12)
    assert meta["gamma_estimate"]["animals"] == len(clean.ids)
    report = (work / "results/ss/report.html").read_text()
    assert "Γ estimated from the genotypes" in report and "against A^Γ22" in report


def test_single_step_with_metafounders_matches_dense_equations(evaluated):
    work, grouped = evaluated
    meta = json.loads((work / "results/relationships/ainv_groups.npz.meta.json").read_text())
    gamma = np.asarray(meta["gamma"])
    g_count = grouped.n_groups
    a = _dense_gamma(grouped, gamma)  # (metafounders, animals), tabular
    names = list(grouped.groups) + [str(i) for i in grouped.ped.ids]
    clean = load_genotypes(work / "results/clean/genotypes", mmap=False)
    geno = np.array([names.index(str(i)) for i in clean.ids])
    z = np.where(clean.codes < 0, 0.0, clean.codes - 1.0)
    g = z @ z.T / (clean.codes.shape[1] / 2)
    a22 = a[np.ix_(geno, geno)]
    gstar = (1 - BLEND) * g + BLEND * a22
    hinv = np.linalg.inv(a)
    hinv[np.ix_(geno, geno)] += np.linalg.inv(gstar) - np.linalg.inv(a22)
    phen = pd.read_csv(work / "phenotypes.csv", dtype={"id": str})
    n, q = len(phen), len(names)
    w = np.zeros((n, q + 1))
    w[:, 0] = 1
    w[np.arange(n), 1 + np.array([names.index(i) for i in phen["id"]])] = 1
    lhs = w.T @ w
    lhs[1:, 1:] += hinv * SIGMA_E / SIGMA_A
    sol = np.linalg.solve(lhs, w.T @ phen["y"].to_numpy())
    table = pd.read_parquet(work / "results/ss/solutions.parquet")
    animals = table[table["effect"] == "animal"].set_index("level")
    animal_names = names[g_count:]
    np.testing.assert_allclose(animals.loc[animal_names, "estimate"].to_numpy(), sol[1 + g_count:], rtol=0, atol=1e-7)
    groups = table[table["effect"] == "group"].set_index("level")
    np.testing.assert_allclose(groups.loc[list(grouped.groups), "estimate"].to_numpy(), sol[1:1 + g_count],
                               rtol=0, atol=1e-7)
    h = np.linalg.inv(hinv)
    pev = np.diag(np.linalg.inv(lhs))[1:] * SIGMA_E
    rel = 1 - pev[g_count:] / (SIGMA_A * np.diag(h)[g_count:])
    np.testing.assert_allclose(animals.loc[animal_names, "reliability"].to_numpy(), rel, rtol=0, atol=1e-7)
    snps = pd.read_parquet(work / "results/ss/snp_effects.parquet")
    expected = z.T @ np.linalg.solve(gstar, sol[1:][geno]) / (clean.codes.shape[1] / 2)
    np.testing.assert_allclose(snps["estimate"].to_numpy(), expected, rtol=0, atol=1e-7)


def test_reml_with_metafounders_in_single_step_converges(evaluated):
    work, _ = evaluated
    vc = json.loads((work / "results/ss_reml/variance_components.json").read_text())
    assert vc["converged"] is True
    assert vc["variances"]["animal"] > 0 and vc["variances"]["residual"] > 0
    summary = json.loads((work / "results/ss_reml/mme_summary.json").read_text())
    assert summary["relationship"]["kind"] == "single_step" and summary["relationship"]["g_vs_a22"]["metafounders"]
