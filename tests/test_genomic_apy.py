"""APY (Misztal et al. 2014): the sparse inverse equals the dense inverse of the APY G built
explicitly (an exact identity), the core-size rule, and GEBV against full G on 3000 genotyped
animals (correlation ≥ 0.99)."""

from __future__ import annotations

import numpy as np
import pytest
from test_genomic_data import (
    gene_drop,
    gstar_oracle,
    simulated_pedigree,
    vanraden_oracle,
)

from henderson.errors import InputError, NumericalError
from henderson.genomic import (
    GenomicOptions,
    apy_core_size,
    apy_inverse,
    choose_core,
    genomic_relationship,
)
from henderson.pedigree import relationship_matrix_dense


def apy_g_oracle(g: np.ndarray, core: np.ndarray) -> np.ndarray:
    """G_APY written out: Gcc, Gcn as in G; Gnn = Gnc Gcc⁻¹ Gcn + M, M = diag of the residuals."""
    n = g.shape[0]
    rest = np.setdiff1d(np.arange(n), core)
    gcc, gcn = g[np.ix_(core, core)], g[np.ix_(core, rest)]
    reg = gcn.T @ np.linalg.solve(gcc, gcn)
    out = g.copy()
    out[np.ix_(rest, rest)] = reg + np.diag(np.diag(g)[rest] - np.diag(reg))
    return out


@pytest.fixture(scope="module")
def small():
    ped = simulated_pedigree(200, 4, max_sires=4, sire_fraction=0.01)
    geno = np.arange(90, 200)
    codes = gene_drop(ped, 500, 2)[geno]
    return ped, geno, codes


def test_apy_inverse_is_the_inverse_of_the_apy_g(small):
    _, _, codes = small
    g = vanraden_oracle(codes) + 0.01 * np.eye(len(codes))
    core = choose_core(len(codes), 40, seed=3)
    rest = np.setdiff1d(np.arange(len(codes)), core)
    inv = apy_inverse(g[np.ix_(core, core)], g[np.ix_(core, rest)], np.diag(g)[rest], core, rest)
    g_apy = apy_g_oracle(g, core)
    want = np.linalg.inv(g_apy)
    scale = np.abs(want).max()
    np.testing.assert_allclose(inv.to_sparse().toarray(), want, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(inv.to_dense(), want, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(inv.diagonal_inverse(), np.diag(want), rtol=0, atol=1e-9 * scale)
    x = np.random.default_rng(0).normal(size=(len(codes), 2))
    np.testing.assert_allclose(inv.matvec(x), want @ x, rtol=0, atol=1e-8 * np.abs(want @ x).max())
    np.testing.assert_allclose(inv.matvec(x[:, 0]), want @ x[:, 0], rtol=0, atol=1e-8 * np.abs(want @ x).max())
    assert inv.logdet == pytest.approx(np.linalg.slogdet(g_apy)[1], abs=1e-8)
    # storage linear in the non-core animals: n_c n_g + n_n (n_c + 1) entries
    assert inv.to_sparse().nnz == 40 * len(codes) + len(rest) * 41


def test_apy_relationship_with_blending_and_tuning(small):
    ped, geno, codes = small
    opts = GenomicOptions(blend=0.1, tune="mean", ridge=0.02, apy="always", apy_core=35, apy_seed=9)
    rel = genomic_relationship(ped.ids[geno], codes, opts, pedigree=ped)
    a = relationship_matrix_dense(ped)
    gstar = gstar_oracle(vanraden_oracle(codes), a[np.ix_(geno, geno)], 0.1, "mean", 0.02)
    g_apy = apy_g_oracle(gstar, choose_core(len(geno), 35, seed=9))
    want = np.linalg.inv(g_apy)
    np.testing.assert_allclose(rel.kinv_matrix().toarray(), want, rtol=0, atol=1e-9 * np.abs(want).max())
    assert rel.logdet == pytest.approx(np.linalg.slogdet(g_apy)[1], abs=1e-8)
    np.testing.assert_allclose(rel.diagonal, np.diag(gstar), rtol=0, atol=1e-12)  # APY keeps diag(G*)


def test_core_size_from_eigenvalues():
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))[0]
    g = q @ np.diag([50.0, 30.0, 15.0, 3.0, 1.5, 0.5]) @ q.T  # trace 100
    assert apy_core_size(g, 0.95) == 3
    assert apy_core_size(g, 0.98) == 4
    assert apy_core_size(g, 0.981) == 5
    assert apy_core_size(g, 1.0) == 6


def test_a_core_without_full_rank_names_the_remedy(small):
    _, _, codes = small
    with pytest.raises(NumericalError, match="smaller core"):
        genomic_relationship([f"a{i}" for i in range(len(codes))], codes,
                             GenomicOptions(blend=0.0, apy="always", apy_core=len(codes)))


def test_apy_gebv_correlate_with_full_g_on_3000_genotyped():
    ped = simulated_pedigree(3000, 5, max_sires=20)
    codes = gene_drop(ped, 2000, 3)
    ids = [str(i) for i in ped.ids]
    full = genomic_relationship(ids, codes, GenomicOptions(blend=0.0, ridge=0.01))
    apy = genomic_relationship(ids, codes, GenomicOptions(blend=0.0, ridge=0.01, apy="always"))
    p = codes.mean(axis=0) / 2
    rng = np.random.default_rng(0)
    tbv = (codes - 2 * p) @ rng.normal(0, 1, codes.shape[1])
    tbv /= tbv.std()
    y = tbv + rng.normal(0, np.sqrt(1 / 0.3 - 1), len(ids))  # h² = 0.3
    ratio = 1 / 0.3 - 1
    # GBLUP with one record per animal and known mean: (I + λ K⁻¹) â = y − ȳ
    gebv = {name: np.linalg.solve(np.eye(len(ids)) + ratio * rel.kinv_matrix().toarray(), y - y.mean())
            for name, rel in (("full", full), ("apy", apy))}
    assert apy.kinv.nnz < 0.8 * len(ids) ** 2  # the 98 % rule puts well under n animals in the core
    assert np.corrcoef(gebv["full"], gebv["apy"])[0, 1] >= 0.99


def test_given_core_animals(small):
    ped, geno, codes = small
    ids = [str(i) for i in ped.ids[geno]]
    core = np.array([3, 10, 11, 40, 41, 42, 77, 90, 100, 105, 2, 60, 61, 62, 63, 20, 21, 22, 23, 24])
    opts = GenomicOptions(blend=0.0, ridge=0.05, apy="always", apy_core_ids=tuple(ids[i] for i in core))
    rel = genomic_relationship(ids, codes, opts)
    want = np.linalg.inv(apy_g_oracle(vanraden_oracle(codes) + 0.05 * np.eye(len(ids)), np.sort(core)))
    np.testing.assert_allclose(rel.kinv_matrix().toarray(), want, rtol=0, atol=1e-9 * np.abs(want).max())
    with pytest.raises(InputError, match="not genotyped"):
        genomic_relationship(ids, codes, GenomicOptions(blend=0.0, apy="always", apy_core_ids=("zz",)))
