"""VanRaden's G, allele frequencies, blending/tuning/ridge and G⁻¹ by Cholesky, against
formulas written out densely (test_genomic_data)."""

from __future__ import annotations

import numpy as np
import pytest
from test_genomic_data import (
    gene_drop,
    gstar_oracle,
    simulated_pedigree,
    vanraden_oracle,
)

from henderson.errors import ConfigError, InputError, NumericalError
from henderson.genomic import (
    GenomicOptions,
    adjust_g,
    allele_frequencies,
    cholesky_inverse,
    genomic_relationship,
    pedigree_blocks,
    vanraden_g,
)
from henderson.pedigree import relationship_matrix_dense


@pytest.fixture(scope="module")
def population():
    ped = simulated_pedigree(400, 11, max_sires=4, sire_fraction=0.01)
    codes = gene_drop(ped, 600, 5, missing=0.03)
    geno = np.arange(150, 400)  # the younger animals are genotyped
    return ped, codes[geno], geno


def test_g_matches_the_definition_with_missing_codes_in_blocks(population):
    _, codes, _ = population
    oracle = vanraden_oracle(codes)
    for block_bytes, float32 in ((1, False), (256 * 2**20, False), (1, True)):
        got = vanraden_g(codes, block_bytes=block_bytes, float32=float32)
        tol = 1e-5 if float32 else 1e-12
        np.testing.assert_allclose(got.g, oracle, rtol=0, atol=tol * np.abs(oracle).max())
        assert np.array_equal(got.g, got.g.T)
    p = allele_frequencies(codes)
    m = np.where(codes < 0, np.nan, codes.astype(float))
    np.testing.assert_allclose(p, np.nanmean(m, axis=0) / 2, rtol=1e-14)
    assert vanraden_g(codes).scale == pytest.approx(2 * np.sum(p * (1 - p)), rel=1e-14)


def test_given_frequencies_are_used(population):
    _, codes, _ = population
    p = np.full(codes.shape[1], 0.5)
    np.testing.assert_allclose(vanraden_g(codes, p).g, vanraden_oracle(codes, p), atol=1e-12)
    with pytest.raises(InputError, match="SNP 2 has frequency 1.5"):
        vanraden_g(codes, np.r_[0.5, 0.5, 1.5, np.full(codes.shape[1] - 3, 0.5)])
    with pytest.raises(InputError, match="given for"):
        vanraden_g(codes, p[:-1])


def test_bad_codes_and_monomorphic_snps_are_input_errors():
    codes = np.array([[0, 1, 2], [2, 3, 0]], dtype=np.int8)
    with pytest.raises(InputError, match="animal b, SNP column 1 has code 3"):
        genomic_relationship(["a", "b"], codes, GenomicOptions(blend=0.0))
    with pytest.raises(InputError, match="monomorphic"):
        vanraden_g(np.zeros((3, 4), dtype=np.int8))
    with pytest.raises(InputError, match="genotyped more than once"):
        genomic_relationship(["a", "a"], np.array([[0, 1], [2, 1]], dtype=np.int8), GenomicOptions(blend=0.0, ridge=0.1))


def test_blend_tune_ridge_against_hand_computation(population):
    ped, codes, geno = population
    a = relationship_matrix_dense(ped)
    a22 = a[np.ix_(geno, geno)]
    g = vanraden_oracle(codes)
    for blend, tune, ridge in ((0.05, "none", 0.0), (0.0, "mean", 0.0), (0.2, "mean", 0.01), (0.0, "none", 0.5)):
        opts = GenomicOptions(blend=blend, tune=tune, ridge=ridge)
        got = adjust_g(vanraden_g(codes).g, a22, opts)
        np.testing.assert_allclose(got, gstar_oracle(g, a22, blend, tune, ridge), rtol=0, atol=1e-12)
        if tune == "mean":  # the invariants that define tuning (before the ridge)
            tuned = got - ridge * np.eye(len(geno))
            assert np.mean(np.diag(tuned)) == pytest.approx(np.mean(np.diag(a22)), abs=1e-12)
            assert np.mean(tuned) == pytest.approx(np.mean(a22), abs=1e-12)
    # A22 from the pedigree blocks is the dense A22
    np.testing.assert_allclose(pedigree_blocks(ped, ped.ids[geno]).a22(), a22, atol=1e-13)


def test_blend_without_a_pedigree_is_a_config_error(population):
    _, codes, geno = population
    with pytest.raises(ConfigError, match="give a pedigree"):
        genomic_relationship([str(i) for i in geno], codes, GenomicOptions())
    with pytest.raises(ConfigError, match="blend must be in"):
        GenomicOptions(blend=1.0)
    with pytest.raises(ConfigError, match="tune must be"):
        GenomicOptions(tune="max")


def test_inverse_and_logdet_from_cholesky(population):
    _, codes, _ = population
    g = vanraden_oracle(codes) + 0.01 * np.eye(codes.shape[0])
    inv, logdet = cholesky_inverse(g.copy())
    np.testing.assert_allclose(inv, np.linalg.inv(g), rtol=0, atol=1e-9 * np.abs(np.linalg.inv(g)).max())
    assert logdet == pytest.approx(np.linalg.slogdet(g)[1], abs=1e-9)
    rel = genomic_relationship([f"x{i}" for i in range(codes.shape[0])], codes, GenomicOptions(blend=0.0, ridge=0.01))
    assert rel.kind == "genomic"
    np.testing.assert_allclose(rel.kinv_matrix().toarray(), np.linalg.inv(g), atol=1e-9 * np.abs(inv).max())
    assert rel.logdet == pytest.approx(np.linalg.slogdet(g)[1], abs=1e-9)
    np.testing.assert_allclose(rel.diagonal, np.diag(g), atol=1e-12)


def test_singular_g_names_the_remedy():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, size=(30, 10)).astype(np.int8)  # 30 animals, 10 SNPs: rank ≤ 10
    with pytest.raises(NumericalError, match="add a ridge.*blend"):
        genomic_relationship([f"a{i}" for i in range(30)], codes, GenomicOptions(blend=0.0))
    rel = genomic_relationship([f"a{i}" for i in range(30)], codes, GenomicOptions(blend=0.0, ridge=0.05))
    assert np.isfinite(rel.logdet)


def test_single_precision_product_gives_a_double_inverse(population):
    _, codes, _ = population
    ids = [f"x{i}" for i in range(codes.shape[0])]
    double = genomic_relationship(ids, codes, GenomicOptions(blend=0.0, ridge=0.01))
    single = genomic_relationship(ids, codes, GenomicOptions(blend=0.0, ridge=0.01, float32=True))
    assert single.kinv_matrix().dtype == np.float64
    want = double.kinv_matrix().toarray()
    np.testing.assert_allclose(single.kinv_matrix().toarray(), want, rtol=0, atol=1e-4 * np.abs(want).max())
    assert single.logdet == pytest.approx(double.logdet, abs=1e-3)
