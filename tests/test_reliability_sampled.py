"""Sampled PEV (henderson.reliability.sampled) against the exact selected inverse, its Monte
Carlo SE against the spread between seeds, and the `reliability` option of solve()."""

from __future__ import annotations

import numpy as np
import pytest
from test_reliability_approximate import exact_diagonal, simulated_case

from henderson.errors import ConfigError
from henderson.mme import Equations
from henderson.reliability import sampled_inverse_diagonal
from henderson.solutions import solve
from henderson.solvers import make_solver


def _sampled(model, vc, samples, seed, solver="pcg"):
    eq = Equations(model)
    options = {"tol": 1e-10, "log_every": 0} if solver == "pcg" else {}
    s = make_solver(solver, eq, **options)
    s.update(eq.assemble(eq.coefficients(vc)))
    return sampled_inverse_diagonal(model, vc, eq, s, samples=samples, seed=seed)


@pytest.mark.parametrize(("case", "options"), [("univariate", {}), ("maternal", {"maternal": True}),
                                               ("two traits", {"traits": 2})])
def test_sampled_pev_is_within_its_monte_carlo_se_of_the_exact(case, options):
    """1,500 simulated animals, 300 samples, seed 11: z = (sampled − exact) / MC SE over every
    unknown (fixed effects too) has |mean| ≤ 0.25 and SD in [0.8, 1.25], and at least 97 % of
    the unknowns are within 3 MC SE (a normal z: 99.7 %; the mean of 300 squared normals is
    slightly skewed and its SE estimated)."""
    model, vc = simulated_case(1500, **options)
    exact = exact_diagonal(model, vc)
    sampled = _sampled(model, vc, 300, 11)
    spread = sampled.mc_se > 0  # no spread: a level with no information at all, PEV = prior exactly
    np.testing.assert_allclose(sampled.diagonal[~spread], exact[~spread], rtol=1e-8)
    z = (sampled.diagonal[spread] - exact[spread]) / sampled.mc_se[spread]
    assert abs(z.mean()) <= 0.25, (case, z.mean())
    assert 0.8 <= z.std() <= 1.25, (case, z.std())
    assert np.mean(np.abs(z) < 3) >= 0.97, case


def test_monte_carlo_se_matches_the_spread_between_seeds():
    """Two seeds of 100 samples each: their difference over √(SE₁² + SE₂²) has SD 1 ± 0.15."""
    model, vc = simulated_case(1500)
    a, b = _sampled(model, vc, 100, 1, "cholesky"), _sampled(model, vc, 100, 2, "cholesky")
    both = (a.mc_se > 0) & (b.mc_se > 0)
    z = (a.diagonal - b.diagonal)[both] / np.hypot(a.mc_se, b.mc_se)[both]
    assert 0.85 <= z.std() <= 1.15


def test_solve_names_the_reliability_method():
    """solve(): `auto` is exact with Cholesky and approximate with PCG; `sampled` adds the MC SE
    column and names samples and mean MC SE; `exact` makes `auto` factorise even when the
    factor does not fit (here: 1e-6 MB), and an unknown method is refused."""
    model, vc = simulated_case(800)
    exact = solve(model, vc, solver="cholesky")
    assert exact.solver["reliability"] == {"method": "exact"}
    approx = solve(model, vc, solver="pcg")
    assert approx.solver["reliability"] == {"method": "approximate"}
    sampled = solve(model, vc, solver="pcg", reliability="sampled", samples=40)
    info = sampled.solver["reliability"]
    assert info["method"] == "sampled" and info["samples"] == 40 and info["iterations"] > 0
    assert 0 < info["mean_mc_se"] < 0.5 / np.sqrt(40) + 1e-9
    table = sampled.table
    rows = table["reliability"].notna()
    assert table.loc[rows, "reliability_mc_se"].notna().all() and table.loc[~rows, "reliability_mc_se"].isna().all()
    assert sampled.solver["iterations"] == approx.solver["iterations"]  # the samples' iterations are apart
    forced = solve(model, vc, solver="auto", memory_mb=1e-6, reliability="exact")
    assert forced.solver["name"] == "cholesky"
    np.testing.assert_allclose(forced.table["reliability"], exact.table["reliability"], equal_nan=True)
    with pytest.raises(ConfigError, match="reliability"):
        solve(model, vc, solver="pcg", reliability="fast")
