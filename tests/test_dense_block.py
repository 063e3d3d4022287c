"""Dense blocks of K⁻¹ kept apart from the sparse matrices (henderson.dense_block): the merged
matrix and the products against dense oracles, and PCG with the genotyped block as an operator
against the assembled (merged) equations solved by CHOLMOD, for single step (one and two traits)
and GBLUP, without ever storing the block in a sparse matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_genomic_apy import apy_g_oracle
from test_genomic_data import gene_drop, simulated_pedigree, vanraden_oracle

from henderson.covariance import VarianceComponents
from henderson.dense_block import DenseBlock, merge
from henderson.design import additive_effect
from henderson.genomic import (
    GenomicOptions,
    genomic_relationship,
    single_step_relationship,
)
from henderson.genomic.singlestep import SingleStepBlock
from henderson.linalg import SparseCholesky
from henderson.mme import CoefficientOperator, Equations
from henderson.model import build_model
from henderson.pedigree import relationship_matrix_dense
from henderson.reml.objective import Objective
from henderson.solutions import solve
from henderson.solvers import (
    BYTES_PER_DENSE_ENTRY,
    BYTES_PER_FACTOR_ENTRY,
    choose_solver,
    make_solver,
)

AGREE = 1e-6  # PCG (operator) against CHOLMOD (merged), relative to the largest solution


def _symmetric(rng, n: int, density: float) -> sp.csc_matrix:
    s = sp.random(n, n, density=density, random_state=rng)
    return sp.csc_matrix(s + s.T + sp.identity(n) * n)


def test_merge_and_products_match_the_dense_matrix():
    rng = np.random.default_rng(0)
    q, positions = 40, np.array([31, 2, 17, 5, 38, 20, 9])  # any order, some columns of S empty
    s = _symmetric(rng, q, 0.05)
    m = rng.normal(size=(positions.size, positions.size))
    m = m + m.T
    full = s.toarray()
    full[np.ix_(positions, positions)] += m
    for layout in (m, np.asfortranarray(m)):
        block = DenseBlock(positions, layout)
        merged = merge(s, block)
        np.testing.assert_array_equal(merged.toarray(), full)
        assert merged.has_sorted_indices and np.all(np.diff(merged.indices[merged.indptr[5] : merged.indptr[6]]) > 0)
        x = rng.normal(size=(q, 3))
        np.testing.assert_allclose(block.apply(s, x), full @ x, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(block.apply(s, x[:, 0]), full @ x[:, 0], rtol=1e-13, atol=1e-12)
    with pytest.raises(ValueError, match="distinct"):
        DenseBlock(np.array([1, 1]), np.eye(2))
    with pytest.raises(ValueError, match="2 positions need 2 × 2"):
        DenseBlock(np.array([1, 2]), np.eye(3))


@pytest.fixture(scope="module")
def case():
    """260 animals with inbreeding, the 110 youngest genotyped (400 SNPs dropped through the
    pedigree), two traits on 230 animals in 12 herds, 15 % of each trait missing."""
    ped = simulated_pedigree(260, 7, max_sires=3, sire_fraction=0.01)
    geno = np.arange(150, 260)
    every = gene_drop(ped, 400, 9)
    codes = every[geno]
    rng = np.random.default_rng(5)
    centred = every - every.mean(axis=0)
    tbv = centred @ rng.normal(size=(400, 2))  # two genetically correlated traits
    tbv = tbv @ np.array([[1.0, 0.5], [0.0, 1.0]])
    tbv /= tbv.std(axis=0) / np.sqrt([4.0, 2.0])  # σ²a 4 and 2
    n = 230
    records = pd.DataFrame({
        "id": ped.ids[30:],
        "herd": rng.integers(0, 12, n).astype(str),
        "a": 10 + tbv[30:, 0] + rng.normal(0, 2, n),
        "b": 5 + tbv[30:, 1] + rng.normal(0, 1.5, n),
    })
    for trait in ("a", "b"):
        records.loc[rng.random(n) < 0.15, trait] = np.nan
    records = records[records[["a", "b"]].notna().any(axis=1)].reset_index(drop=True)
    single = single_step_relationship(ped, ped.ids[geno], codes, GenomicOptions(blend=0.05))
    genomic = genomic_relationship(ped.ids[geno], codes, GenomicOptions(blend=0.0, ridge=0.01))
    return ped, geno, records, single, genomic


def _model(records, rel, traits):
    rows = records[records[list(traits)].notna().any(axis=1)]
    if rel.kind == "genomic":
        rows = rows[rows["id"].isin(set(rel.levels))]
    return build_model(rows, list(traits), (("herd",), ()), [additive_effect("animal", rows["id"], rel)])


def _components(model, traits):
    if len(traits) == 1:
        return VarianceComponents(model.layout, (np.array([[2.0]]),), np.array([[6.0]]))
    return VarianceComponents(model.layout, (np.array([[2.0, 0.6], [0.6, 1.5]]),),
                              np.array([[6.0, 1.0], [1.0, 3.0]]))


def _refuse_merges(monkeypatch) -> None:
    """Any merge of a dense block into a sparse matrix from here on fails the test."""
    def refuse(*_args, **_kwargs):
        pytest.fail("the dense block was merged into a sparse matrix")
    monkeypatch.setattr("henderson.dense_block.merge", refuse)
    monkeypatch.setattr("henderson.relationship.merge", refuse)


@pytest.fixture()
def no_merge(monkeypatch):
    _refuse_merges(monkeypatch)


def _estimates(solved):
    return solved.table["estimate"].to_numpy()


@pytest.mark.parametrize("traits", [("a",), ("a", "b")])
@pytest.mark.parametrize("kind", ["single", "genomic"])
def test_pcg_with_the_operator_matches_cholesky_on_the_merged_equations(case, traits, kind, monkeypatch):
    _, _, records, single, genomic = case
    rel = single if kind == "single" else genomic
    model = _model(records, rel, traits)
    vc = _components(model, traits)
    exact = solve(model, vc, solver="cholesky")
    assert "dense_blocks" not in exact.solver
    x_exact = _estimates(exact)
    _refuse_merges(monkeypatch)
    iterative = solve(model, vc, solver="pcg", tol=1e-12)
    np.testing.assert_allclose(_estimates(iterative), x_exact, rtol=0, atol=AGREE * np.abs(x_exact).max())
    assert iterative.solver["dense_blocks"] == [{
        "term": "animal", "levels": rel.dense.size, "components": len(traits), "entries": rel.dense.size**2,
        "applied": "as an operator in the PCG products"}]
    assert "applied as an operator" in iterative.solver["reason"]


def test_the_operator_equals_the_merged_coefficient_matrix(case):
    """C x and diag(C) of the operator (sparse part + G0⁻¹ ⊗ E'DE) against the merged C, and the
    sparse part never holds the genotyped block: its pattern is that of A⁻¹ plus the data."""
    _, geno, records, single, _ = case
    model = _model(records, single, ("a", "b"))
    vc = _components(model, ("a", "b"))
    merged, apart = Equations(model), Equations(model, operator=True)
    c = merged.assemble(merged.coefficients(vc))
    op = apart.assemble(apart.coefficients(vc))
    assert isinstance(op, CoefficientOperator) and not isinstance(c, CoefficientOperator)
    x = np.random.default_rng(1).normal(size=(model.n_unknowns, 4))
    np.testing.assert_allclose(op @ x, c @ x, rtol=0, atol=1e-10 * np.abs(c @ x).max())
    np.testing.assert_allclose(op @ x[:, 0], c @ x[:, 0], rtol=0, atol=1e-10 * np.abs(c @ x).max())
    np.testing.assert_allclose(op.diagonal(), c.diagonal(), rtol=1e-13)
    rows = apart.dense_terms[0].indices().ravel()  # both traits' genotyped animals
    assert merged.pattern[rows][:, rows].nnz == rows.size**2
    assert apart.pattern[rows][:, rows].nnz < 0.1 * rows.size**2  # A⁻¹ and the data only
    assert apart.dense_sizes() == [2 * len(geno)] and merged.dense_sizes() == []


def test_auto_counts_the_dense_block_and_builds_what_the_solver_takes(case, no_merge):
    _, geno, records, single, _ = case
    model = _model(records, single, ("a",))
    eq = Equations(model, operator=True)
    n = len(geno)
    block_mb = (BYTES_PER_FACTOR_ENTRY * n * (n + 1) / 2 + BYTES_PER_DENSE_ENTRY * n * n) / 2**20
    solver, reason = choose_solver(eq, block_mb * 0.9, exact=False, tol=1e-9)  # the block alone does not fit
    assert solver.name == "pcg" and solver.equations.dense_terms
    assert f"{block_mb:,.0f} MB of it for the dense genomic block" in reason
    sparse_mb = BYTES_PER_FACTOR_ENTRY * SparseCholesky(eq.pattern).predicted_factor_nnz() / 2**20
    assert sparse_mb < 0.1 * block_mb  # it is the block that does not fit


def test_auto_merges_the_block_for_the_exact_solver(case):
    _, geno, records, single, _ = case
    model = _model(records, single, ("a",))
    solver, reason = choose_solver(Equations(model, operator=True), None, exact=False)
    assert solver.name == "cholesky" and not solver.equations.dense_terms and "dense genomic block" in reason
    n = len(geno)
    enough = (BYTES_PER_FACTOR_ENTRY * n * (n + 1) / 2 + BYTES_PER_DENSE_ENTRY * n * n) / 2**20 * 1.5
    solver, reason = choose_solver(Equations(model, operator=True), enough, exact=True)
    assert solver.name == "cholesky" and not solver.equations.dense_terms
    objective = Objective(model, "auto", memory_mb=None, exact=False)
    assert objective.solver.name == "cholesky"


def test_sampled_traces_through_the_operator(case, no_merge):
    """Per probe Σ_c coef_c x'M_c z / scale_c = x'Cz = z'z = N exactly (x = C⁻¹z): without the
    dense blocks' share of the traces the sum falls short."""
    _, _, records, single, _ = case
    model = _model(records, single, ("a", "b"))
    vc = _components(model, ("a", "b"))
    eq = Equations(model, operator=True)
    coef = eq.coefficients(vc)
    solver = make_solver("pcg", eq, probes=400, seed=3, trace_tolerance=1e-11, probe_block=100)
    solver.update(eq.assemble(coef))
    sampled = solver.traces()
    per_probe = solver.probe_traces.samples / eq.trace_scale
    np.testing.assert_allclose(per_probe @ coef, model.n_unknowns, rtol=1e-7)
    assert np.all(np.isfinite(sampled))


def test_sampled_traces_agree_with_the_exact_ones(case):
    """The mean over probes estimates the exact traces (CHOLMOD's selected inverse on the merged
    equations) within 4 Monte Carlo SE."""
    _, _, records, single, _ = case
    model = _model(records, single, ("a", "b"))
    vc = _components(model, ("a", "b"))
    apart = Equations(model, operator=True)
    pcg = make_solver("pcg", apart, probes=400, seed=3, trace_tolerance=1e-11, probe_block=100)
    pcg.update(apart.assemble(apart.coefficients(vc)))
    sampled = pcg.traces()
    se = np.sqrt(np.diag(pcg.probe_traces.covariance))
    merged = Equations(model)
    chol = make_solver("cholesky", merged)
    chol.update(merged.assemble(merged.coefficients(vc)))
    exact = chol.traces()
    assert np.all(np.abs(sampled - exact) < 4 * se + 1e-12)
    random = [i for i, c in enumerate(merged.components) if c.kind == "random"]
    assert np.all(se[random] < 0.05 * np.abs(exact[random]))  # the check has power


def test_monte_carlo_reml_through_the_operator_equals_it_on_the_merged_equations(case, monkeypatch):
    """Single step, one trait, Monte Carlo REML with the same 64 probes: PCG with the genotyped
    block as an operator (never merged) reaches the estimates and Monte Carlo SE of PCG on the
    merged equations (traces per probe agree to the solver tolerance)."""
    from henderson.reml import default_start
    from henderson.reml.stochastic import MonteCarlo, estimate_stochastic
    from henderson.solvers.pcg import PCGSolver

    _, _, records, single, _ = case
    model = _model(records, single, ("a",))
    mc = MonteCarlo(probes=64, seed=1)
    monkeypatch.setattr(PCGSolver, "operator", False)
    merged, on_merged, _ = estimate_stochastic(model, default_start(model), mc=mc)
    assert not on_merged.equations.dense_terms
    monkeypatch.setattr(PCGSolver, "operator", True)
    _refuse_merges(monkeypatch)
    fit, objective, _ = estimate_stochastic(model, default_start(model), mc=mc)
    assert fit.converged and objective.equations.dense_terms
    assert fit.iterations == merged.iterations
    np.testing.assert_allclose(fit.components.theta, merged.components.theta, rtol=1e-6)
    np.testing.assert_allclose(fit.monte_carlo_se, merged.monte_carlo_se, rtol=1e-5)


def test_single_step_with_apy_holds_d_as_products(case, monkeypatch):
    """APY single step: H⁻¹ = A⁻¹ + [0 0; 0 G_APY⁻¹ − A22⁻¹] held as products (no n_g × n_g
    array): products, log|H| and the merged matrix against the dense H⁻¹ (1e-9), the
    preconditioner's diagonal a lower bound of diag(D), and PCG through the products equal to
    CHOLMOD on the merged equations."""
    ped, geno, records, _, _ = case
    every = gene_drop(ped, 400, 9)
    core = geno[::3]
    options = GenomicOptions(blend=0.05, apy="always", apy_core_ids=tuple(ped.ids[core]))
    rel = single_step_relationship(ped, ped.ids[geno], every[geno], options)
    assert isinstance(rel.dense, SingleStepBlock)
    big = len(geno) ** 2  # no n_g × n_g array is kept
    assert not any(isinstance(v, np.ndarray) and v.size >= big for v in vars(rel.dense).values())
    # dense oracle: G* of the data, its APY form on the core, A22 from the tabular A
    a = relationship_matrix_dense(ped)
    a22 = a[np.ix_(geno, geno)]
    g = 0.95 * vanraden_oracle(every[geno]) + 0.05 * a22
    g_apy = apy_g_oracle(g, np.flatnonzero(np.isin(geno, core)))
    hinv = np.linalg.inv(a)
    hinv[np.ix_(geno, geno)] += np.linalg.inv(g_apy) - np.linalg.inv(a22)
    scale = np.abs(hinv).max()
    x = np.random.default_rng(1).normal(size=(len(ped.ids), 3))
    np.testing.assert_allclose(rel.kinv_times(x), hinv @ x, rtol=0, atol=1e-9 * np.abs(hinv @ x).max())
    assert rel.logdet == pytest.approx(-np.linalg.slogdet(hinv)[1], abs=1e-8)
    d = hinv[np.ix_(geno, geno)] - np.linalg.inv(a)[np.ix_(geno, geno)]
    assert np.all(rel.dense.preconditioner_diagonal() <= np.diag(d) + 1e-9)
    np.testing.assert_allclose(rel.diagonal[geno], np.diag(g_apy), rtol=0, atol=1e-9)
    model = _model(records, rel, ("a",))
    vc = _components(model, ("a",))
    exact = solve(model, vc, solver="cholesky")  # merges: D formed densely
    np.testing.assert_allclose(rel.kinv_matrix().toarray(), hinv, rtol=0, atol=1e-9 * scale)
    _refuse_merges(monkeypatch)
    iterative = solve(model, vc, solver="pcg", tol=1e-12)
    x_exact = _estimates(exact)
    np.testing.assert_allclose(_estimates(iterative), x_exact, rtol=0, atol=AGREE * np.abs(x_exact).max())


def test_many_columns_through_the_operator_match_the_merged_solve(case, monkeypatch):
    """A block of right-hand sides large enough for PCG's fused kernels (N·m ≥ 2²⁰ entries),
    with the genotyped block applied as products (never merged) and 2 × 2 preconditioner
    blocks: each column agrees with CHOLMOD on the merged equations to AGREE of its largest
    value."""
    from henderson.solvers.pcg import PARALLEL_SIZE

    _, _, records, single, _ = case
    model = _model(records, single, ("a", "b"))
    vc = _components(model, ("a", "b"))
    n = model.n_unknowns
    m = -(-PARALLEL_SIZE // n) + 1
    b = np.random.default_rng(5).choice([-1.0, 1.0], size=(n, m))
    with monkeypatch.context() as patch:
        _refuse_merges(patch)
        apart = Equations(model, operator=True)
        pcg = make_solver("pcg", apart)
        pcg.update(apart.assemble(apart.coefficients(vc)))
        x = pcg.solve(b)
    merged = Equations(model)
    exact = make_solver("cholesky", merged)
    exact.update(merged.assemble(merged.coefficients(vc)))
    for j in (0, m // 2, m - 1):
        direct = exact.solve(b[:, j])
        np.testing.assert_allclose(x[:, j], direct, rtol=0, atol=AGREE * np.abs(direct).max())
