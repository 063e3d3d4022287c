"""The solver interface: a solver without a log-determinant (as an iterative one will be) still
fits REML, because step acceptance does not need an exact logL; unknown solvers are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from henderson.design import iid_effect
from henderson.errors import ConfigError
from henderson.mme import Equations
from henderson.model import build_model
from henderson.reml import fit_reml
from henderson.solvers import make_solver, register_solver
from henderson.solvers.cholesky import CholeskySolver

DATA = Path(__file__).parent / "data"


class NoLogDet(CholeskySolver):
    """The exact solver with its log-determinant withheld."""

    name = "no-logdet"
    exact = False

    def logdet(self) -> None:
        return None


def penicillin():
    d = pd.read_csv(DATA / "penicillin.csv", dtype={"plate": str, "sample": str})
    return build_model(d, ["diameter"], ((), ()), [iid_effect("plate", d["plate"]), iid_effect("sample", d["sample"])])


@pytest.mark.parametrize("method", ["ai", "em"])
def test_reml_without_a_log_likelihood_reaches_the_same_optimum(method):
    register_solver("no-logdet", NoLogDet)
    model = penicillin()
    exact = fit_reml(model, method=method)
    blind = fit_reml(model, method=method, solver="no-logdet")
    assert blind.converged and blind.log_likelihood is None
    assert blind.solver == "no-logdet"
    assert set(blind.trace["log_likelihood"].isna()) == {True}
    # AI: Newton-decrement convergence (1e-4) puts θ within ~1e-7 relative; EM: ~1e-5
    tol = 1e-6 if method == "ai" else 1e-4
    for name, value in exact.values.items():
        assert blind.values[name] == pytest.approx(value, rel=tol), name
    for name, value in exact.se.items():
        assert blind.se[name] == pytest.approx(value, rel=1e-4), name


def test_unknown_solver_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown solver 'magic'"):
        make_solver("magic", Equations(penicillin()))


# --------------------------------------------------------------------------------------------
# PCG
# --------------------------------------------------------------------------------------------
def _pcg_cases():
    from test_multitrait import simulated
    from test_reml import pedigree_case

    return {
        "univariate": pedigree_case("a", 2000, 3),
        "permanent-environment": pedigree_case("b", 1500, 5),
        "maternal": pedigree_case("c", 2000, 2),
        "three-traits": simulated(1500, 4, traits=3, iid=True),
    }


@pytest.fixture(scope="module")
def pcg_cases():
    return _pcg_cases()


@pytest.mark.parametrize("case", ["univariate", "permanent-environment", "maternal", "three-traits"])
def test_pcg_solutions_agree_with_cholesky(pcg_cases, case):
    """Solutions by PCG (block-diagonal preconditioner, relative residual 1e-10) equal the
    Cholesky ones to 1e-6 relative to the largest solution; logL and PEV are not available, so
    the table has no se or reliability and solve() reports no logL."""
    from henderson.solutions import solve

    model = pcg_cases[case]
    components = _components(model)
    exact = solve(model, components)
    iterative = solve(model, components, solver="pcg")
    a, b = exact.table["estimate"].to_numpy(), iterative.table["estimate"].to_numpy()
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * np.abs(a).max())
    assert iterative.log_likelihood is None
    # PCG has no diag(C⁻¹): reliabilities are approximated (henderson.reliability), fixed effects get no se
    assert iterative.solver["reliability"]["method"] == "approximate"
    random = exact.table["reliability"].notna().to_numpy()
    assert iterative.table["se"][~random].isna().all()
    rel = iterative.table["reliability"][random].to_numpy()
    assert np.all((rel >= 0) & (rel < 1))


def _components(model):
    """Components inside the cone for any layout: σ² on the diagonals, correlations 0.3."""
    from henderson.covariance import VarianceComponents

    mats = []
    for k in [term.k for term in model.layout.terms] + [model.n_traits]:
        corr = np.full((k, k), 0.3) + 0.7 * np.eye(k)
        mats.append(20.0 * corr)
    return VarianceComponents(model.layout, tuple(mats[:-1]), mats[-1])


def test_pcg_warm_start_saves_iterations(pcg_cases):
    from henderson.mme import coefficient_matrix
    from henderson.solvers.pcg import PCGSolver

    model = pcg_cases["maternal"]
    lhs, rhs = coefficient_matrix(model, _components(model))
    solver = PCGSolver(Equations(model))
    solver.update(lhs)
    x = solver.solve(rhs)
    cold = solver.iterations[-1]
    solver.solve(rhs, guess=x * (1 + 1e-6))
    assert solver.iterations[-1] < cold / 2
    # several right-hand sides at once: each column meets the tolerance on its own residual
    b = np.column_stack([rhs, 2 * rhs, rhs[::-1]])
    many = solver.solve(b)
    residual = np.linalg.norm(b - lhs @ many, axis=0) / np.linalg.norm(b, axis=0)
    assert np.all(residual <= 1e-10)


def test_pcg_refuses_reml_with_a_clear_message(pcg_cases):
    model = pcg_cases["univariate"]
    with pytest.raises(ConfigError, match="solver: cholesky"):
        fit_reml(model, solver="pcg")


def test_auto_takes_pcg_only_when_the_factor_does_not_fit(pcg_cases):
    from henderson.solvers import choose_solver

    eq = Equations(pcg_cases["univariate"])
    solver, reason = choose_solver(eq, None, exact=False)
    assert solver.name == "cholesky" and "cholesky" in reason
    solver, reason = choose_solver(eq, 1e-6, exact=False, tol=1e-8)
    assert solver.name == "pcg" and solver.tol == 1e-8 and "more than the" in reason
    solver, reason = choose_solver(eq, 1e-6, exact=True, probes=8)  # REML: sampled traces
    assert solver.name == "pcg" and solver.probes == 8 and "Monte Carlo REML" in reason


def test_pcg_through_the_workflow_reproduces_mrode(tmp_path):
    """Mrode's Example 3.1 with `solver: pcg`: the book's solutions (3 decimals), no se or
    reliability, and the iterations and residual in mme_summary.json."""
    import json

    from test_workflow import mrode_config, setup_dir, snakemake

    work = setup_dir(tmp_path / "pcg", mrode_config(wwg={"solver": "pcg", "pcg": {"tolerance": 1e-12}}))
    snakemake(work)
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])
    book = [0.098, -0.019, -0.041, -0.009, -0.186, 0.177, -0.249, 0.183]
    np.testing.assert_allclose([sol.loc[("animal", str(i)), "estimate"] for i in range(1, 9)], book, atol=1e-3)
    animals = sol.xs("animal", level="effect")
    assert animals["reliability"].between(0, 1).all() and sol.xs("sex", level="effect")["se"].isna().all()
    summary = json.loads((work / "results/wwg/mme_summary.json").read_text())
    assert summary["solver"]["name"] == "pcg" and summary["solver"]["iterations"] > 0
    assert summary["solver"]["relative_residual"] <= 1e-12
    html = (work / "results/wwg/report.html").read_text()
    assert "solved by PCG" in html and "reliabilities are approximate" in html
    assert summary["reliability"]["method"] == "approximate"


def test_symbolic_prediction_equals_the_simplicial_factor(pcg_cases):
    """The factor size `auto` decides on, from the pattern alone, equals nnz(L) of the
    simplicial factorisation (supernodal storage only pads it)."""
    from henderson.linalg import SparseCholesky
    from henderson.mme import coefficient_matrix

    for case in ("univariate", "maternal", "three-traits"):
        model = pcg_cases[case]
        eq = Equations(model)
        factor = SparseCholesky(eq.pattern, mode="simplicial")
        predicted = factor.predicted_factor_nnz()
        factor.factorize(coefficient_matrix(model, _components(model))[0])
        assert predicted == factor.factor_nnz, case


def test_warm_start_from_the_previous_run(tmp_path):
    """A routine re-evaluation: the same model with one more record; PCG starts from the previous
    run's solutions (matched by trait, effect and level), needs fewer iterations, says how many it
    saved, and reaches the same solutions as a cold start."""
    import json

    from test_workflow import snakemake

    from henderson.simulate import SimulationSpec, simulate, write_simulation

    write_simulation(simulate(SimulationSpec(n_animals=3000, seed=2)), tmp_path)
    config = (tmp_path / "config/config.yaml").read_text()
    (tmp_path / "config/config.yaml").write_text(config.replace("estimate: none", "estimate: none\n    solver: pcg"))
    snakemake(tmp_path)
    name = next(p.name for p in (tmp_path / "results").iterdir() if (p / "mme_summary.json").exists())
    first = json.loads((tmp_path / "results" / name / "mme_summary.json").read_text())["solver"]
    assert "warm_start" not in first and (tmp_path / "results" / name / ".warm_start.parquet").exists()
    phenotypes = tmp_path / "phenotypes.csv"
    lines = phenotypes.read_text().splitlines()
    phenotypes.write_text("\n".join(lines[:-1]) + "\n")  # one record fewer: new equations, mostly the same
    snakemake(tmp_path)
    second = json.loads((tmp_path / "results" / name / "mme_summary.json").read_text())["solver"]
    warm = second["warm_start"]
    assert warm["previous_iterations"] == first["iterations"]
    assert warm["unknowns_matched"] >= warm["unknowns"] - 5
    assert second["iterations"] < first["iterations"] - 10  # from a residual of ~1e-4 instead of 1
    log = (tmp_path / "logs" / name / "variance.log").read_text()
    assert "warm start from the previous solutions" in log and "fewer than the previous run's" in log


@pytest.mark.parametrize("case", ["univariate", "maternal"])
def test_pcg_large_blocks_of_columns_solve_each_column_as_alone(pcg_cases, case):
    """A block of right-hand sides large enough for the fused kernels (N·m ≥ 2²⁰ entries; the
    diagonal preconditioner applied on the fly for the univariate model, the 2 × 2 blocks for
    the maternal one) meets every column's residual, and its columns, like a column solved
    alone (the numpy path), agree with the direct solve to 1e-6 of the largest value."""
    from henderson.mme import coefficient_matrix
    from henderson.solvers.pcg import PARALLEL_SIZE, PCGSolver

    model = pcg_cases[case]
    lhs, rhs = coefficient_matrix(model, _components(model))
    solver = PCGSolver(Equations(model))
    solver.update(lhs)
    n = rhs.size
    m = -(-PARALLEL_SIZE // n) + 1
    rng = np.random.default_rng(3)
    b = rng.choice([-1.0, 1.0], size=(n, m))  # Rademacher probes, as Monte Carlo REML solves them
    many = solver.solve(b)
    residual = np.linalg.norm(b - lhs @ many, axis=0) / np.linalg.norm(b, axis=0)
    assert np.all(residual <= 2e-10)  # the recursive residual stops at 1e-10; the true one drifts by rounding
    exact = CholeskySolver(Equations(model))
    exact.update(lhs)
    for j in (0, 1, m - 1):
        alone = solver.solve(b[:, j])
        direct = exact.solve(b[:, j])
        for x in (many[:, j], alone):
            np.testing.assert_allclose(x, direct, rtol=0, atol=1e-6 * np.abs(direct).max())
