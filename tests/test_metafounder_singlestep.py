"""Single step with metafounders (H^Γ⁻¹ over the animals and the metafounders, G centred at ½)
against H^Γ built densely from its definition, and the evaluation of a model on it against
dense mixed model equations."""

from __future__ import annotations

import numpy as np
import pytest
from test_metafounder_gamma import metafounder_population

from henderson.errors import ConfigError
from henderson.genomic import GenomicOptions, single_step_relationship
from henderson.genomic.metafounder_gamma import estimate_gamma
from henderson.genomic.relationships import centring_frequencies
from henderson.pedigree.metafounders import ainv_metafounders
from henderson.relationship_groups import group_relationship

TOL = 1e-9  # relative to the largest entry compared


@pytest.fixture(scope="module")
def case():
    grouped, x, _, gen = metafounder_population(founders=(40, 30), generations=2, per_generation=50, snps=400, seed=4)
    rng = np.random.default_rng(2)
    geno = np.sort(np.r_[rng.choice(np.flatnonzero(gen == 1), 20, replace=False), np.flatnonzero(gen == 2)])
    codes = x[geno].copy()
    codes[rng.random(codes.shape) < 0.01] = -1
    gamma = estimate_gamma(grouped, grouped.ped.ids[geno], codes).gamma
    kinv, f, b, _ = ainv_metafounders(grouped, gamma)
    rel = group_relationship(grouped, "metafounders", kinv, f, b, gamma=gamma)
    return grouped, rel, geno, codes, gamma


def _dense_h_inverse(rel, geno, codes, blend, ridge):
    a = np.linalg.inv(rel.kinv.toarray())  # A^Γ over animals then metafounders (tested against the tabular A^Γ)
    z = np.where(codes < 0, 0.0, codes - 1.0)  # centred at ½: a missing code counts as 2p = 1
    g = z @ z.T / (codes.shape[1] / 2)
    a22 = a[np.ix_(geno, geno)]
    gstar = (1 - blend) * g + blend * a22 + ridge * np.eye(geno.size)
    hinv = rel.kinv.toarray()
    hinv[np.ix_(geno, geno)] += np.linalg.inv(gstar) - np.linalg.inv(a22)
    return hinv


@pytest.mark.parametrize(("blend", "ridge"), [(0.05, 0.0), (0.0, 0.01)])
def test_h_gamma_inverse_logdet_and_diagonal_match_dense(case, blend, ridge):
    grouped, rel, geno, codes, _ = case
    options = GenomicOptions(blend=blend, tune="none", ridge=ridge)
    h = single_step_relationship(rel, grouped.ped.ids[geno], codes, options)
    assert list(h.levels) == list(rel.levels)  # animals, then the metafounders
    assert h.groups is rel.groups
    want = _dense_h_inverse(rel, geno, codes, blend, ridge)
    scale = np.abs(want).max()
    np.testing.assert_allclose(h.kinv_matrix().toarray(), want, rtol=0, atol=TOL * scale)
    sign, logdet = np.linalg.slogdet(want)
    assert sign > 0 and h.logdet == pytest.approx(-logdet, rel=1e-10)
    np.testing.assert_allclose(h.diagonal, np.diag(np.linalg.inv(want)), rtol=0, atol=1e-9)


def test_metafounders_centre_g_at_one_half_and_refuse_tuning(case):
    grouped, rel, geno, codes, _ = case
    np.testing.assert_array_equal(centring_frequencies(rel, 7), np.full(7, 0.5))
    with pytest.raises(ConfigError, match="tune: none"):
        single_step_relationship(rel, grouped.ped.ids[geno], codes, GenomicOptions(tune="mean"))
    random_groups = group_relationship(grouped, "random", rel.kinv, np.zeros(grouped.n), np.ones(grouped.n), ratio=1.0)
    with pytest.raises(ConfigError, match="use metafounders"):
        single_step_relationship(random_groups, grouped.ped.ids[geno], codes, GenomicOptions(tune="none"))
