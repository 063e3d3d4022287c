"""Tests for henderson.linalg against dense numpy oracles.

Test matrices are a few hundred unknowns and shaped like mixed-model equations: a pedigree
A⁻¹ block (Henderson's rules, no inbreeding) times a variance ratio, plus design cross-products
with an intercept (a dense row and column), herd levels and a covariate. Tolerances, stated per
test, are far above what double precision gives on these well-conditioned matrices
(condition numbers below 1e5) and far below any error a wrong entry would make.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp

from henderson.errors import NumericalError
from henderson.linalg import SparseCholesky, pcg, trace_of_product

MODES = ["supernodal", "simplicial"]


# --------------------------------------------------------------------------------------------
# Test matrices
# --------------------------------------------------------------------------------------------
def pedigree_ainv(n_animals: int, rng: np.random.Generator) -> sp.csc_matrix:
    """A⁻¹ by Henderson's rules (no inbreeding); the first 20 animals are founders."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i in range(n_animals):
        parents = [] if i < 20 else sorted({int(p) for p in rng.integers(0, i, 2)})
        if i >= 20 and rng.random() < 0.2:
            parents = parents[:1]  # one parent unknown
        w = {0: 1.0, 1: 4.0 / 3.0, 2: 2.0}[len(parents)]
        members = [i] + parents
        coef = [1.0] + [-0.5] * len(parents)
        for a, ca in zip(members, coef):
            for b, cb in zip(members, coef):
                rows.append(a)
                cols.append(b)
                vals.append(w * ca * cb)
    return sp.csc_matrix((vals, (rows, cols)), shape=(n_animals, n_animals))


def mme_lhs(rng: np.random.Generator, n_animals: int = 240, n_records: int = 400,
            n_herds: int = 12, ratio: float = 2.0) -> sp.csc_matrix:
    """[[X'X, X'Z], [Z'X, Z'Z + ratio·A⁻¹]] with X = [1, covariate, herd 2..n_herds]."""
    herd = rng.integers(0, n_herds, n_records)
    herd[:n_herds] = np.arange(n_herds)  # every herd has a record
    x_cov = rng.normal(size=n_records)
    animal = rng.integers(0, n_animals, n_records)
    x = sp.hstack([
        sp.csc_matrix(np.ones((n_records, 1))),
        sp.csc_matrix(x_cov[:, None]),
        sp.csc_matrix((np.ones(n_records), (np.arange(n_records), herd)),
                      shape=(n_records, n_herds))[:, 1:],
    ]).tocsc()
    z = sp.csc_matrix((np.ones(n_records), (np.arange(n_records), animal)),
                      shape=(n_records, n_animals))
    w = sp.hstack([x, z]).tocsc()
    lhs = (w.T @ w).tolil()
    p = x.shape[1]
    lhs[p:, p:] = lhs[p:, p:] + ratio * pedigree_ainv(n_animals, rng)
    return sp.csc_matrix(lhs)


def random_spd(rng: np.random.Generator, n: int = 300, density: float = 0.01,
               dense_row: int | None = None) -> sp.csc_matrix:
    """Random sparse symmetric, diagonally dominant (so SPD); optionally one dense row/column."""
    b = sp.random(n, n, density=density, random_state=rng, format="csc")
    b.data = rng.uniform(-1.0, 1.0, b.nnz)
    a = (b + b.T).tolil()
    if dense_row is not None:
        vals = rng.uniform(-0.3, 0.3, n)
        a[dense_row, :] = vals
        a[:, dense_row] = vals[:, None]
    a = sp.csc_matrix(a)
    a.setdiag(0.0)
    a.eliminate_zeros()
    dominance = np.asarray(abs(a).sum(axis=1)).ravel() + rng.uniform(0.1, 1.0, n)
    return (a + sp.diags(dominance)).tocsc()


MATRICES = {
    "mme": lambda rng: mme_lhs(rng),
    "random": lambda rng: random_spd(rng),
    "random_dense_row": lambda rng: random_spd(rng, dense_row=137),
}


@pytest.fixture(params=sorted(MATRICES))
def matrix(request) -> sp.csc_matrix:
    return MATRICES[request.param](np.random.default_rng(20240611))


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# --------------------------------------------------------------------------------------------
# Cholesky: solve, logdet, selected inverse
# --------------------------------------------------------------------------------------------
def test_solve_matches_dense(matrix, mode):
    dense = matrix.toarray()
    chol = SparseCholesky(matrix, mode=mode).factorize(matrix)
    rng = np.random.default_rng(1)
    b1 = rng.normal(size=matrix.shape[0])
    b2 = rng.normal(size=(matrix.shape[0], 3))
    x1 = chol.solve(b1)
    x2 = chol.solve(b2)
    assert x1.shape == b1.shape and x2.shape == b2.shape
    # solutions: max abs error relative to max |x|, 1e-10
    assert rel_err(x1, np.linalg.solve(dense, b1)) < 1e-10
    assert rel_err(x2, np.linalg.solve(dense, b2)) < 1e-10


def test_logdet_matches_slogdet(matrix, mode):
    chol = SparseCholesky(matrix, mode=mode).factorize(matrix)
    sign, ref = np.linalg.slogdet(matrix.toarray())
    assert sign == 1.0
    # log-determinant: relative error 1e-10
    assert abs(chol.logdet() - ref) <= 1e-10 * abs(ref)


def test_selected_inverse_matches_dense_inverse(matrix, mode):
    n = matrix.shape[0]
    inv = np.linalg.inv(matrix.toarray())
    chol = SparseCholesky(matrix, mode=mode).factorize(matrix)
    z = chol.selected_inverse()
    assert isinstance(z, sp.csc_matrix) and z.shape == (n, n)
    assert z.has_sorted_indices
    # exactly symmetric: the same stored value serves (i, j) and (j, i)
    assert (z != z.T).nnz == 0
    # pattern = P'(L + L')P, so nnz = 2 nnz(L) - n
    assert z.nnz == 2 * chol.factor_nnz - n
    # covers every structural entry of A
    a_pattern = sp.csc_matrix((np.ones(matrix.nnz), matrix.indices, matrix.indptr), shape=(n, n))
    z_pattern = sp.csc_matrix((np.ones(z.nnz), z.indices, z.indptr), shape=(n, n))
    assert (a_pattern + z_pattern).nnz == z.nnz
    # values on the returned pattern: max abs error relative to max |A⁻¹|, 1e-10
    rows, cols = z.nonzero()
    stored = np.asarray(z[rows, cols]).ravel()
    assert rel_err(stored, inv[rows, cols]) < 1e-10
    coo = z.tocoo()
    assert rel_err(coo.data, inv[coo.row, coo.col]) < 1e-10


def test_selected_inverse_positions_gather_the_inverse_on_a_pattern(matrix, mode):
    inv = np.linalg.inv(matrix.toarray())
    chol = SparseCholesky(matrix, mode=mode).factorize(matrix)
    pattern = sp.csc_matrix(matrix)
    pattern.sort_indices()
    positions = chol.selected_inverse_positions(pattern)
    assert positions.shape == (pattern.nnz,)
    cols = np.repeat(np.arange(pattern.shape[1]), np.diff(pattern.indptr))
    # the gathered values are A⁻¹ at every stored (i, j) of A: max abs error relative to max |A⁻¹|, 1e-10
    assert rel_err(chol.selected_inverse_data()[positions], inv[pattern.indices, cols]) < 1e-10
    # (i, j) and (j, i) share one stored value
    upper = sp.csc_matrix(pattern.T)
    upper.sort_indices()
    assert np.array_equal(np.sort(chol.selected_inverse_positions(upper)), np.sort(positions))


def test_selected_inverse_positions_refuse_entries_outside_the_factor():
    diagonal = sp.identity(5, format="csc") * 2.0
    chol = SparseCholesky(diagonal).factorize(diagonal)
    with pytest.raises(RuntimeError, match="does not cover"):
        chol.selected_inverse_positions(sp.csc_matrix(np.ones((5, 5))))


def test_inverse_diagonal(matrix, mode):
    inv = np.linalg.inv(matrix.toarray())
    chol = SparseCholesky(matrix, mode=mode).factorize(matrix)
    d = chol.inverse_diagonal()
    assert d.shape == (matrix.shape[0],)
    # diag(A⁻¹) > 0: relative error per entry 1e-10
    np.testing.assert_allclose(d, np.diag(inv), rtol=1e-10, atol=0)
    np.testing.assert_array_equal(d, chol.selected_inverse().diagonal())


def test_natural_ordering_has_identity_permutation():
    a = random_spd(np.random.default_rng(5), n=120, density=0.03)
    chol = SparseCholesky(a, ordering="natural").factorize(a)
    np.testing.assert_array_equal(chol.permutation, np.arange(120))
    np.testing.assert_allclose(chol.inverse_diagonal(), np.diag(np.linalg.inv(a.toarray())),
                               rtol=1e-10)


def test_orderings_agree():
    a = mme_lhs(np.random.default_rng(8), n_animals=150, n_records=200)
    ref = SparseCholesky(a, ordering="amd").factorize(a)
    other = SparseCholesky(a, ordering="metis").factorize(a)
    # same matrix, different elimination orders: 1e-10 relative
    assert abs(ref.logdet() - other.logdet()) <= 1e-10 * abs(ref.logdet())
    np.testing.assert_allclose(ref.inverse_diagonal(), other.inverse_diagonal(), rtol=1e-10)


def scalar_takahashi(indptr, indices, ldata) -> dict[tuple[int, int], float]:
    """Slow oracle: the column recurrences for A = L̃ D L̃' (unit L̃) on a dict, j = n-1 .. 0.

    Z_ij = -Σ_{k∈S_j} L̃_kj Z_ik (i ∈ S_j),  Z_jj = 1/d_j - Σ_{k∈S_j} L̃_kj Z_kj,
    with L̃ = L / diag(L) and d = diag(L)² from the LL' factor.
    """
    n = len(indptr) - 1
    z: dict[tuple[int, int], float] = {}

    def get(i, k):
        return z[(max(i, k), min(i, k))]

    for j in range(n - 1, -1, -1):
        lj = ldata[indptr[j]]
        below = [(int(indices[q]), ldata[q] / lj) for q in range(indptr[j] + 1, indptr[j + 1])]
        for i, _ in below:
            z[(i, j)] = -sum(lkj * get(i, k) for k, lkj in below)
        z[(j, j)] = 1.0 / lj**2 - sum(lkj * z[(k, j)] for k, lkj in below)
    return z


@pytest.mark.parametrize("mode", MODES)
def test_selected_inverse_matches_scalar_recurrence(mode):
    a = random_spd(np.random.default_rng(3), n=150, density=0.02, dense_row=40)
    chol = SparseCholesky(a, mode=mode).factorize(a)
    # selected_inverse() raises unless the supernodal kernel succeeds (pattern closed, no overflow)
    z = chol.selected_inverse()
    perm = chol.permutation
    n = a.shape[0]
    # The pattern of L (permuted order) is the lower triangle of P z P' (z covers L + L').
    ones = sp.csc_matrix((np.ones(z.nnz), z.indices, z.indptr), shape=(n, n))
    lower = sp.tril(ones[perm, :][:, perm], format="csc")
    lower.sort_indices()
    indptr, indices = lower.indptr, lower.indices
    assert indptr[-1] == chol.factor_nnz
    cols = np.repeat(np.arange(n), np.diff(indptr))
    # L from a dense Cholesky of the permuted matrix, read on that pattern
    ldense = np.linalg.cholesky(a.toarray()[np.ix_(perm, perm)])
    ldata = ldense[indices, cols]
    oracle = scalar_takahashi(indptr, indices, ldata)
    expected = np.array([oracle[(int(i), int(j))] for i, j in zip(indices, cols)])
    computed = np.asarray(z[perm[indices], perm[cols]]).ravel()
    # same recurrences, different summation order and factor rounding: 1e-12 relative to max |Z|
    assert rel_err(computed, expected) < 1e-12


def test_supernodes_are_dense_blocks():
    a = mme_lhs(np.random.default_rng(4))
    chol = SparseCholesky(a, mode="supernodal").factorize(a)
    chol._extract_factor()
    starts = chol._supernodes
    indptr, indices = chol._l_indptr, chol._l_indices
    assert starts[0] == 0 and starts[-1] == a.shape[0] and np.all(np.diff(starts) > 0)
    for f, l in pairwise(starts):
        head = indices[indptr[f]:indptr[f + 1]]
        for t in range(l - f):
            np.testing.assert_array_equal(indices[indptr[f + t]:indptr[f + t + 1]], head[t:])


# --------------------------------------------------------------------------------------------
# Refactorization
# --------------------------------------------------------------------------------------------
def test_refactorize_with_new_values(mode):
    rng = np.random.default_rng(6)
    lhs_a = mme_lhs(np.random.default_rng(6), ratio=0.5)
    lhs_b = mme_lhs(np.random.default_rng(6), ratio=7.0)  # same pattern, new values
    chol = SparseCholesky(lhs_a, mode=mode).factorize(lhs_a)
    first = chol.selected_inverse()
    assert chol.factorize(lhs_b) is chol
    dense = lhs_b.toarray()
    inv = np.linalg.inv(dense)
    b = rng.normal(size=lhs_b.shape[0])
    # 1e-10 relative, as for a fresh factorization
    assert rel_err(chol.solve(b), np.linalg.solve(dense, b)) < 1e-10
    ref_logdet = np.linalg.slogdet(dense)[1]
    assert abs(chol.logdet() - ref_logdet) <= 1e-10 * abs(ref_logdet)
    second = chol.selected_inverse()
    coo = second.tocoo()
    assert rel_err(coo.data, inv[coo.row, coo.col]) < 1e-10
    assert abs(first - second).max() > 1e-3  # the cached inverse was not reused
    np.testing.assert_allclose(chol.inverse_diagonal(), np.diag(inv), rtol=1e-10)


def test_refactorize_with_subpattern_and_explicit_zeros():
    a = random_spd(np.random.default_rng(7), n=200, density=0.02)
    chol = SparseCholesky(a)
    # drop some off-diagonal entries symmetrically (diagonal dominance keeps it SPD)
    upper = sp.triu(a, k=1).tocoo()
    keep = np.arange(upper.nnz) % 3 != 0
    off = sp.csc_matrix((upper.data[keep], (upper.row[keep], upper.col[keep])), shape=a.shape)
    sub = (off + off.T + sp.diags(a.diagonal())).tocsc()
    chol.factorize(sub)
    np.testing.assert_allclose(chol.inverse_diagonal(), np.diag(np.linalg.inv(sub.toarray())),
                               rtol=1e-10)
    # a stored zero is part of the pattern: analysing it keeps room for a later value there
    zero_pattern = a.copy()
    zero_pattern.data[:] = 0.0
    chol = SparseCholesky(zero_pattern).factorize(a)
    assert abs(chol.logdet() - np.linalg.slogdet(a.toarray())[1]) <= 1e-10 * abs(chol.logdet())


def test_factorize_rejects_entries_outside_pattern():
    a = random_spd(np.random.default_rng(9), n=100, density=0.02)
    chol = SparseCholesky(a)
    dense = a.toarray()
    i, j = np.argwhere(dense == 0)[0]
    dense[i, j] = dense[j, i] = 1e-3
    with pytest.raises(ValueError, match="outside the analysed pattern"):
        chol.factorize(sp.csc_matrix(dense))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["supernodal", "simplicial", "auto"])
@pytest.mark.parametrize("row", [0, 137, 299])
def test_indefinite_matrix_names_original_row(mode, row):
    a = random_spd(np.random.default_rng(10), n=300, density=0.01, dense_row=50).tolil()
    a[row, row] = -2.0  # every leading block without `row` stays diagonally dominant
    a = sp.csc_matrix(a)
    chol = SparseCholesky(a, mode=mode)
    with pytest.raises(NumericalError, match=rf"not positive definite: .* at row {row} \(0-based"):
        chol.factorize(a)
    with pytest.raises(RuntimeError, match="factorize"):
        chol.logdet()
    good = random_spd(np.random.default_rng(10), n=300, density=0.01, dense_row=50)
    chol.factorize(good)  # the same object recovers with a positive definite matrix
    assert abs(chol.logdet() - np.linalg.slogdet(good.toarray())[1]) <= 1e-10 * abs(chol.logdet())


def test_singular_matrix_is_reported():
    a = random_spd(np.random.default_rng(11), n=50, density=0.05).tolil()
    a[7, :] = 0.0
    a[:, 7] = 0.0  # an unknown without any equation
    a[7, 7] = 0.0
    a = sp.csc_matrix(a)
    with pytest.raises(NumericalError, match="row 7"):
        SparseCholesky(a, mode="supernodal").factorize(a)


def test_input_validation():
    a = random_spd(np.random.default_rng(12), n=40, density=0.1)
    with pytest.raises(TypeError):
        SparseCholesky(a.toarray())
    with pytest.raises(ValueError, match="square"):
        SparseCholesky(sp.csc_matrix(np.ones((3, 4))))
    with pytest.raises(ValueError, match="both triangles"):
        SparseCholesky(sp.triu(a).tocsc())
    with pytest.raises(ValueError, match="mode"):
        SparseCholesky(a, mode="dense")
    chol = SparseCholesky(a)
    with pytest.raises(RuntimeError):
        chol.solve(np.ones(40))
    with pytest.raises(RuntimeError):
        chol.selected_inverse()
    chol.factorize(a)
    assert chol.n == 40
    with pytest.raises(ValueError, match="rhs"):
        chol.solve(np.ones(39))
    with pytest.raises(ValueError):
        chol.factorize(random_spd(np.random.default_rng(12), n=41, density=0.1))


# --------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------
def test_trace_of_product_matches_dense(matrix):
    rng = np.random.default_rng(13)
    n = matrix.shape[0]
    inv = np.linalg.inv(matrix.toarray())
    z = SparseCholesky(matrix).factorize(matrix).selected_inverse()
    # tr(A⁻¹ A) = n
    assert abs(trace_of_product(z, matrix) - n) <= 1e-10 * n
    # random symmetric B on the pattern of A, and a block of it (REML: tr(C^{uu} A⁻¹))
    sym = matrix.copy()
    sym.data = rng.normal(size=sym.nnz)
    sym = (sym + sym.T).tocsc()
    block = sp.lil_matrix((n, n))
    block[n // 3:, n // 3:] = sym[n // 3:, n // 3:]
    for b in (sym, sp.csr_matrix(block), sp.coo_matrix(sym)):
        ref = np.trace(inv @ b.toarray())
        # traces: relative error 1e-10 of the sum of |terms|
        scale = np.sum(np.abs(inv * b.toarray().T))
        assert abs(trace_of_product(z, b) - ref) <= 1e-10 * scale


def test_trace_of_product_rejects_pattern_outside():
    a = random_spd(np.random.default_rng(14), n=120, density=0.01)
    z = SparseCholesky(a).factorize(a).selected_inverse()
    zd = z.toarray()
    i, j = np.argwhere(zd == 0)[0]
    b = sp.csc_matrix(([1.0, 1.0], ([i, j], [j, i])), shape=a.shape)
    with pytest.raises(ValueError, match="outside the pattern"):
        trace_of_product(z, b)
    # explicitly stored zeros outside the pattern are ignored
    b.data[:] = 0.0
    assert trace_of_product(z, b) == 0.0
    with pytest.raises(ValueError, match="shape"):
        trace_of_product(z, sp.identity(121, format="csc"))


# --------------------------------------------------------------------------------------------
# Preconditioned conjugate gradients
# --------------------------------------------------------------------------------------------
def test_pcg_matches_dense_solve(matrix):
    rng = np.random.default_rng(15)
    b = rng.normal(size=matrix.shape[0])
    ref = np.linalg.solve(matrix.toarray(), b)
    x, iterations, residual = pcg(lambda v: matrix @ v, b, precond_diag=matrix.diagonal(),
                                  tol=1e-12)
    assert 0 < iterations <= matrix.shape[0] * 2
    # stopping rule ‖r‖ ≤ 1e-12 ‖b‖; the true residual may drift slightly above it
    assert residual < 1e-11
    # error ≤ cond(A) · residual; cond < 1e5 here, so 1e-6 relative is a loose bound
    assert rel_err(x, ref) < 1e-6
    same = pcg(matrix, b, precond_diag=matrix.diagonal(), tol=1e-12)
    np.testing.assert_array_equal(same.x, x)  # deterministic, sparse matrix accepted


def test_pcg_edge_cases():
    a = mme_lhs(np.random.default_rng(16))
    n = a.shape[0]
    result = pcg(a, np.zeros(n), precond_diag=a.diagonal())
    assert result.iterations == 0 and not result.x.any()
    with pytest.raises(NumericalError, match="did not converge"):
        pcg(a, np.ones(n), precond_diag=a.diagonal(), max_iter=3)
    bad_diag = a.diagonal().copy()
    bad_diag[5] = 0.0
    with pytest.raises(NumericalError, match="row 5"):
        pcg(a, np.ones(n), precond_diag=bad_diag)
    with pytest.raises(NumericalError, match="not positive definite"):
        pcg(-a, np.ones(n), precond_diag=a.diagonal())


def test_factor_entries_follow_any_elimination_order():
    """The symbolic count of L's entries for a given order equals the nonzeros of the dense
    Cholesky factor of the matrix permuted to that order (random values: no cancellation)."""
    from henderson.linalg.symbolic import factor_entries

    rng = np.random.default_rng(3)
    n = 120
    a = sp.random(n, n, density=0.04, random_state=4)
    a = sp.csc_matrix(abs(a) + abs(a).T + sp.eye(n) * n)
    for _ in range(3):
        perm = rng.permutation(n)
        dense = np.linalg.cholesky(a.toarray()[np.ix_(perm, perm)])
        assert factor_entries(a, perm) == np.count_nonzero(np.tril(dense))
