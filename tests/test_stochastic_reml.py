"""Monte Carlo REML (henderson.reml.stochastic): sampled traces against exact ones (dense
oracle), estimates against exact AI-REML within their Monte Carlo SE, that SE against the spread
over seeds, a maternal model, and the configuration and output keys."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_reml import pedigree_case

from henderson.covariance import VarianceComponents
from henderson.errors import ConfigError
from henderson.linalg.stochastic import component_entries, probe_products, rademacher
from henderson.mme import Equations
from henderson.reml import components_json, default_start, fit_reml, read_components
from henderson.reml.stochastic import (
    MonteCarlo,
    estimate_stochastic,
    reml_solver,
    split_reml_options,
)
from henderson.solvers import make_solver


@pytest.fixture(scope="module")
def small():
    return pedigree_case("a", 300, 3)


@pytest.fixture(scope="module")
def maternal_small():
    return pedigree_case("c", 300, 2)


def _dense_traces(model, vc):
    """tr(C⁻¹ M_c) and the Rademacher variance Σ_{i<j}(A_ij + A_ji)² of A = scale·C⁻¹M_c, from
    dense C⁻¹ and dense components (the oracle)."""
    eq = Equations(model)
    coef = eq.coefficients(vc)
    c_inv = np.linalg.inv(eq.assemble(coef).toarray())
    traces, variances = [], []
    for k in range(coef.size):
        unit = np.zeros(coef.size)
        unit[k] = 1.0
        a = eq.trace_scale[k] * c_inv @ eq.assemble(unit).toarray()
        s = a + a.T
        traces.append(np.trace(a))
        variances.append(0.5 * (np.sum(s**2) - np.sum(np.diag(s) ** 2)))
    return eq, coef, np.array(traces), np.array(variances)


@pytest.mark.parametrize("case", ["small", "maternal_small"])
def test_sampled_traces_are_unbiased_with_the_rademacher_variance(case, request):
    """Mean of 3000 probes within 4 Monte Carlo SE of the exact traces; the per-probe variance
    within 12 % of Hutchinson's formula (its SE is ~3-5 % at 3000 probes); every probe satisfies
    Σ_c coef_c t_c = N (the components sum to C)."""
    model = request.getfixturevalue(case)
    vc = default_start(model)
    eq, coef, exact, variance = _dense_traces(model, vc)
    solver = make_solver("pcg", eq, probes=3000, seed=11, trace_tolerance=1e-12, probe_block=500)
    solver.update(eq.assemble(coef))
    mean = solver.traces()
    samples = solver.probe_traces
    mcse = np.sqrt(np.diag(samples.covariance))
    assert np.all(np.abs(mean - exact) < 4 * mcse), (mean, exact, mcse)
    np.testing.assert_allclose(samples.samples.var(axis=0, ddof=1), variance, rtol=0.12)
    np.testing.assert_allclose(samples.samples @ coef, model.n_unknowns, rtol=1e-9)


def test_probes_are_reproducible_and_extendable():
    a = rademacher(50, 0, 4, seed=5)
    b = rademacher(50, 2, 4, seed=5)
    np.testing.assert_array_equal(a[:, 2:], b[:, :2])
    assert set(np.unique(a)) == {-1.0, 1.0}
    assert not np.array_equal(a, rademacher(50, 0, 4, seed=6))


def test_probe_products_match_the_dense_form(small):
    eq = Equations(small)
    vc = default_start(small)
    coef = eq.coefficients(vc)
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(small.n_unknowns, 3)), rng.normal(size=(small.n_unknowns, 3))
    got = probe_products(component_entries(eq), x, z)
    for k in range(coef.size):
        unit = np.zeros(coef.size)
        unit[k] = 1.0
        m = eq.assemble(unit)
        np.testing.assert_allclose(got[:, k], eq.trace_scale[k] * np.einsum("ip,ip->p", x, m @ z), rtol=1e-12)


def test_monte_carlo_reml_agrees_with_exact_within_its_monte_carlo_se():
    """2,000 animals, 200 probes, seed 1: every estimate within 3 Monte Carlo SE of exact AI-REML,
    the sampling SE within 5 % of the exact one (the AI matrix needs no traces)."""
    model = pedigree_case("a", 2000, 3)
    exact = fit_reml(model)
    fit, _, _ = estimate_stochastic(model, default_start(model), mc=MonteCarlo(probes=200, seed=1))
    assert fit.converged and fit.solver == "pcg" and fit.monte_carlo["probes"] == 200
    mcse = fit.monte_carlo_se
    assert np.all(np.isfinite(mcse)) and np.all(mcse > 0)
    assert np.all(np.abs(fit.components.theta - exact.components.theta) < 3 * mcse)
    np.testing.assert_allclose(fit.se_vector, exact.se_vector, rtol=0.05)


def test_monte_carlo_se_matches_the_spread_over_seeds(small):
    """Thirty seeds of 24 probes: the SD of the estimates over seeds within a factor 1.4 of the
    mean reported Monte Carlo SE (an SD from 30 draws is within about ±26 % of the truth with 95 %
    probability), and their mean within 3 SE of exact AI-REML's estimate (no bias)."""
    exact = fit_reml(small)
    start = default_start(small)
    fits = [estimate_stochastic(small, start, mc=MonteCarlo(probes=24, seed=s))[0] for s in range(30)]
    theta = np.array([f.components.theta for f in fits])
    reported = np.array([f.monte_carlo_se for f in fits]).mean(axis=0)
    spread = theta.std(axis=0, ddof=1)
    assert np.all(spread / reported < 1.4) and np.all(spread / reported > 1 / 1.4), (spread, reported)
    assert np.all(np.abs(theta.mean(axis=0) - exact.components.theta) < 3 * spread / np.sqrt(30))


def test_maternal_model(maternal_small):
    """Direct, maternal, their covariance and the residual: within 3 Monte Carlo SE of exact."""
    exact = fit_reml(maternal_small)
    fit, _, _ = estimate_stochastic(maternal_small, default_start(maternal_small),
                                    mc=MonteCarlo(probes=300, seed=2))
    assert fit.converged and len(fit.monte_carlo_se) == 4
    assert np.all(np.abs(fit.components.theta - exact.components.theta) < 3 * fit.monte_carlo_se)


def test_em_reml_with_sampled_traces(small):
    exact = fit_reml(small, method="em")
    fit, _, _ = estimate_stochastic(small, default_start(small), method="em", mc=MonteCarlo(probes=100, seed=3))
    assert fit.method == "em" and np.all(np.isfinite(fit.monte_carlo_se))
    assert np.all(np.abs(fit.components.theta - exact.components.theta) < 3 * fit.monte_carlo_se + 1e-3)


def test_auto_probes_reach_the_target(small):
    """`probes: auto`: a first fit with 8 probes, then enough to bring every Monte Carlo SE to
    within 0.3 of its sampling SE."""
    fit, _, _ = estimate_stochastic(small, default_start(small), mc=MonteCarlo(probes="auto", start=8, target=0.3))
    assert fit.monte_carlo["probes"] > 8 and fit.monte_carlo["ratio"] <= 0.3
    assert np.all(fit.monte_carlo_se <= 0.3 * fit.se_vector)


def test_auto_probes_say_when_the_cap_stops_them(small):
    fit, _, _ = estimate_stochastic(small, default_start(small),
                                    mc=MonteCarlo(probes="auto", start=4, max_probes=6, target=0.01))
    assert fit.monte_carlo["probes"] == 6
    assert any("raise reml.max_probes" in m for m in fit.messages)


def test_components_json_carries_the_monte_carlo_se(small):
    fit, _, _ = estimate_stochastic(small, default_start(small), mc=MonteCarlo(probes=16, seed=4))
    content = json.loads(json.dumps(components_json(fit)))
    for name, value in zip(fit.names, fit.monte_carlo_se):
        assert content["parameters"][name]["monte_carlo_se"] == pytest.approx(value)
        assert content["monte_carlo_se"][name] == pytest.approx(value)
    assert content["monte_carlo"]["probes"] == 16 and content["solver"] == "pcg"
    record = read_components(small.layout, content)
    np.testing.assert_allclose(record.monte_carlo_se, fit.monte_carlo_se)
    exact = json.loads(json.dumps(components_json(fit_reml(small))))
    assert "monte_carlo_se" not in exact and read_components(small.layout, exact).monte_carlo_se is None


def test_reml_options_and_solver_choice(small):
    criteria, mc = split_reml_options({"probes": 50, "mc_se_target": 0.2, "gradient_norm": 1e-3})
    assert mc.probes == 50 and mc.target == 0.2 and criteria.gradient_norm == 1e-3
    for bad in ({"probes": 1}, {"probes": "many"}, {"mc_se_target": 0}, {"seed": -1}):
        with pytest.raises(ConfigError, match="reml"):
            split_reml_options(bad)
    assert reml_solver(small, "auto", None)[0] == "cholesky"
    name, reason = reml_solver(small, "auto", 1e-6)
    assert name == "pcg" and "Monte Carlo REML" in reason
    assert reml_solver(small, "auto", 1e6)[0] == "cholesky"


def test_pcg_traces_need_probes(small):
    eq = Equations(small)
    solver = make_solver("pcg", eq)
    solver.update(eq.assemble(eq.coefficients(VarianceComponents.from_theta(small.layout, default_start(small).theta))))
    with pytest.raises(ConfigError, match="probes"):
        solver.traces()


def test_workflow_with_pcg_and_reml(tmp_path):
    """`solver: pcg` with `estimate: ai` runs Monte Carlo REML through the workflow: the
    Monte Carlo SE beside the SE in variance_components.json and in the report, the log says so."""
    from test_workflow import snakemake

    from henderson.simulate import SimulationSpec, simulate, write_simulation

    write_simulation(simulate(SimulationSpec(n_animals=1500, seed=2)), tmp_path)
    config = (tmp_path / "config/config.yaml").read_text()
    assert "estimate: none" in config
    config = config.replace("estimate: none", "estimate: ai\n    solver: pcg\n    reml: {probes: 40, seed: 3}")
    (tmp_path / "config/config.yaml").write_text(config)
    snakemake(tmp_path)
    name = next(p.name for p in (tmp_path / "results").iterdir() if (p / "variance_components.json").exists())
    content = json.loads((tmp_path / "results" / name / "variance_components.json").read_text())
    assert content["solver"] == "pcg" and content["monte_carlo"]["probes"] == 40
    for entry in content["parameters"].values():
        assert entry["monte_carlo_se"] > 0 and entry["se"] > 0
    assert "Monte Carlo REML" in (tmp_path / "logs" / name / "variance.log").read_text()
    assert "Monte Carlo SE" in (tmp_path / "results" / name / "report.html").read_text()


def test_probe_solves_are_forced_by_the_change_of_the_equations(small):
    """The probes' relative residual ε = clip(0.01 δ, trace_tolerance, 1e-4), δ the largest
    relative change of an entry of C since the previous update: loose at the first update, the
    trace tolerance at an unchanged C, 0.01 δ in between (σ²a × 1.001: δ = 0.001 of the new value, from
    the entries of K⁻¹/σ²a, whatever the scale of the fixed effects' entries)."""
    from henderson.solvers.pcg import FORCING, LOOSE_TOLERANCE, PCGSolver

    eq = Equations(small)
    solver = PCGSolver(eq, probes=4, trace_tolerance=1e-8, forcing=True)
    vc = default_start(small)
    lhs = eq.assemble(eq.coefficients(vc))
    solver.update(lhs)
    assert solver.probe_tolerance == LOOSE_TOLERANCE
    solver.update(lhs)
    assert solver.probe_tolerance == 1e-8
    moved = VarianceComponents(vc.layout, tuple(g * 1.001 for g in vc.g0), vc.r0)
    solver.update(eq.assemble(eq.coefficients(moved)))
    assert 1e-8 < solver.probe_tolerance < LOOSE_TOLERANCE
    assert solver.probe_tolerance == pytest.approx(FORCING * 0.001, rel=1e-6)
    plain = PCGSolver(eq, probes=4, trace_tolerance=1e-8)  # without forcing: the trace tolerance always
    plain.update(lhs)
    assert plain.probe_tolerance == 1e-8


def test_forced_probe_solves_leave_the_estimates():
    """Monte Carlo REML with the forced (inexact-Newton) probe solves gives the estimates of
    every probe solved to the trace tolerance (1e-8), to 1 % of their Monte Carlo SE, and its
    Monte Carlo SE to 1 %."""
    model = pedigree_case("a", 2000, 3)
    mc = MonteCarlo(probes=40, seed=2)
    forced, _, _ = estimate_stochastic(model, default_start(model), mc=mc)
    tight, _, _ = estimate_stochastic(model, default_start(model), mc=mc, pcg={"forcing": False})
    assert forced.converged and tight.converged
    assert np.all(np.abs(forced.components.theta - tight.components.theta) < 0.01 * tight.monte_carlo_se)
    np.testing.assert_allclose(forced.monte_carlo_se, tight.monte_carlo_se, rtol=0.01)


def test_a_resumed_fit_starts_its_first_probes_from_the_solutions_of_the_first(small):
    """`probes: auto` resumes from the first fit's estimates: the probes that fit solved start
    from its solutions there, so the resumed fit's first block (those 8 probes) needs no
    iteration, while the new probes do."""
    fit, objective, _ = estimate_stochastic(small, default_start(small), pcg={"probe_block": 8},
                                            mc=MonteCarlo(probes="auto", start=8, target=0.3))
    assert fit.monte_carlo["probes"] > 8
    # the resumed fit's solves in order: y, then the probes in blocks of 8, then the AI solve
    iterations = objective.solver.iterations
    assert iterations[1] == 0 and iterations[2] > 0
