"""The tiled Cholesky factor and inverse (henderson.genomic.blocked) against numpy's dense
Cholesky and inverse, for tile sizes that do and do not divide n, and cholesky_inverse on its
blocked path against its LAPACK path."""

from __future__ import annotations

import numpy as np
import pytest

from henderson.errors import NumericalError
from henderson.genomic import dense
from henderson.genomic.blocked import (
    blocked_cholesky,
    blocked_inverse,
    lower_rank_update,
)


def _spd(n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, n + 3))
    return z @ z.T / n + 0.05 * np.eye(n)


@pytest.mark.parametrize("n,tile", [(1, 4), (9, 3), (100, 32), (257, 64), (300, 512)])
def test_blocked_factor_and_inverse_match_numpy(n, tile):
    a = _spd(n, n)
    work = np.asfortranarray(a.copy())
    assert blocked_cholesky(work, tile) == 0
    np.testing.assert_allclose(np.tril(work), np.linalg.cholesky(a), rtol=0, atol=1e-12)
    assert blocked_inverse(work, tile) == 0
    want = np.linalg.inv(a)
    got = np.tril(work) + np.tril(work, -1).T
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * np.abs(want).max())


def test_blocked_factor_reports_the_first_failing_row():
    a = _spd(40, 1)
    a[25, :] = a[:, 25] = 0.0  # row 25 (0-based) has a zero pivot
    assert blocked_cholesky(np.asfortranarray(a), 8) == 26  # LAPACK's 1-based info
    with pytest.raises(ValueError, match="Fortran order"):
        blocked_cholesky(np.ascontiguousarray(_spd(5, 2)), 2)


def test_cholesky_inverse_on_the_blocked_path_equals_lapack(monkeypatch):
    a = _spd(300, 3)
    want, logdet = dense.cholesky_inverse(a.copy())
    monkeypatch.setattr(dense, "BLOCKED_SIZE", 100)
    got, logdet_blocked = dense.cholesky_inverse(a.copy(), overwrite=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * np.abs(want).max())
    assert logdet_blocked == pytest.approx(logdet, abs=1e-10)
    assert np.array_equal(got, got.T)
    singular = a.copy()
    singular[:, 250] = singular[250, :] = 0.0
    with pytest.raises(NumericalError, match="row 250"):
        dense.cholesky_inverse(singular, what="G*")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lower_rank_update_matches_the_product(dtype):
    rng = np.random.default_rng(4)
    a = np.asfortranarray(rng.normal(size=(130, 17)).astype(dtype))
    c = np.asfortranarray(_spd(130, 5).astype(dtype))
    want = np.tril(c.astype(float) - 2.0 * a.astype(float) @ a.T.astype(float))
    lower_rank_update(c, a, alpha=-2.0, tile=32)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(np.tril(c), want, rtol=0, atol=tol * np.abs(want).max())
    part = np.asfortranarray(np.zeros((130, 130), dtype=dtype))
    lower_rank_update(part, a, columns=(3, 9), tile=50)
    np.testing.assert_allclose(np.tril(part), np.tril(a[:, 3:9].astype(float) @ a[:, 3:9].T.astype(float)),
                               rtol=0, atol=tol * 10)
    with pytest.raises(ValueError, match="Fortran order"):
        lower_rank_update(c, np.ascontiguousarray(a.astype(np.float64)))
