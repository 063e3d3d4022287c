"""A22, A22⁻¹ (Colleau's method, the Schur complement of A⁻¹) and single-step H⁻¹, log|H| and
diag(H) against dense A from the tabular method and dense H built from its definition, on small
pedigrees with inbreeding, selfing and ungenotyped ancestors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_genomic_data import (
    gene_drop,
    gstar_oracle,
    h_oracle,
    simulated_pedigree,
    vanraden_oracle,
)

from henderson.errors import InputError
from henderson.genomic import (
    GenomicOptions,
    genomic_inverse,
    pedigree_blocks,
    single_step_parts,
    single_step_relationship,
)
from henderson.pedigree import relationship_matrix_dense, sort_pedigree
from henderson.stages.relationships import relationships_stage

TOL = 1e-9  # relative to the largest entry compared


def _close(got, want, tol=TOL):
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, np.abs(want).max()))


@pytest.fixture(scope="module")
def case():
    ped = simulated_pedigree(260, 7, max_sires=3, sire_fraction=0.01)
    rng = np.random.default_rng(1)
    geno = np.sort(np.r_[rng.choice(np.arange(40, 200), 50, replace=False), np.arange(200, 260)])
    codes = gene_drop(ped, 400, 9, missing=0.01)[geno]
    return ped, geno, codes


def _selfing_pedigree():
    frame = pd.DataFrame({
        "id": ["p", "q", "s1", "s2", "x", "y", "z", "w"],
        "sire": [None, None, "p", "s1", "s2", "x", "x", "y"],
        "dam": [None, None, "p", "s1", "q", "q", "y", "z"],
    })
    return sort_pedigree(list(frame["id"]), list(frame["sire"]), list(frame["dam"]))


def test_a22_and_its_inverse_match_the_dense_tabular_a(case):
    ped, geno, _ = case
    a = relationship_matrix_dense(ped)
    a22 = a[np.ix_(geno, geno)]
    stage = relationships_stage(pd.DataFrame({"id": ped.ids, "sire": [ped.ids[s] if s >= 0 else None for s in ped.sire],
                                              "dam": [ped.ids[d] if d >= 0 else None for d in ped.dam]}))
    for source in (ped, stage):  # Colleau on the pruned pedigree; solves with the factor of A⁻¹
        blocks = pedigree_blocks(source, ped.ids[geno], block_bytes=8 * 260 * 16)  # several column blocks
        order = np.argsort(blocks.genotyped)
        _close(blocks.a22()[np.ix_(order, order)], a22)
        inv, logdet = blocks.a22_inverse()
        _close(inv[np.ix_(order, order)], np.linalg.inv(a22))
        assert logdet == pytest.approx(np.linalg.slogdet(a22)[1], abs=1e-9)
        assert blocks.logdet_a == pytest.approx(np.linalg.slogdet(a)[1], abs=1e-9)
        assert blocks.a22_mean() == pytest.approx(np.mean(a22), abs=1e-12)
        x = np.random.default_rng(0).normal(size=(len(geno), 3))
        _close(blocks.a22_times(x), a[np.ix_(blocks.genotyped, blocks.genotyped)] @ x)


def test_a22_with_selfing_and_everyone_genotyped():
    ped = _selfing_pedigree()
    a = relationship_matrix_dense(ped)
    for geno in (np.array([2, 3, 6, 7]), np.arange(ped.n)):
        blocks = pedigree_blocks(ped, ped.ids[geno])
        _close(blocks.a22(), a[np.ix_(geno, geno)])
        inv, logdet = blocks.a22_inverse()
        _close(inv, np.linalg.inv(a[np.ix_(geno, geno)]))
        assert logdet == pytest.approx(np.linalg.slogdet(a[np.ix_(geno, geno)])[1], abs=1e-10)


@pytest.mark.parametrize("blend,tune,ridge", [(0.05, "none", 0.0), (0.1, "mean", 0.01)])
def test_h_inverse_logdet_and_diagonal_match_dense_h(case, blend, tune, ridge):
    ped, geno, codes = case
    opts = GenomicOptions(blend=blend, tune=tune, ridge=ridge)
    rel = single_step_relationship(ped, ped.ids[geno], codes, opts)
    a = relationship_matrix_dense(ped)
    gstar = gstar_oracle(vanraden_oracle(codes), a[np.ix_(geno, geno)], blend, tune, ridge)
    h = h_oracle(a, geno, gstar)
    assert rel.kind == "single_step" and list(rel.levels) == list(ped.ids)
    _close(rel.kinv_matrix().toarray(), np.linalg.inv(h), 1e-8)
    assert rel.logdet == pytest.approx(np.linalg.slogdet(h)[1], abs=1e-8)
    _close(rel.diagonal, np.diag(h), 1e-8)
    assert abs(rel.kinv_matrix() - rel.kinv_matrix().T).max() == 0.0


def test_tau_omega_logdet_and_diagonal_of_the_inverse_of_h_inverse(case):
    """For τ, ω ≠ 1, H is defined as (H⁻¹)⁻¹: log|H| = −log|H⁻¹|, diag(H) = diag((H⁻¹)⁻¹)."""
    ped, geno, codes = case
    opts = GenomicOptions(blend=0.05, tau=1.3, omega=0.7)
    rel = single_step_relationship(ped, ped.ids[geno], codes, opts)
    a = relationship_matrix_dense(ped)
    a22 = a[np.ix_(geno, geno)]
    gstar = gstar_oracle(vanraden_oracle(codes), a22, 0.05, "none", 0.0)
    hinv = np.linalg.inv(a)
    hinv[np.ix_(geno, geno)] += 1.3 * np.linalg.inv(gstar) - 0.7 * np.linalg.inv(a22)
    _close(rel.kinv_matrix().toarray(), hinv, 1e-8)
    assert rel.logdet == pytest.approx(-np.linalg.slogdet(hinv)[1], abs=1e-8)
    _close(rel.diagonal, np.diag(np.linalg.inv(hinv)), 1e-8)


def test_diagonal_fallback_when_the_factor_is_too_large(case):
    ped, geno, codes = case
    opts = GenomicOptions(blend=0.05)
    blocks = pedigree_blocks(ped, ped.ids[geno])
    ginv, logdet_g, diag_g = genomic_inverse(codes, opts, blocks)
    parts = single_step_parts(blocks, ginv, logdet_g, diag_g, max_factor_entries=0)
    assert not parts.diagonal_exact
    rest = blocks.ungenotyped
    _close(parts.diagonal[rest], blocks.diagonal_a[rest], 1e-14)  # diag(A11) = 1 + F
    _close(parts.diagonal[blocks.genotyped], diag_g, 1e-14)  # exact for the genotyped


def test_genotyped_animals_missing_from_the_pedigree(case):
    ped, geno, codes = case
    ids = list(ped.ids[geno])
    ids[3] = "nobody"
    with pytest.raises(InputError, match="not in the pedigree \\(nobody\\)"):
        single_step_relationship(ped, ids, codes)


def test_ssgblup_through_the_model_and_snp_effects_from_the_genotyped():
    """ssGBLUP solved by the package equals the dense equations with H⁻¹ = inv(H); with G* = G
    (given base frequencies, no blend, no ridge, n_g < m) the SNP effects back-solved from the
    genotyped animals' GEBV reproduce them exactly: Z ĝ = G G⁻¹ â₂ = â₂."""
    from henderson.covariance import VarianceComponents
    from henderson.design import additive_effect
    from henderson.genomic import genomic_relationship, snp_effects
    from henderson.model import build_model
    from henderson.solutions import solve

    ped = simulated_pedigree(150, 12, max_sires=3, sire_fraction=0.01)
    geno = np.arange(90, 150)
    rng = np.random.default_rng(4)
    p = rng.uniform(0.1, 0.9, 300)
    codes = gene_drop(ped, 300, 6)[geno]
    opts = GenomicOptions(blend=0.0)
    rel = single_step_relationship(ped, ped.ids[geno], codes, opts, frequencies=p)
    records = pd.DataFrame({"id": ped.ids[30:], "y": rng.normal(10, 3, 120)})
    model = build_model(records, ["y"], ((), ()), [additive_effect("animal", records["id"], rel)])
    solved = solve(model, VarianceComponents.from_named(model.layout, {"animal": 2.0, "residual": 6.0}))
    table = solved.table
    gebv = table[table["effect"] == "animal"].set_index("level")["estimate"]
    a = relationship_matrix_dense(ped)
    h = h_oracle(a, geno, vanraden_oracle(codes, p))
    z = (records["id"].to_numpy()[:, None] == ped.ids[None, :]).astype(float)
    x = np.column_stack([np.ones(len(records)), z])
    lhs = x.T @ x
    lhs[1:, 1:] += np.linalg.inv(h) * 3.0
    sol = np.linalg.solve(lhs, x.T @ records["y"].to_numpy())
    _close(gebv.reindex(ped.ids).to_numpy(), sol[1:], 1e-9)
    # the REML log-likelihood uses log|H|: against −½[(n − 1) log 2π + log|V| + log|1'V⁻¹1| + y'Py]
    y = records["y"].to_numpy()
    v = 2.0 * z @ h @ z.T + 6.0 * np.eye(len(y))
    vi = np.linalg.inv(v)
    one = np.ones((len(y), 1))
    proj = vi - vi @ one @ np.linalg.solve(one.T @ vi @ one, one.T @ vi)
    dense_loglik = -0.5 * ((len(y) - 1) * np.log(2 * np.pi) + np.linalg.slogdet(v)[1]
                           + np.linalg.slogdet(one.T @ vi @ one)[1] + y @ proj @ y)
    assert solved.log_likelihood == pytest.approx(dense_loglik, abs=1e-8)
    genomic = genomic_relationship(ped.ids[geno], codes, opts, frequencies=p)
    snp = snp_effects(codes, gebv, genomic, frequencies=p)
    centred = np.where(codes < 0, 0.0, codes - 2 * p)
    _close(centred @ snp["estimate"].to_numpy(), gebv.reindex(ped.ids[geno]).to_numpy(), 1e-8)


@pytest.mark.parametrize(("tau", "omega"), [(1.0, 1.0), (1.2, 0.8)])
def test_single_step_pair_keeps_g_inverse_intact(case, tau, omega):
    """(H, G*) from one G*⁻¹: H as single_step_relationship gives it, G*⁻¹ as genomic_relationship
    gives it, as a matrix and as products (recovered from H's block as (D + ωA22⁻¹)/τ)."""
    from henderson.genomic import genomic_relationship, single_step_relationships

    ped, geno, codes = case
    options = GenomicOptions(blend=0.05, tune="mean", ridge=0.01, tau=tau, omega=omega)
    single, genomic = single_step_relationships(ped, ped.ids[geno], codes, options)
    alone = genomic_relationship(ped.ids[geno], codes, options, pedigree=ped)
    want = alone.kinv_matrix().toarray()
    _close(genomic.kinv_matrix().toarray(), want)
    x = np.random.default_rng(2).normal(size=(len(geno), 3))
    _close(genomic.kinv_times(x), want @ x)
    assert genomic.logdet == pytest.approx(alone.logdet, abs=1e-9)
    _close(single.kinv_matrix().toarray(), single_step_relationship(ped, ped.ids[geno], codes, options).kinv_matrix().toarray())


def test_single_step_notes_an_approximated_diagonal(case):
    """When H⁻¹ is too large for its selected inverse, diag(H) of the ungenotyped animals is
    1 + F and the relationship says so (the evaluation puts it at the top of the report)."""
    ped, geno, codes = case
    exact = single_step_relationship(ped, ped.ids[geno], codes, GenomicOptions())
    approx = single_step_relationship(ped, ped.ids[geno], codes, GenomicOptions(max_factor_entries=1))
    assert exact.notes == ()
    assert len(approx.notes) == 1 and f"{ped.n - len(geno):,} ungenotyped animals" in approx.notes[0]
    rest = np.setdiff1d(np.arange(ped.n), geno)
    _close(approx.diagonal[rest], relationship_matrix_dense(ped).diagonal()[rest])  # 1 + F
