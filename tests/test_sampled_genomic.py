"""Sampled reliabilities for genomic relationships (henderson.reliability.genomic_draws and
sampled): draws of u ~ N(0, K) against K = the inverse of the dense K⁻¹ (G*, H with τ, ω ≠ 1 and
with metafounders, G_APY, H with APY), sampled diag(C⁻¹) against the exact selected inverse
(CHOLMOD on the merged equations), and the method `solve()` picks with PCG."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from test_genomic_data import gene_drop, simulated_pedigree
from test_metafounder_gamma import metafounder_population

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, maternal_effect
from henderson.errors import NumericalError
from henderson.genomic import (
    GenomicOptions,
    genomic_relationship,
    single_step_relationship,
)
from henderson.genomic.metafounder_gamma import estimate_gamma
from henderson.mme import Equations
from henderson.model import build_model
from henderson.pedigree import inbreeding, mendelian_variances
from henderson.pedigree.metafounders import ainv_metafounders
from henderson.relationship_groups import group_relationship
from henderson.reliability import approximate_inverse_diagonal, sampled_inverse_diagonal
from henderson.reliability.genomic_draws import genomic_draws
from henderson.reliability.links import pilot_links
from henderson.solutions import solve
from henderson.solvers import make_solver

SA, SE = 20.0, 40.0  # σ²a, σ²e


@pytest.fixture(scope="module")
def population():
    """500 animals of a simulated pedigree (inbred), 150 genotyped (100 of the youngest, 50
    older), 400 SNPs dropped through the pedigree."""
    ped = simulated_pedigree(500, 5, max_sires=6, sire_fraction=0.02)
    rng = np.random.default_rng(2)
    geno = np.sort(np.r_[rng.choice(np.arange(50, 400), 50, replace=False), np.arange(400, 500)])
    codes = gene_drop(ped, 400, 3, missing=0.01)[geno]
    return ped, geno, codes


def _relationship(population, name: str):
    ped, geno, codes = population
    ids = ped.ids[geno]
    if name == "gblup":
        return genomic_relationship(ids, codes, GenomicOptions(blend=0.05), pedigree=ped)
    if name == "gblup_apy":
        return genomic_relationship(ids, codes, GenomicOptions(blend=0.05, apy="always", apy_core=40), pedigree=ped)
    if name == "single_step":
        return single_step_relationship(ped, ids, codes, GenomicOptions())
    if name == "single_step_tau_omega":
        return single_step_relationship(ped, ids, codes, GenomicOptions(tau=1.3, omega=0.7))
    if name == "single_step_rough_diagonal":  # diag(H) of the ungenotyped animals taken as 1 + F
        return single_step_relationship(ped, ids, codes, GenomicOptions(max_factor_entries=10))
    if name == "single_step_apy":
        return single_step_relationship(ped, ids, codes, GenomicOptions(apy="always", apy_core=40))
    raise AssertionError(name)


def _metafounder_relationship():
    """H^Γ over 130 animals and 2 metafounders (as tests/test_metafounder_singlestep.py)."""
    grouped, x, _, gen = metafounder_population(founders=(40, 30), generations=2, per_generation=30, snps=400,
                                                seed=4)
    rng = np.random.default_rng(2)
    geno = np.sort(np.r_[rng.choice(np.flatnonzero(gen == 1), 15, replace=False), np.flatnonzero(gen == 2)])
    codes = x[geno]
    gamma = estimate_gamma(grouped, grouped.ped.ids[geno], codes).gamma
    kinv, f, b, _ = ainv_metafounders(grouped, gamma)
    pedigree = group_relationship(grouped, "metafounders", kinv, f, b, gamma=gamma)
    return single_step_relationship(pedigree, grouped.ped.ids[geno], codes, GenomicOptions(tune="none", ridge=0.01))


KINDS = ["gblup", "gblup_apy", "single_step", "single_step_tau_omega", "single_step_apy", "metafounders"]


@pytest.mark.parametrize("name", KINDS)
def test_draws_follow_the_k_that_k_inverse_implies(population, name):
    """u = B z with B from the draws of the identity: B B' equals K = (dense K⁻¹)⁻¹ to 1e-9
    (relative to max |K|), an exact identity since the draw is linear in z. And 4,000 draws: the
    sample covariance S against K entry by entry, z_ij = (S_ij − K_ij) / √((K_ii K_jj + K_ij²)/n)
    (the SE of a sample covariance of normal variables with known mean 0): |z| < 5.5 everywhere
    (q² ≤ 250,000 entries, each about N(0, 1): P(any |z| > 5.5) < 0.01 by the union bound). The
    z_ij are correlated (relatives), so their mean square is checked after whitening with the
    dense Cholesky factor of K (w = C⁻¹u, C C' = K: Cov w = I, sample covariance entries nearly
    independent): mean z² over the q(q + 1)/2 ≥ 8,000 entries within 0.06 of 1 (its SD ≈
    √(2/8,000) = 0.016)."""
    rel = _metafounder_relationship() if name == "metafounders" else _relationship(population, name)
    k = np.linalg.inv(rel.kinv_matrix().toarray())
    draws = genomic_draws(rel)
    b = draws.draw(np.eye(rel.q))
    np.testing.assert_allclose(b @ b.T, k, rtol=0, atol=1e-9 * np.abs(k).max())
    n = 4000
    u = draws.draw(np.random.default_rng(7).standard_normal((rel.q, n)))
    s = u @ u.T / n
    d = np.diag(k)
    z = (s - k) / np.sqrt((np.outer(d, d) + k**2) / n)
    assert np.abs(z).max() < 5.5, name
    w = np.linalg.solve(np.linalg.cholesky(k), u)
    sw = w @ w.T / n
    zw = (sw - np.eye(rel.q)) / np.sqrt((1.0 + np.eye(rel.q)) / n)
    assert abs(np.mean(zw[np.triu_indices(rel.q)] ** 2) - 1.0) < 0.06, name


def _model(population, name: str, *, traits: int = 1, maternal: bool = False):
    """y on a herd effect (6 herds) and the animal; 320 records: every genotyped animal but 30 of
    the youngest (predicted only) and, for single step, 200 ungenotyped ones. `traits` = 2: a
    second trait missing on a third of the records; `maternal`: a maternal effect of the dam
    (known for most records) in the same term. G0 and R0 with correlations 0.3 and 0.4."""
    ped, geno, _ = population
    rel = _relationship(population, name)
    rng = np.random.default_rng(4)
    rows = list(geno[:-30])
    if rel.kind == "single_step":
        rows += list(rng.choice(np.setdiff1d(np.arange(ped.n), geno), 200, replace=False))
    rows = np.asarray(rows)
    names = [f"y{j}" for j in range(traits)] if traits > 1 else ["y"]
    records = pd.DataFrame({"id": ped.ids[rows], "herd": [f"h{h}" for h in rng.integers(0, 6, rows.size)]})
    for j, trait in enumerate(names):
        records[trait] = np.where((j > 0) & (rng.random(rows.size) < 1 / 3), np.nan, rng.normal(size=rows.size))
    effects = [additive_effect("animal", records["id"], rel)]
    if maternal:
        records["dam"] = [ped.ids[d] if d >= 0 else None for d in ped.dam[rows]]
        effects.append(maternal_effect("dam", records["dam"], rel))
    model = build_model(records, names, (("herd",), ()), [effects])
    k, t = len(effects) * traits, traits
    g0 = SA * (0.7 * np.eye(k) + 0.3)
    return model, VarianceComponents(model.layout, (g0,), SE * (0.6 * np.eye(t) + 0.4))


def _diagonal(model, vc, solver: str, samples: int = 0):
    eq = Equations(model)
    s = make_solver(solver, eq, **({"tol": 1e-10, "log_every": 0} if solver == "pcg" else {}))
    s.update(eq.assemble(eq.coefficients(vc)))
    if not samples:
        return s.inverse_diagonal()
    return sampled_inverse_diagonal(model, vc, eq, s, samples=samples, seed=11)


@pytest.mark.parametrize(("name", "options"), [
    ("gblup", {}), ("single_step", {}), ("single_step_apy", {}), ("single_step_tau_omega", {}),
    ("gblup", {"traits": 2}), ("single_step", {"maternal": True}), ("single_step_rough_diagonal", {}),
])
def test_sampled_pev_is_within_its_monte_carlo_se_of_the_exact(population, name, options):
    """GBLUP, single step (also APY, τ = 1.3 and ω = 0.7), two-trait GBLUP and maternal single step
    (G0 k × k: u = (K^½ ⊗ G0^½) z), and single step with diag(H) approximated by 1 + F for the
    ungenotyped animals (PEV₁ alone, which does not use it). 300 samples solved by PCG (tolerance 1e-10), seed 11, against
    the exact diag(C⁻¹) of the same equations by CHOLMOD (the dense block merged): z = (sampled − exact) / MC SE over every
    unknown has SD in [0.8, 1.25] and ≥ 97 % within 3 MC SE (as for the pedigree in
    tests/test_reliability_sampled.py), and |mean| ≤ 0.5: G* relates every genotyped animal, so
    the levels' errors are correlated and their mean z varies more than for a pedigree (SD 0.17
    to 0.23 over 20 seeds for GBLUP, single step and APY here, largest |mean| 0.45). Levels
    without any spread (ungenotyped, unrelated to the data: û* = 0) equal the prior exactly."""
    model, vc = _model(population, name, **options)
    exact = _diagonal(model, vc, "cholesky")
    sampled = _diagonal(model, vc, "pcg", samples=300)
    spread = sampled.mc_se > 0
    np.testing.assert_allclose(sampled.diagonal[~spread], exact[~spread], rtol=1e-8)
    z = (sampled.diagonal - exact)[spread] / sampled.mc_se[spread]
    assert abs(z.mean()) <= 0.5, (name, options, z.mean())
    assert 0.8 <= z.std() <= 1.25, (name, options, z.std())
    assert np.mean(np.abs(z) < 3) >= 0.97, (name, options)


def test_solve_on_pcg_samples_single_step_reliabilities(population, caplog):
    """solve() with PCG on a single-step model: `auto` and `approximate` give sampled
    reliabilities (approximate ones do not exist for H: the log and the summary's reason say
    so), within 3 MC SE of the exact ones of solve() with Cholesky for 97 % of the animals;
    the approximation itself still refuses H."""
    model, vc = _model(population, "single_step")
    exact = solve(model, vc, solver="cholesky")
    assert exact.solver["reliability"] == {"method": "exact"}
    with caplog.at_level(logging.INFO, logger="henderson"):
        auto = solve(model, vc, solver="pcg", samples=100, tol=1e-10)
    info = auto.solver["reliability"]
    assert info["method"] == "sampled" and info["samples"] == 100
    assert "not available for the genomic relationship of animal" in info["reason"]
    assert "approximate reliabilities are not available for the genomic relationship of animal" in caplog.text
    rows = exact.table["reliability"].notna()
    assert auto.table["reliability"][rows].notna().all()
    spread = rows & (auto.table["reliability_mc_se"] > 0)
    z = ((auto.table["reliability"] - exact.table["reliability"]) / auto.table["reliability_mc_se"])[spread]
    assert np.mean(np.abs(z) < 3) >= 0.97
    approx = solve(model, vc, solver="pcg", reliability="approximate", samples=20, tol=1e-10)
    assert approx.solver["reliability"]["method"] == "sampled" and "reason" in approx.solver["reliability"]
    with pytest.raises(NumericalError, match="genomic"):
        approximate_inverse_diagonal(model, vc)


def test_the_pilot_reads_single_steps_pedigree_from_its_sparse_part(population):
    """The pilot of the sampled weights (no estimate of its own): single step's sparse part of
    H⁻¹ is A⁻¹, whose parents and Mendelian-sampling variances it reads back exactly; GBLUP's
    levels get no parents and b = diag(G*)."""
    ped, _, _ = population
    links = pilot_links(_relationship(population, "single_step"))
    parents = np.sort(np.c_[links.sire, links.dam], axis=1)  # which parent is which is not in A⁻¹
    np.testing.assert_array_equal(parents, np.sort(np.c_[ped.sire, ped.dam], axis=1))
    np.testing.assert_allclose(links.b, mendelian_variances(ped, inbreeding(ped)), rtol=1e-10)
    gblup = _relationship(population, "gblup")
    links = pilot_links(gblup)
    assert np.all(links.sire < 0) and np.all(links.dam < 0)
    np.testing.assert_allclose(links.b, gblup.diagonal, rtol=0)
