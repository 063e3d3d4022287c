"""The elimination order and the kind of factor behind SparseCholesky, on mixed-model-shaped
matrices large enough (over 5,000 unknowns) for the order to be postordered and the kind chosen
from the column counts; solutions, log-determinants and selected inverses against dense numpy
oracles (tolerances per test: far above double-precision rounding on these well-conditioned
matrices, far below what a misplaced entry makes)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from henderson.linalg import SparseCholesky
from henderson.linalg.ordering import (
    dense_columns,
    dense_limit,
    elimination_order,
    factor_kind,
)
from henderson.linalg.symbolic import (
    column_counts,
    elimination_tree,
    factor_entries,
    postorder,
)


def animal_model_lhs(seed: int, n_animals: int = 5_400, n_herds: int = 40, traits: int = 1) -> sp.csc_matrix:
    """[[X'X, X'Z], [Z'X, Z'Z + 2 A⁻¹]] (⊗ a trait covariance for `traits` > 1) with X =
    [intercept, herd 2..n_herds]: the intercept and the herds are columns of hundreds of
    entries, the animals' columns have a handful."""
    rng = np.random.default_rng(seed)
    sire = np.where(np.arange(n_animals) < 200, -1, rng.integers(0, 60, n_animals))
    dam = np.where(np.arange(n_animals) < 200, -1, rng.integers(60, 200, n_animals))
    rows, cols, vals = [], [], []
    for i in range(n_animals):
        parents = [p for p in (sire[i], dam[i]) if p >= 0]
        w = {0: 1.0, 1: 4.0 / 3.0, 2: 2.0}[len(parents)]
        members, coef = [i] + parents, [1.0] + [-0.5] * len(parents)
        for a, ca in zip(members, coef):
            for b, cb in zip(members, coef):
                rows.append(a)
                cols.append(b)
                vals.append(w * ca * cb)
    ainv = sp.csc_matrix((vals, (rows, cols)), shape=(n_animals, n_animals))
    records = np.arange(200, n_animals)
    herd = rng.integers(0, n_herds, records.size)
    x = sp.hstack([sp.csc_matrix(np.ones((records.size, 1))),
                   sp.csc_matrix((np.ones(records.size), (np.arange(records.size), herd)),
                                 shape=(records.size, n_herds))[:, 1:]]).tocsc()
    z = sp.csc_matrix((np.ones(records.size), (np.arange(records.size), records)),
                      shape=(records.size, n_animals))
    w_ = sp.hstack([x, z]).tocsc()
    lhs = (w_.T @ w_ + sp.block_diag([sp.csc_matrix((x.shape[1], x.shape[1])), 2.0 * ainv])).tocsc()
    if traits > 1:
        r0 = np.eye(traits) + 0.3
        lhs = sp.kron(sp.csc_matrix(lhs), sp.csc_matrix(np.linalg.inv(r0))).tocsc()
    lhs = sp.csc_matrix(lhs)
    lhs.sum_duplicates()
    return lhs


def test_default_order_is_a_permutation_with_the_dense_columns_last():
    lhs = animal_model_lhs(1)
    n = lhs.shape[0]
    order = elimination_order(lhs)
    assert np.array_equal(np.sort(order), np.arange(n))
    dense = dense_columns(lhs)
    degree = np.diff(lhs.indptr)
    # the intercept, the herds (about 130 records each) and the sires with most progeny: columns
    # of over √n entries, no more than 2√n of them
    assert 40 < dense.size <= 2 * np.sqrt(n) and np.all(degree[dense] > np.sqrt(n))
    assert set(dense) == set(np.flatnonzero(degree > dense_limit(degree)))
    assert np.array_equal(order[-dense.size:], dense)
    assert np.all(np.diff(degree[dense]) >= 0)
    for name in ("natural", "amd", "metis"):
        assert np.array_equal(np.sort(elimination_order(lhs, name)), np.arange(n))
    with pytest.raises(ValueError, match="ordering"):
        elimination_order(lhs, "colamd-ish")


def test_dense_limit_sets_aside_at_most_2_root_n_columns_between_root_n_and_2_root_n():
    n = 10_000  # √n = 100, 2√n = 200: a trailing block of at most 200 columns
    rng = np.random.default_rng(5)
    degree = rng.integers(2, 20, n)
    # nothing above √n: nothing dense
    assert not np.any(degree > dense_limit(degree))
    # 50 columns between √n and 2√n: all dense
    degree[:50] = rng.integers(101, 200, 50)
    assert np.array_equal(np.flatnonzero(degree > dense_limit(degree)), np.arange(50))
    # 600 of them: the densest, at most 200, and every one set aside denser than every one kept
    degree[:600] = rng.integers(101, 200, 600)
    limit = dense_limit(degree)
    dense = degree > limit
    assert 150 <= dense.sum() <= 200 and 100 <= limit < 200
    assert degree[dense].min() > degree[~dense].max()
    # above 2√n always, however many
    degree[:300] = 250
    assert dense_limit(degree) == 200.0 and np.sum(degree > dense_limit(degree)) == 300
    # small patterns: never below 16 entries
    assert dense_limit(np.full(100, 12)) == 16.0 and dense_limit(np.r_[np.full(99, 3), 15]) == 16.0


def test_sparse_factors_take_the_lowered_limit_and_dense_factors_the_2_root_n_one():
    # an animal model with columns between √n and 2√n entries: a simplicial factor (its kind, or
    # asked for) sets them last; a supernodal one keeps them in AMD's order
    lhs = animal_model_lhs(1)
    assert not np.array_equal(dense_columns(lhs), dense_columns(lhs, lowered=False))

    def postordered(lowered):
        order = elimination_order(lhs, lowered=lowered)
        return order[postorder(elimination_tree(lhs, order)[0])]

    chol = SparseCholesky(lhs)
    assert chol.kind == "simplicial" and np.array_equal(chol.permutation, postordered(True))
    assert np.array_equal(SparseCholesky(lhs, mode="simplicial").permutation, postordered(True))
    assert np.array_equal(SparseCholesky(lhs, mode="supernodal").permutation, postordered(False))


def test_postorder_keeps_the_fill_and_puts_children_before_parents():
    lhs = animal_model_lhs(2)
    order = elimination_order(lhs)
    parent, counts = elimination_tree(lhs, order)
    post = postorder(parent)
    assert np.array_equal(np.sort(post), np.arange(parent.size))
    where = np.empty_like(post)
    where[post] = np.arange(post.size)
    children = np.flatnonzero(parent >= 0)
    assert np.all(where[children] < where[parent[children]])
    # same factor entries, column by column, in the postordered order
    assert np.array_equal(column_counts(lhs, order[post]), counts[post])
    assert factor_entries(lhs, order[post]) == counts.sum()
    # each subtree is contiguous: a column's descendants are the count of positions before it
    size = np.ones(parent.size, np.int64)
    for j in post:  # children first
        if parent[j] >= 0:
            size[parent[j]] += size[j]
    first = where - size + 1
    kids = children[np.argsort(where[children])]
    assert np.all(first[kids] >= first[parent[kids]])


def test_factor_kind_follows_the_work_per_entry():
    assert factor_kind(np.ones(1000, np.int64)) == "simplicial"  # a diagonal
    dense_block = np.arange(400, 0, -1)  # a dense 400 × 400 factor: work per entry about 267
    assert factor_kind(dense_block) == "supernodal"


@pytest.mark.parametrize("traits, mode", [(1, "auto"), (1, "supernodal"), (3, "auto"), (3, "simplicial")])
def test_factor_on_the_default_order_against_dense_oracles(traits, mode):
    """Animal model and three traits, either kind of factor: solve, log|A|, diag(A⁻¹), entries
    of A⁻¹ on A's pattern and draws with precision A against numpy, relative 1e-8."""
    lhs = animal_model_lhs(3, n_animals=5_400 if traits == 1 else 1_800, traits=traits)
    n = lhs.shape[0]
    assert n >= 5_000
    chol = SparseCholesky(lhs, mode=mode).factorize(lhs)
    counts = column_counts(lhs, chol.permutation)
    assert chol.kind == (factor_kind(counts) if mode == "auto" else mode)
    if traits == 1:  # an animal model's factor: a few entries per column, simplicial
        assert chol.kind == "simplicial" or mode != "auto"
    assert chol.predicted_factor_nnz() == counts.sum() == factor_entries(lhs, chol.permutation)
    dense = lhs.toarray()
    rng = np.random.default_rng(4)
    b = rng.normal(size=(n, 2))
    x = chol.solve(b)
    assert np.allclose(dense @ x, b, rtol=0, atol=1e-8 * np.abs(b).max())
    sign, logdet = np.linalg.slogdet(dense)
    assert sign > 0 and chol.logdet() == pytest.approx(logdet, rel=1e-10)
    picks = np.concatenate([dense_columns(lhs)[:3], rng.choice(n, 5, replace=False)])
    columns = np.linalg.solve(dense, np.eye(n)[:, picks])
    diag = chol.inverse_diagonal()
    assert np.allclose(diag[picks], columns[picks, np.arange(picks.size)], rtol=1e-8, atol=0)
    selected = chol.selected_inverse()
    for k, j in enumerate(picks):
        rows = lhs[:, j].indices  # A's own pattern lies inside the selected inverse
        got = selected[rows, j].toarray().ravel()
        assert np.allclose(got, columns[rows, k], rtol=1e-8, atol=1e-12 * np.abs(columns[:, k]).max())
    z = rng.normal(size=(n, 3))
    draws = chol.inverse_root_times(z)  # x = P' L'⁻¹ z, so x' A x = z' z
    assert np.allclose(draws.T @ dense @ draws, z.T @ z, rtol=1e-8, atol=1e-8 * n)


def test_a_matrix_on_part_of_the_pattern_is_factored_in_the_same_order():
    lhs = animal_model_lhs(5)
    chol = SparseCholesky(lhs)
    lower = sp.tril(lhs, k=-1).tocoo()
    drop = lower.row[0], lower.col[0]  # one off-diagonal pair left out of the pattern
    mask = sp.csc_matrix((np.ones(2), ([drop[0], drop[1]], [drop[1], drop[0]])), shape=lhs.shape)
    part = sp.csc_matrix(lhs - lhs.multiply(mask))
    part.eliminate_zeros()
    assert part.nnz == lhs.nnz - 2
    chol.factorize(part)
    b = np.ones(lhs.shape[0])
    assert np.allclose(part @ chol.solve(b), b, atol=1e-9)
    chol.factorize(lhs)
    assert np.allclose(lhs @ chol.solve(b), b, atol=1e-9)
