"""G* made in place on G with A22 a block of columns at a time (Colleau's method), against the dense
formula of blending, tuning and ridge; and the full (non-APY) genomic and single-step paths never
forming an n_g × n_g A22 or A22⁻¹ beside G (checked at the pedigree blocks' public methods and by
the memory numpy allocates)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from test_genomic_data import (
    gene_drop,
    gstar_oracle,
    simulated_pedigree,
    vanraden_oracle,
)
from test_metafounder_gamma import metafounder_population

from henderson.genomic import (
    GenomicOptions,
    PedigreeBlocks,
    adjust_g,
    genomic_inverse,
    genomic_relationship,
    pedigree_blocks,
    single_step_relationship,
    vanraden_g,
)
from henderson.genomic.metafounder_gamma import estimate_gamma
from henderson.genomic.pedigree_block import A22Inverse
from henderson.pedigree import relationship_matrix_dense
from henderson.pedigree.metafounders import ainv_metafounders
from henderson.relationship_groups import group_relationship
from henderson.stages.relationships import relationships_stage

TOL = 1e-12  # absolute, on entries of order 1
SETTINGS = [(0.05, "none", 0.0), (0.0, "mean", 0.0), (0.2, "mean", 0.01), (0.3, "none", 0.5), (0.0, "none", 0.5)]


@pytest.fixture(scope="module")
def population():
    ped = simulated_pedigree(300, 13, max_sires=4, sire_fraction=0.01)
    rng = np.random.default_rng(5)
    geno = np.r_[rng.choice(np.arange(60, 180), 40, replace=False), np.arange(180, 300)]  # not in pedigree order
    codes = gene_drop(ped, 500, 8, missing=0.02)[geno]
    return ped, geno, codes


def _stage(ped):
    return relationships_stage(pd.DataFrame({"id": ped.ids, "sire": [ped.ids[s] if s >= 0 else None for s in ped.sire],
                                             "dam": [ped.ids[d] if d >= 0 else None for d in ped.dam]}))


@pytest.mark.parametrize(("blend", "tune", "ridge"), SETTINGS)
def test_blocked_g_star_equals_the_dense_formula(population, blend, tune, ridge):
    ped, geno, codes = population
    a22 = relationship_matrix_dense(ped)[np.ix_(geno, geno)]
    want = gstar_oracle(vanraden_oracle(codes), a22, blend, tune, ridge)
    # 160 genotyped: 16 columns of A22 per block (10 blocks); Colleau on the pruned pedigree and
    # solves with the factor of A⁻¹ (the relationships stage)
    for source in (ped, _stage(ped)):
        blocks = pedigree_blocks(source, ped.ids[geno], block_bytes=8 * 16 * geno.size)
        opts = GenomicOptions(blend=blend, tune=tune, ridge=ridge, block_bytes=blocks.block_bytes)
        got = adjust_g(vanraden_g(codes).g, blocks, opts)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
        # a C-order G is blended through its transpose
        c_order = adjust_g(np.ascontiguousarray(vanraden_g(codes).g), blocks, opts)
        np.testing.assert_allclose(c_order, want, rtol=0, atol=TOL)
        # the dense A22 takes the same blocked path
        np.testing.assert_allclose(adjust_g(vanraden_g(codes).g, a22, opts), want, rtol=0, atol=TOL)
        if tune == "mean":  # the invariants that define tuning, before the ridge
            tuned = got - ridge * np.eye(geno.size)
            assert np.mean(np.diag(tuned)) == pytest.approx(np.mean(np.diag(a22)), abs=TOL)
            assert np.mean(tuned) == pytest.approx(np.mean(a22), abs=TOL)


@pytest.mark.parametrize(("blend", "tune", "ridge"), [(0.05, "none", 0.0), (0.2, "mean", 0.01)])
def test_genomic_inverse_of_the_blocked_g_star(population, blend, tune, ridge):
    ped, geno, codes = population
    a22 = relationship_matrix_dense(ped)[np.ix_(geno, geno)]
    want = gstar_oracle(vanraden_oracle(codes), a22, blend, tune, ridge)
    opts = GenomicOptions(blend=blend, tune=tune, ridge=ridge, block_bytes=8 * 16 * geno.size)
    ginv, logdet, diag = genomic_inverse(codes, opts, pedigree_blocks(ped, ped.ids[geno], block_bytes=opts.block_bytes))
    inv = np.linalg.inv(want)
    np.testing.assert_allclose(ginv, inv, rtol=0, atol=1e-9 * np.abs(inv).max())
    assert logdet == pytest.approx(np.linalg.slogdet(want)[1], abs=1e-9)
    np.testing.assert_allclose(diag, np.diag(want), rtol=0, atol=TOL)


def test_blocked_blend_with_metafounders_uses_a_gamma_22():
    grouped, x, _, gen = metafounder_population(founders=(40, 30), generations=2, per_generation=50, snps=400, seed=4)
    rng = np.random.default_rng(3)
    geno = np.r_[np.flatnonzero(gen == 2), rng.choice(np.flatnonzero(gen == 1), 20, replace=False)]
    codes = x[geno].copy()
    gamma = estimate_gamma(grouped, grouped.ped.ids[geno], codes).gamma
    kinv, f, b, _ = ainv_metafounders(grouped, gamma)
    rel = group_relationship(grouped, "metafounders", kinv, f, b, gamma=gamma)
    a22 = np.linalg.inv(rel.kinv.toarray())[np.ix_(geno, geno)]  # A^Γ22
    half = np.full(codes.shape[1], 0.5)
    blocks = pedigree_blocks(rel, grouped.ped.ids[geno], block_bytes=8 * 16 * geno.size)
    np.testing.assert_allclose(blocks.a22_diagonal(), np.diag(a22), rtol=0, atol=TOL)
    for blend, ridge in ((0.05, 0.0), (0.3, 0.01)):
        opts = GenomicOptions(blend=blend, ridge=ridge, block_bytes=blocks.block_bytes)
        got = adjust_g(vanraden_g(codes, half).g, blocks, opts)
        np.testing.assert_allclose(got, gstar_oracle(vanraden_oracle(codes, half), a22, blend, "none", ridge),
                                   rtol=0, atol=TOL)


def _count_a22_calls(monkeypatch) -> list[tuple[str, int]]:
    """Record (method, columns) of every A22 the pedigree blocks make, and refuse the dense ones."""
    calls: list[tuple[str, int]] = []
    a22, inverse = PedigreeBlocks.a22, PedigreeBlocks.a22_inverse

    def a22_spy(self, columns=None):
        calls.append(("a22", self.n_genotyped if columns is None else len(columns)))
        return a22(self, columns)

    def inverse_spy(self):
        calls.append(("a22_inverse", self.n_genotyped))
        return inverse(self)

    monkeypatch.setattr(PedigreeBlocks, "a22", a22_spy)
    monkeypatch.setattr(PedigreeBlocks, "a22_inverse", inverse_spy)
    return calls


@pytest.mark.parametrize("tau", [1.0, 1.2])
def test_the_full_path_makes_a22_only_by_blocks_of_columns(population, monkeypatch, tau):
    ped, geno, codes = population
    calls = _count_a22_calls(monkeypatch)
    opts = GenomicOptions(blend=0.05, tune="mean", ridge=0.01, tau=tau, block_bytes=8 * 16 * geno.size)
    ids = ped.ids[geno]
    genomic_relationship(ids, codes, opts, pedigree=ped)
    single_step_relationship(ped, ids, codes, opts)
    assert calls, "blending makes A22's columns"
    assert all(name == "a22" and 0 < k <= 16 for name, k in calls), calls
    assert sum(k for _, k in calls) == 2 * geno.size  # every column once per relationship


def test_single_step_holds_one_n_g_square_array(monkeypatch):
    """numpy's allocations (tracemalloc sees them) while H⁻¹ is made: G, G* and G*⁻¹ − A22⁻¹ share
    one n_g × n_g array, and A22 and A22⁻¹ come by blocks of 16 columns; the old path held A22 beside
    G, then A22⁻¹ beside G*⁻¹ (twice the array)."""
    ped = simulated_pedigree(1600, 21, max_sires=20, sire_fraction=0.02)
    n_g = 1000
    geno = np.arange(ped.n - n_g, ped.n)
    codes = np.random.default_rng(0).integers(0, 3, size=(n_g, 300)).astype(np.int8)  # 0.3 MB
    opts = GenomicOptions(blend=0.05, tune="mean", block_bytes=8 * 16 * ped.n, max_factor_entries=0)
    single_step_relationship(ped, ped.ids[geno], codes, opts)  # numba compiled, caches warm
    square = 8 * n_g * n_g  # 8 MB
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rel = single_step_relationship(ped, ped.ids[geno], codes, opts)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert rel.dense.matrix.shape == (n_g, n_g)
    assert square <= peak < 1.5 * square, f"peak {peak / 2**20:.1f} MiB for one n_g² array of {square / 2**20:.1f} MiB"


def test_single_step_with_tau_and_omega_solves_a22_inverse_once(population, monkeypatch):
    """τ, ω ≠ 1 need D = τG*⁻¹ − ωA22⁻¹ and H22⁻¹ = τG*⁻¹ + (1 − ω)A22⁻¹: both from one pass of
    A22⁻¹'s column solves (the pass costs as much as G*⁻¹ at tens of thousands genotyped)."""
    ped, geno, codes = population
    passes: list[int] = []
    add_to = A22Inverse.add_to

    def add_to_spy(self, out, scale, **kwargs):
        passes.append(out.shape[1])
        return add_to(self, out, scale, **kwargs)

    monkeypatch.setattr(A22Inverse, "add_to", add_to_spy)
    single_step_relationship(ped, ped.ids[geno], codes, GenomicOptions(blend=0.05, tau=1.3, omega=0.7))
    assert passes == [geno.size]
