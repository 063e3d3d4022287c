"""GBLUP of Mrode (3rd ed., 2014) chapter 11 (Table 11.1 data): G's column for bull 13 (p.186),
μ and the DGV (p.185) and the SNP effects back-solved from them, through the package's model and
solve path; and GBLUP = SNP-BLUP (the equivalent marker model) on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_genomic_data import MRODE

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect
from henderson.genomic import (
    GenomicOptions,
    genomic_relationship,
    snp_effects,
    vanraden_g,
)
from henderson.model import build_model
from henderson.solutions import solve

# Mrode (3rd ed.) chapter 11, printed to 3 decimals
G_BULL_13 = [1.472, -0.446, 0.988, 0.059, 0.685, -0.163, -0.708, -0.547, 0.887, -0.789, -0.203, -0.143, -0.829, -0.264]
MU = 9.944
DGV = [0.069, 0.116, 0.049, 0.260, -0.500, -0.359, 0.146, -0.231, 0.028, 0.115, -0.240, 0.143, 0.054, 0.353]
SNP = [0.087, -0.311, 0.262, -0.080, 0.110, 0.139, 0.000, 0.001, -0.061, -0.016]


def _gblup(records: pd.DataFrame, rel, trait: str, sigma_a: float, sigma_e: float) -> pd.DataFrame:
    model = build_model(records, [trait], ((), ()), [additive_effect("animal", records["id"], rel)])
    components = VarianceComponents.from_named(model.layout, {"animal": sigma_a, "residual": sigma_e})
    return solve(model, components).table


def test_mrode_chapter_11_gblup():
    genotypes = pd.read_csv(MRODE / "genotypes.csv", dtype={"id": str})
    phen = pd.read_csv(MRODE / "phenotypes.csv", dtype={"id": str})
    ids, codes = genotypes["id"], genotypes.drop(columns="id").to_numpy(np.int8)
    vr = vanraden_g(codes)
    assert vr.scale == pytest.approx(3.5383, abs=5e-5)
    np.testing.assert_allclose(vr.g[:, 0], G_BULL_13, rtol=0, atol=5e-4)
    rel = genomic_relationship(ids, codes, GenomicOptions(blend=0.0, ridge=0.01))
    reference = phen[phen["set"] == "reference"].reset_index(drop=True)
    table = _gblup(reference, rel, "fat_dyd", 35.241, 245.0)
    assert table.query("effect == 'mean'")["estimate"].item() == pytest.approx(MU, abs=2e-3)
    dgv = table[table["effect"] == "animal"].set_index("level")["estimate"]
    # the book worked from rounded intermediates: ±0.002
    np.testing.assert_allclose(dgv.reindex(ids).to_numpy(), DGV, rtol=0, atol=2e-3)
    g = snp_effects(codes, dgv, rel, snp_names=genotypes.columns[1:])
    assert list(g["snp"]) == [f"snp{j}" for j in range(1, 11)]
    np.testing.assert_allclose(g["estimate"], SNP, rtol=0, atol=2e-3)


def test_gblup_equals_snp_blup():
    """y = 1μ + a + e with a ~ N(0, G σ²a), G = ZZ'/s, equals y = 1μ + Z g + e with
    g ~ N(0, I σ²a/s): â = Z ĝ, and the back-solved SNP effects are ĝ. Base-population
    frequencies are given (with frequencies from the data Z'1 = 0 and G is singular)."""
    rng = np.random.default_rng(3)
    n, m = 60, 150
    p_true = rng.uniform(0.1, 0.9, m)
    codes = rng.binomial(2, p_true, size=(n, m)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.02] = -1
    ids = pd.Series([f"g{i:03d}" for i in range(n)])
    p = p_true
    z = np.where(codes < 0, 0.0, codes - 2 * p)
    s = 2 * np.sum(p * (1 - p))
    beta = rng.normal(0, 0.3, m)
    records = pd.DataFrame({"id": ids, "y": 5 + z @ beta + rng.normal(0, 1.0, n)})
    sigma_a, sigma_e = 2.0, 3.0
    rel = genomic_relationship(ids, codes, GenomicOptions(blend=0.0), frequencies=p)  # PD: n < m
    table = _gblup(records, rel, "y", sigma_a, sigma_e)
    gebv = table[table["effect"] == "animal"].set_index("level")["estimate"].reindex(ids)
    # SNP-BLUP, dense: [1'1 1'Z; Z'1 Z'Z + I σ²e s/σ²a] [μ; g] = [1'y; Z'y]
    x = np.column_stack([np.ones(n), z])
    lhs = x.T @ x
    lhs[1:, 1:] += np.eye(m) * sigma_e * s / sigma_a
    sol = np.linalg.solve(lhs, x.T @ records["y"].to_numpy())
    assert table.query("effect == 'mean'")["estimate"].item() == pytest.approx(sol[0], abs=1e-9)
    np.testing.assert_allclose(gebv.to_numpy(), z @ sol[1:], rtol=0, atol=1e-9)
    g = snp_effects(codes, gebv, rel, frequencies=p)
    np.testing.assert_allclose(g["estimate"], sol[1:], rtol=0, atol=1e-8)
