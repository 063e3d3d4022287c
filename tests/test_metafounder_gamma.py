"""Γ of metafounders estimated from genotypes (henderson.genomic.metafounder_gamma): exact base
frequencies where the oracle is a plain average or a per-SNP least squares, the formula's scale
against G centred at ½, and the estimate against the Γ of the simulated base frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from henderson.errors import InputError
from henderson.genomic.metafounder_gamma import (
    base_frequencies,
    estimate_gamma,
    gamma_of_frequencies,
)
from henderson.pedigree import sort_pedigree
from henderson.pedigree.ainv_groups import GroupedPedigree, group_contributions


def metafounder_population(founders=(300, 300), generations=2, per_generation=600, snps=2000, seed=1,
                           spread=0.15):
    """Founders of each group with unknown parents in their group (base frequencies p_k, the
    groups' p differing by N(0, spread²) around a common U(0.05, 0.95)), then random mating
    across the males and the females of the previous generation. Returns (GroupedPedigree, haplotype-sum
    genotypes (n × snps) int8 in pedigree order, true base frequencies (snps × G), generation (n,))."""
    rng = np.random.default_rng(seed)
    g = len(founders)
    common = rng.uniform(0.05, 0.95, snps)
    p = np.clip(common[:, None] + rng.normal(0, spread, (snps, g)), 0.01, 0.99)
    ids, sires, dams, groups, gen, haps = [], [], [], [], [], []
    for k, count in enumerate(founders):
        for _ in range(count):
            ids.append(f"F{len(ids)}")
            sires.append(None)
            dams.append(None)
            groups.append(k)
            gen.append(0)
            haps.append((rng.random((2, snps)) < p[:, k]).astype(np.int8))
    previous = list(range(len(ids)))
    for t in range(1, generations + 1):
        current = []
        for _ in range(per_generation):
            s = rng.choice(previous[0::2])  # even positions are males, odd ones females
            d = rng.choice(previous[1::2])
            pick = rng.integers(0, 2, (2, snps))
            hap = np.stack([haps[s][pick[0], np.arange(snps)], haps[d][pick[1], np.arange(snps)]])
            current.append(len(ids))
            ids.append(f"A{len(ids)}")
            sires.append(ids[s])
            dams.append(ids[d])
            groups.append(-1)
            gen.append(t)
            haps.append(hap)
        previous = current
    ped = sort_pedigree(ids, sires, dams)
    order = {v: i for i, v in enumerate(ids)}
    pos = np.array([order[i] for i in ped.ids])
    grp = np.array(groups)[pos]
    grouped = GroupedPedigree(ped, tuple(f"M{k}" for k in range(g)), grp, grp)
    genotypes = np.array([haps[i].sum(axis=0) for i in pos], dtype=np.int8)
    return grouped, genotypes, p, np.array(gen)[pos]


def test_gamma_scale_matches_g_centred_at_one_half():
    """E[G_ij] = γ for two base animals of one metafounder with G = (X − 1)(X − 1)'/(m/2)."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.02, 0.98, (20000, 1))
    x = (rng.random((2, 20000)) < p[:, 0]).astype(int) + (rng.random((2, 20000)) < p[:, 0]).astype(int)
    z = x - 1.0
    g = z @ z.T / (20000 / 2)
    gamma = gamma_of_frequencies(p)[0, 0]
    assert g[0, 1] == pytest.approx(gamma, abs=0.02)  # sampling error of one pair over 20k SNPs ~0.007
    assert np.mean(np.diag(g)) == pytest.approx(1 + gamma / 2, abs=0.02)


def test_founders_only_give_the_group_allele_frequencies_exactly():
    grouped, x, _, gen = metafounder_population(founders=(50, 80), generations=1, per_generation=10, snps=300)
    founders = np.flatnonzero(gen == 0)
    codes = x[founders].copy()
    rng = np.random.default_rng(0)
    codes[rng.random(codes.shape) < 0.05] = -1
    est = estimate_gamma(grouped, grouped.ped.ids[founders], codes)
    group = grouped.sire_group[founders]
    for k in range(2):
        block = codes[group == k].astype(float)
        block[block < 0] = np.nan
        np.testing.assert_allclose(est.frequencies[:, k], np.nanmean(block, axis=0) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(est.gamma, gamma_of_frequencies(est.frequencies), rtol=0, atol=1e-14)
    assert est.animals == founders.size and est.left_out == 0


def test_base_frequencies_with_missing_genotypes_match_per_snp_least_squares():
    rng = np.random.default_rng(5)
    q = rng.dirichlet([1.0, 1.0, 1.0], 200)
    codes = rng.integers(0, 3, (200, 40)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.1] = -1
    p, var = base_frequencies(q, codes, block_bytes=8 * 200 * 3 * 7)  # several blocks of SNPs
    for j in range(codes.shape[1]):
        rows = codes[:, j] >= 0
        want, *_ = np.linalg.lstsq(q[rows], codes[rows, j] / 2.0, rcond=None)
        np.testing.assert_allclose(p[j], np.clip(want, 0, 1), rtol=0, atol=1e-10)
        resid = codes[rows, j] / 2.0 - q[rows] @ want
        assert var[j] == pytest.approx(resid @ resid / (rows.sum() - 3), rel=1e-9)


def test_gamma_from_crossbred_descendants_recovers_the_simulated_base():
    """Only the animals of generations 1–2 (mixtures of both metafounders) are genotyped."""
    grouped, x, p, gen = metafounder_population(snps=3000, per_generation=800)
    young = np.flatnonzero(gen > 0)
    est = estimate_gamma(grouped, grouped.ped.ids[young], x[young])
    truth = gamma_of_frequencies(p)
    q = group_contributions(grouped, np.eye(2))[young]
    assert np.allclose(q.sum(axis=1), 1)
    # ~800 gene equivalents per group: the reported upward bias of γ_kk is about 0.0015, and
    # the estimate is within 0.015 (10 such units) of the Γ of the simulated base frequencies
    assert np.all(est.noise > 0) and np.all(est.noise < 0.005)
    np.testing.assert_allclose(est.gamma, truth, rtol=0, atol=0.015)
    assert est.gamma[0, 1] < min(est.gamma[0, 0], est.gamma[1, 1])  # the groups differ
    assert est.snps == 3000 and est.animals == young.size


def test_gamma_cannot_be_estimated_without_descendants_or_with_collinear_groups():
    grouped, x, _, gen = metafounder_population(founders=(40, 40), generations=1, per_generation=20, snps=200)
    founders0 = np.flatnonzero((gen == 0) & (grouped.sire_group == 0))
    with pytest.raises(InputError, match=r"metafounder\(s\) \['M1'\] have no genotyped descendant"):
        estimate_gamma(grouped, grouped.ped.ids[founders0], x[founders0])
    # a third metafounder that never appears is reported as well
    three = GroupedPedigree(grouped.ped, ("M0", "M1", "M2"), grouped.sire_group, grouped.dam_group)
    every = np.arange(grouped.n)
    with pytest.raises(InputError, match=r"\['M2'\]"):
        estimate_gamma(three, grouped.ped.ids[every], x[every])
    # every genotyped animal a half-half cross: Q'Q singular
    crosses = np.flatnonzero(gen == 1)
    q = group_contributions(grouped, np.eye(2))[crosses]
    half = crosses[np.all(np.isclose(q, 0.5), axis=1)]
    assert half.size >= 2
    with pytest.raises(InputError, match="cannot tell"):
        estimate_gamma(grouped, grouped.ped.ids[half], x[half])


def test_animals_outside_the_pedigree_are_left_out():
    grouped, x, _, _ = metafounder_population(founders=(60, 60), generations=1, per_generation=30, snps=200)
    ids = np.r_[grouped.ped.ids, ["stranger"]]
    codes = np.vstack([x, x[:1]])
    est = estimate_gamma(grouped, ids, codes)
    assert est.left_out == 1 and est.animals == grouped.n


def test_a_snp_missing_on_every_descendant_of_a_metafounder_is_left_out():
    rng = np.random.default_rng(9)
    q = np.hstack([rng.dirichlet([1.0, 1.0], 50), np.zeros((50, 1))])
    q = np.vstack([q, [[0.0, 0.0, 1.0]] * 3])  # the third metafounder: three pure animals
    codes = rng.integers(0, 3, (53, 6)).astype(np.int8)
    codes[50:, 2] = -1  # SNP 2 unknown on all of them
    p, var = base_frequencies(q, codes)
    assert np.isnan(p[2]).all() and np.isnan(var[2])
    assert not np.isnan(np.delete(p, 2, axis=0)).any()
    np.testing.assert_allclose(gamma_of_frequencies(p), gamma_of_frequencies(np.delete(p, 2, axis=0)), atol=1e-15)


def test_a_metafounder_with_few_genotyped_descendants_is_warned_about():
    grouped, x, _, _ = metafounder_population(founders=(200, 4), generations=1, per_generation=100, snps=1000)
    est = estimate_gamma(grouped, grouped.ped.ids, x)
    assert est.gene_equivalents[1] < 60 < est.gene_equivalents[0]
    assert len(est.warnings) == 1 and "metafounder M1 rests on" in est.warnings[0]
    assert est.summary(grouped.groups)["warnings"] == list(est.warnings)


def test_an_estimate_from_too_few_snps_is_refused():
    """One SNP gives a rank-one Γ for two metafounders: not positive definite, a clear stop."""
    grouped, x, _, _ = metafounder_population(founders=(40, 40), generations=1, per_generation=20, snps=50)
    with pytest.raises(InputError, match=r"cannot be used: Γ must be positive definite.*Too few SNPs"):
        estimate_gamma(grouped, grouped.ped.ids, x[:, :1])
