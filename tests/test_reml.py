"""REML variance components: lme4's published fits, a dense brute-force oracle (V built densely,
logL maximised with scipy.optimize on a log-Cholesky parameterisation), derivatives against
finite differences and dense formulas, EM/AI agreement, the boundary, the iteration cap, and
recovery of simulated parameters.

Reference values: lme4 (Bates, Mächler, Bolker & Walker 2015, J. Stat. Softw. 67(1)):
Dyestuff ``lmer(Yield ~ 1 + (1|Batch))`` (section 1, REML criterion 319.6543, Batch variance
1764.05, residual 2451.25) and Penicillin ``lmer(diameter ~ 1 + (1|plate) + (1|sample))``
(section 2.2 and the lme4 package examples: REML criterion 330.8606; standard deviations plate
0.8467, sample 1.9316, residual 0.5499).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, iid_effect, maternal_effect
from henderson.errors import ConfigError
from henderson.model import build_model
from henderson.pedigree import inbreeding, sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reml import (
    METHODS,
    ConvergenceCriteria,
    Objective,
    components_json,
    default_start,
    fit_reml,
    given_components_json,
    reml_loglik,
)
from henderson.reml.boundary import ZeroLimit
from henderson.simulate import SimulationSpec, simulate

DATA = Path(__file__).parent / "data"
# EM converges linearly; these criteria put it within ~1e-5 relative of the optimum.
EM_LONG = ConvergenceCriteria(max_iterations=5000, loglik_change=1e-9, parameter_change=1e-8)
NO_FIXED = ((), ())


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
@functools.cache
def dyestuff():
    d = pd.read_csv(DATA / "dyestuff.csv", dtype={"Batch": str})
    return build_model(d, ["Yield"], NO_FIXED, [iid_effect("Batch", d["Batch"])])


@functools.cache
def penicillin():
    d = pd.read_csv(DATA / "penicillin.csv", dtype={"plate": str, "sample": str})
    return build_model(d, ["diameter"], NO_FIXED, [iid_effect("plate", d["plate"]), iid_effect("sample", d["sample"])])


def _known(values: pd.Series) -> list[str | None]:
    return [None if v == "0" else v for v in values.astype(str)]


def pedigree_records(spec: SimulationSpec):
    """(records, K = A) of a simulated population."""
    data = simulate(spec)
    pf = data.pedigree
    ped = sort_pedigree(list(pf["id"].astype(str)), _known(pf["sire"]), _known(pf["dam"]))
    return data.phenotypes, pedigree_relationship_from(ped, inbreeding(ped))


@functools.cache
def pedigree_data(case: str, n_animals: int, seed: int):
    spec = SimulationSpec(
        n_animals=n_animals, seed=seed, n_generations=5, n_herds=4, selection="none",
        records_per_animal=2 if case == "b" else 1, maternal=case == "c",
    )
    return pedigree_records(spec)


@functools.cache
def pedigree_case(case: str, n_animals: int, seed: int):
    """(a) additive + residual; (b) additive + permanent environment (2 records per animal) +
    residual; (c) direct + maternal additive (correlated, K = A) + residual. Fixed: sex + age."""
    rec, rel = pedigree_data(case, n_animals, seed)
    animal = additive_effect("animal", rec["id"], rel)
    terms: list = [animal]
    if case == "b":
        terms.append(iid_effect("pe", rec["id"]))
    if case == "c":
        dams = pd.Series(_known(rec["dam"]), dtype=object)
        terms = [[animal, maternal_effect("dam", dams, rel)]]
    return build_model(rec, ["weaning_weight"], (("sex",), ("age",)), terms)


# Seeds whose REML optimum is interior (checked by the oracle below) and where EM is not too slow.
CASES = {"a": ("a", 300, 3), "b": ("b", 250, 5), "c": ("c", 250, 2)}


# --------------------------------------------------------------------------------------------
# Dense oracle
# --------------------------------------------------------------------------------------------
def _pairs(k):
    """Elements (i, j) of a k × k matrix in θ order: the diagonal, then the upper triangle by rows."""
    return [(i, i) for i in range(k)] + [(i, j) for i in range(k) for j in range(i + 1, k)]


class DenseREML:
    """The textbook REML log-likelihood of a one-trait model with V formed densely (n × n):
    logL = -1/2[(n - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py], its gradient
    -1/2[tr(P V̇_i) - y'P V̇_i P y] and AI_ij = 1/2 y'P V̇_i P V̇_j P y. Parameters (and their
    names) per term: the variances of its effects, then the covariances "a.b"; then "residual"."""

    def __init__(self, model):
        self.model = model
        self.x = model.fixed[0].matrix.toarray()
        self.y = model.y[:, 0]
        n = model.n_records
        names, self.dv, self.sizes = [], [], []
        # V̇ for every parameter: Z_a K Z_b' (+ its transpose for a covariance), K = (K⁻¹)⁻¹
        for term in model.terms:
            k = np.linalg.inv(term.relationship.kinv_matrix().toarray())
            effects = [term.effects[e] for e, _ in term.components]
            z = [term.incidence[e].toarray() for e, _ in term.components]
            kg = len(z)
            self.sizes.append(kg)
            for i, j in _pairs(kg):
                block = z[i] @ k @ z[j].T
                self.dv.append(block if i == j else block + block.T)
                names.append(effects[i] if i == j else f"{effects[i]}.{effects[j]}")
        self.dv.append(np.eye(n))
        self.names = (*names, "residual")

    def v(self, theta):
        return sum(t * d for t, d in zip(theta, self.dv))

    def __call__(self, theta, derivatives=False):
        x, y = self.x, self.y
        n, p = x.shape
        v = self.v(theta)
        vinv = np.linalg.inv(v)
        xvx = x.T @ vinv @ x
        pmat = vinv - vinv @ x @ np.linalg.solve(xvx, x.T @ vinv)
        logdets = np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1]
        ll = -0.5 * ((n - p) * math.log(2 * math.pi) + logdets + y @ pmat @ y)
        if not derivatives:
            return ll
        py = pmat @ y
        grad = np.array([-0.5 * (np.sum(pmat * d) - py @ d @ py) for d in self.dv])
        f = np.column_stack([d @ py for d in self.dv])
        return ll, grad, 0.5 * f.T @ pmat @ f

    # log-Cholesky parameterisation: per term G0 = L L' with log-diagonal, residual on log scale
    def _layout(self):
        out, k = [], 0
        for kg in self.sizes:
            pairs = _pairs(kg)
            out.append((kg, {ij: k + t for t, ij in enumerate(pairs)}))
            k += len(pairs)
        return out

    def natural(self, phi):
        theta = np.zeros(len(self.names))
        jac = np.zeros((len(theta), len(theta)))
        for kg, pos in self._layout():
            low = np.zeros((kg, kg))
            for (i, j), t in pos.items():
                low[j, i] = math.exp(phi[t]) if i == j else phi[t]
            g0 = low @ low.T
            for (i, j), t in pos.items():
                theta[t] = g0[i, j]
                for (a, b), s in pos.items():
                    d = np.zeros((kg, kg))
                    d[b, a] = low[b, a] if a == b else 1.0
                    jac[t, s] = (d @ low.T + low @ d.T)[i, j]
        theta[-1] = math.exp(phi[-1])
        jac[-1, -1] = theta[-1]
        return theta, jac

    def packed(self, theta):
        phi = np.zeros(len(theta))
        for kg, pos in self._layout():
            g0 = np.zeros((kg, kg))
            for (i, j), t in pos.items():
                g0[i, j] = g0[j, i] = theta[t]
            low = np.linalg.cholesky(g0)
            for (i, j), t in pos.items():
                phi[t] = math.log(low[j, i]) if i == j else low[j, i]
        phi[-1] = math.log(theta[-1])
        return phi

    def maximise(self, start):
        def objective(phi):
            theta, jac = self.natural(phi)
            ll, grad, _ = self(theta, derivatives=True)
            return -ll, -(jac.T @ grad)

        res = so.minimize(objective, self.packed(np.asarray(start, float)), jac=True, method="BFGS",
                          options={"gtol": 1e-8, "maxiter": 2000})
        theta, _ = self.natural(res.x)
        return theta, -res.fun


@functools.cache
def oracle(model_key):
    model = MODELS[model_key]()
    dense = DenseREML(model)
    return dense, dense.maximise(default_start(model).theta)


MODELS = {
    "dyestuff": dyestuff,
    "penicillin": penicillin,
    **{key: functools.partial(pedigree_case, *args) for key, args in CASES.items()},
}


@functools.cache
def fitted(model_key, method):
    model = MODELS[model_key]()
    criteria = EM_LONG if method == "em" else ConvergenceCriteria()
    return fit_reml(model, default_start(model), method=method, criteria=criteria)


def as_vector(fit, names):
    return np.array([fit.values[n] for n in names])


# --------------------------------------------------------------------------------------------
# lme4 reference fits
# --------------------------------------------------------------------------------------------
def test_dyestuff_matches_lme4_and_oracle():
    fit = fitted("dyestuff", "ai")
    assert fit.converged and fit.method == "ai" and fit.boundary == ()
    # lme4 prints 1764.05 and 2451.25 (2 decimals) and the REML criterion to 4 decimals:
    # half a unit of the last printed place.
    assert fit.values["Batch"] == pytest.approx(1764.05, abs=0.005)
    assert fit.values["residual"] == pytest.approx(2451.25, abs=0.005)
    assert -2 * fit.log_likelihood == pytest.approx(319.6543, abs=5e-5)
    dense, (theta, ll) = oracle("dyestuff")
    # oracle agreement: 1e-5 relative on every variance and on logL
    np.testing.assert_allclose(as_vector(fit, dense.names), theta, rtol=1e-5)
    assert fit.log_likelihood == pytest.approx(ll, rel=1e-5)


def test_penicillin_matches_lme4_and_oracle():
    fit = fitted("penicillin", "ai")
    assert fit.converged
    sd = {k: math.sqrt(v) for k, v in fit.values.items()}
    # lme4 prints standard deviations to 4 decimals: half a unit of the last place
    assert sd["plate"] == pytest.approx(0.8467, abs=5e-5)
    assert sd["sample"] == pytest.approx(1.9316, abs=5e-5)
    assert sd["residual"] == pytest.approx(0.5499, abs=5e-5)
    assert -2 * fit.log_likelihood == pytest.approx(330.8606, abs=5e-5)
    dense, (theta, ll) = oracle("penicillin")
    np.testing.assert_allclose(as_vector(fit, dense.names), theta, rtol=1e-5)
    assert fit.log_likelihood == pytest.approx(ll, rel=1e-5)


# --------------------------------------------------------------------------------------------
# The objective and its derivatives
# --------------------------------------------------------------------------------------------
ARBITRARY = {
    "dyestuff": {"Batch": 900.0, "residual": 3100.0},
    "penicillin": {"plate": 0.3, "sample": 5.0, "residual": 0.9},
    "a": {"animal": 11.0, "residual": 53.0},
    "b": {"animal": 31.0, "pe": 7.5, "residual": 44.0},
    "c": {"animal": 26.0, "dam": 14.0, "animal.dam": 6.0, "residual": 47.0},
}


@pytest.mark.parametrize("key", list(ARBITRARY))
def test_objective_gradient_and_ai_equal_dense_formulas(key):
    model = MODELS[key]()
    dense = DenseREML(model)
    values = ARBITRARY[key]
    theta = np.array([values[n] for n in dense.names])
    got = reml_loglik(model, values, derivatives=True)
    ll, grad, ai = dense(theta, derivatives=True)
    assert model.layout.names == dense.names
    np.testing.assert_array_equal(got.theta, theta)
    # objective: 1e-8 relative; gradient and AI: 1e-7 relative to their largest entry
    assert got.loglik == pytest.approx(ll, rel=1e-8)
    np.testing.assert_allclose(got.gradient, grad, rtol=0, atol=1e-7 * np.abs(grad).max())
    np.testing.assert_allclose(got.ai, ai, rtol=0, atol=1e-7 * np.abs(ai).max())
    # AI matrix: symmetric positive definite
    np.testing.assert_array_equal(got.ai, got.ai.T)
    assert np.linalg.eigvalsh(got.ai).min() > 0


@pytest.mark.parametrize("key", ["penicillin", "b", "c"])
def test_gradient_matches_central_differences(key):
    model = MODELS[key]()
    values = ARBITRARY[key]
    got = reml_loglik(model, values, derivatives=True)
    scale = np.abs(got.gradient).max()
    for name, g in zip(model.layout.names, got.gradient):
        h = 1e-4 * abs(values[name])
        up = reml_loglik(model, {**values, name: values[name] + h}).loglik
        down = reml_loglik(model, {**values, name: values[name] - h}).loglik
        # central difference: O(h²) truncation, ~1e-9 here; tolerance 1e-5 relative to the largest
        # gradient component
        assert (up - down) / (2 * h) == pytest.approx(g, abs=1e-5 * scale), name


def test_reused_objective_gives_the_same_loglik():
    """One Objective (one symbolic analysis, refactorized at every θ) against fresh evaluations:
    1e-12 relative, in any order of θ."""
    model = MODELS["c"]()
    values = ARBITRARY["c"]
    objective = Objective(model)
    theta = np.array([values[n] for n in model.layout.names])
    fresh = reml_loglik(model, values).loglik
    for scale in (1.0, 2.0, 1.0):
        scaled = {k: v * scale for k, v in values.items()}
        again = objective.loglik(theta * scale)
        assert again == pytest.approx(reml_loglik(model, scaled).loglik, rel=1e-12)
    assert again == pytest.approx(fresh, rel=1e-12)
    assert objective.evaluate(theta).loglik == pytest.approx(fresh, rel=1e-12)
    # a zero covariance keeps the pattern (explicit zeros), so the analysis is still valid
    zero_cov = np.array([26.0, 14.0, 0.0, 47.0])
    assert objective.loglik(zero_cov) == pytest.approx(DenseREML(model)(zero_cov), rel=1e-8)


# --------------------------------------------------------------------------------------------
# Fits against the oracle; EM and AI against each other
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(CASES))
def test_ai_and_em_agree_with_oracle(key):
    dense, (theta, ll) = oracle(key)
    ai = fitted(key, "ai")
    em = fitted(key, "em")
    assert ai.converged and em.converged
    assert ai.boundary == () and em.boundary == ()
    ai_theta = as_vector(ai, dense.names)
    em_theta = as_vector(em, dense.names)
    # variances: 1e-4 relative; a covariance: 1e-4 relative to √(σ²_a σ²_b)
    scale = np.array([
        math.sqrt(np.prod([theta[dense.names.index(e)] for e in n.split(".")])) if "." in n else abs(theta[k])
        for k, n in enumerate(dense.names)
    ])
    np.testing.assert_array_less(np.abs(ai_theta - theta), 1e-4 * scale)
    np.testing.assert_array_less(np.abs(em_theta - theta), 1e-4 * scale)
    np.testing.assert_array_less(np.abs(em_theta - ai_theta), 1e-4 * scale)
    # the AI optimum is at least as high as the oracle's (to rounding)
    assert ai.log_likelihood >= ll - 1e-8 * abs(ll)
    assert em.log_likelihood == pytest.approx(ll, rel=1e-8)
    # EM never lowers logL
    assert np.all(np.diff(em.trace["log_likelihood"].to_numpy()) > -1e-9 * abs(ll))


def test_em_fixed_point_is_the_optimum():
    """One EM step from the AI estimates stays there (EM's fixed points are REML's stationary
    points), for the correlated direct-maternal model: 1e-6 relative."""
    model = MODELS["c"]()
    fit = fitted("c", "ai")
    start = fit.values
    step = fit_reml(model, start, method="em", criteria=ConvergenceCriteria(max_iterations=1))
    assert step.iterations == 1
    for name, value in start.items():
        assert step.values[name] == pytest.approx(value, rel=1e-6, abs=1e-6 * fit.values["animal"]), name


def test_standard_errors_and_ratios_by_delta_method():
    model = MODELS["c"]()
    fit = fitted("c", "ai")
    dense = DenseREML(model)
    theta = as_vector(fit, dense.names)
    _, _, ai = dense(theta, derivatives=True)
    cov = np.linalg.inv(ai)
    # SE = √diag(AI⁻¹) at the estimates: 1e-6 relative against the dense AI
    for k, name in enumerate(dense.names):
        assert fit.se[name] == pytest.approx(math.sqrt(cov[k, k]), rel=1e-6), name

    def ratios(t):
        va, vm, cam, ve = t
        vp = va + vm + cam + ve  # Willham: direct-maternal covariance counts once
        return np.array([va / vp, vm / vp, cam / math.sqrt(va * vm)])

    jac = np.array([
        (ratios(theta + h * e) - ratios(theta - h * e)) / (2 * h)
        for h, e in ((1e-5 * max(abs(t), 1.0), e) for t, e in zip(theta, np.eye(4)))
    ]).T
    expected = ratios(theta)
    se = np.sqrt(np.diag(jac @ cov @ jac.T))
    for k, label in enumerate(["h2", "dam_ratio", "r_animal_dam"]):
        assert fit.ratios[label]["estimate"] == pytest.approx(expected[k], rel=1e-12)
        # delta-method SE against a numerical Jacobian: 1e-5 relative
        assert fit.ratios[label]["se"] == pytest.approx(se[k], rel=1e-5)
    assert set(fit.ratios) == {"h2", "dam_ratio", "r_animal_dam"}
    assert fit.components.phenotypic_variance()[0] == pytest.approx(theta.sum(), rel=1e-12)


# --------------------------------------------------------------------------------------------
# Boundary, iteration cap, inputs
# --------------------------------------------------------------------------------------------
def test_variance_at_zero_is_a_converged_boundary_fit():
    """Group means shrunk towards the overall mean until the between-group mean square is below
    the within-group one: the ANOVA estimate of the group variance is negative, so REML puts it
    at 0 and σ²_e = total SS/(n - 1); logL is then the dense formula with V = σ²_e I."""
    model = shrunken_groups_model()
    y = model.y[:, 0]
    frame = pd.DataFrame({"g": np.repeat([f"g{k}" for k in range(8)], 6), "y": y})
    within = float(np.sum((y - frame.groupby("g")["y"].transform("mean")) ** 2)) / (48 - 8)
    between = 6 * float(np.sum((frame.groupby("g")["y"].mean() - y.mean()) ** 2)) / 7
    assert between < within
    fit = fit_reml(model, {"g": 1.0, "residual": 1.0})
    assert fit.converged
    assert fit.boundary == ("g",)
    assert fit.values["g"] == 0.0
    ss = float(np.sum((y - y.mean()) ** 2))
    assert fit.values["residual"] == pytest.approx(ss / (y.size - 1), rel=1e-8)
    dense = DenseREML(model)
    assert fit.log_likelihood == pytest.approx(dense(np.array([0.0, fit.values["residual"]])), rel=1e-10)
    assert math.isnan(fit.se["g"]) and fit.se["residual"] > 0
    assert any("converged to zero" in m for m in fit.messages)
    doc = components_json(fit)
    assert doc["se"]["g"] is None and doc["boundary"] == ["g"]
    assert doc["ratios"]["g_ratio"] == {"estimate": 0.0, "se": None}


def shrunken_groups_model():
    """Eight groups of six records whose group means are shrunk towards the overall mean until
    the between-group mean square is below the within-group one (negative ANOVA estimate)."""
    rng = np.random.default_rng(7)
    groups = np.repeat([f"g{k}" for k in range(8)], 6)
    y = rng.normal(size=groups.size)
    frame = pd.DataFrame({"g": groups, "y": y})
    y = y - 0.8 * (frame.groupby("g")["y"].transform("mean").to_numpy() - y.mean()) + 10.0
    frame["y"] = y
    return build_model(frame, ["y"], NO_FIXED, [iid_effect("g", frame["g"])])


def test_em_also_stops_at_the_boundary():
    model = shrunken_groups_model()
    fit = fit_reml(model, {"g": 1.0, "residual": 1.0}, method="em", criteria=ConvergenceCriteria(max_iterations=1000))
    assert fit.converged and fit.boundary == ("g",) and fit.values["g"] == 0.0
    y = model.y[:, 0]
    ss = float(np.sum((y - y.mean()) ** 2))
    assert fit.values["residual"] == pytest.approx(ss / (model.n_records - 1), rel=1e-6)
    assert np.all(np.diff(fit.trace["log_likelihood"].to_numpy()) > -1e-9)


def test_premature_boundary_is_re_admitted():
    """An absurd boundary threshold (50 % of σ²_p) and a plate variance started 3 × too high: the
    first AI step overshoots below zero, so plate is dropped; at convergence its score just off
    zero is positive, so it is re-admitted and the fit ends at the optimum (1e-6 relative to the
    default fit, which matches lme4)."""
    model = MODELS["penicillin"]()
    start = dict(zip(model.layout.names, default_start(model).theta))
    start["plate"] *= 3
    fit = fit_reml(model, start, criteria=ConvergenceCriteria(boundary=0.5, em_iterations=0))
    assert fit.converged and fit.boundary == ()
    assert any("plate converged to zero" in m for m in fit.messages)
    assert any("re-admitted" in m for m in fit.messages)
    reference = fitted("penicillin", "ai")
    for name, value in reference.values.items():
        assert fit.values[name] == pytest.approx(value, rel=1e-6)


def test_correlation_at_the_edge_converges_at_the_boundary(caplog):
    """Maternal case, seed 6: the REML direct-maternal correlation runs to -1 (G0 singular). The
    correlation is held at the boundary (smallest eigenvalue of the correlation matrix =
    `boundary`, here r = -0.999) and the variances are estimated there: the fit converges well
    before the cap, reports animal.dam at the boundary and says so once; at the held optimum
    the gradient in the variances vanishes and logL falls when moving back inside the cone."""
    model = pedigree_case("c", 250, 6)
    criteria = ConvergenceCriteria(max_iterations=30)
    with caplog.at_level(logging.DEBUG, logger="reml-edge"):
        fit = fit_reml(model, default_start(model), criteria=criteria, logger=logging.getLogger("reml-edge"))
    assert fit.converged and fit.iterations < 30
    assert fit.ratios["r_animal_dam"]["estimate"] == pytest.approx(-(1 - criteria.boundary), abs=1e-6)
    assert "animal.dam" in fit.boundary
    assert any("animal.dam converged towards -1" in m and "boundary of the parameter space" in m
               for m in fit.messages)
    assert sum("held at the boundary" in m for m in fit.messages) == 1
    assert not any("did not converge" in m for m in fit.messages)
    # optimality on the boundary: logL at the estimates beats nearby points with the same r
    values = fit.values
    best = reml_loglik(model, values).loglik
    assert best == pytest.approx(fit.log_likelihood, abs=1e-9)
    r = values["animal.dam"] / math.sqrt(values["animal"] * values["dam"])
    for name in ("animal", "dam", "residual"):
        for factor in (0.99, 1.01):
            moved = dict(values)
            moved[name] = values[name] * factor
            moved["animal.dam"] = r * math.sqrt(moved["animal"] * moved["dam"])
            assert reml_loglik(model, moved).loglik < best, (name, factor)
    # moving back inside the cone (|r| smaller) lowers logL too: the optimum is at the edge
    inside = dict(values)
    inside["animal.dam"] = 0.99 * values["animal.dam"]
    assert reml_loglik(model, inside).loglik < best


def test_pedigree_boundary_equals_fit_without_the_effect():
    """Case (b), seed 1: the permanent-environment variance goes to zero. The fit equals the fit
    of the model without that effect (1e-6 relative), and at that point ∂logL/∂σ²_pe ≤ 0 (dense)."""
    model = pedigree_case("b", 400, 1)
    fit = fit_reml(model, default_start(model))
    assert fit.converged and fit.boundary == ("pe",) and fit.values["pe"] == 0.0
    rec, rel = pedigree_data("b", 400, 1)
    reduced = build_model(rec, ["weaning_weight"], (("sex",), ("age",)), [additive_effect("animal", rec["id"], rel)])
    ref = fit_reml(reduced, default_start(reduced))
    for name in ("animal", "residual"):
        assert fit.values[name] == pytest.approx(ref.values[name], rel=1e-6)
        assert fit.se[name] == pytest.approx(ref.se[name], rel=1e-4)
    assert fit.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-10)
    dense = DenseREML(model)
    _, grad, _ = dense(np.array([fit.values["animal"], 0.0, fit.values["residual"]]), derivatives=True)
    assert grad[1] <= 0
    assert "ai-halved" in " ".join(fit.trace["step"])


# --------------------------------------------------------------------------------------------
# Residual variance at zero
# --------------------------------------------------------------------------------------------
MRODE_PEDIGREE = [("1", None, None), ("2", None, None), ("3", None, None), ("4", "1", None),
                  ("5", "3", "2"), ("6", "1", "2"), ("7", "4", "5"), ("8", "3", "6")]
MRODE_RECORDS = pd.DataFrame({"id": ["4", "5", "6", "7", "8"], "sex": ["M", "F", "F", "M", "M"],
                              "y": [4.5, 2.9, 3.9, 3.5, 5.0]})


@functools.cache
def mrode_3_1():
    """Mrode (2014), Linear Models for the Prediction of Animal Breeding Values, 3rd ed.,
    Example 3.1: 8 animals, weaning weights of animals 4-8 (one record each), sex fixed,
    additive animal effect."""
    ids, sires, dams = zip(*MRODE_PEDIGREE)
    rel = pedigree_relationship_from(sort_pedigree(list(ids), list(sires), list(dams)))
    rec = MRODE_RECORDS
    return build_model(rec, ["y"], (("sex",), ()), [additive_effect("animal", rec["id"], rel)])


def is_zero_residual_message(message):
    return "the residual variance" in message and "converged to zero" in message


def tabular_relationships(pedigree):
    """A by the tabular method (parents listed before offspring)."""
    index = {a: k for k, (a, _, _) in enumerate(pedigree)}
    a = np.zeros((len(pedigree), len(pedigree)))
    for i, (_, s, d) in enumerate(pedigree):
        si, di = index.get(s), index.get(d)
        a[i, i] = 1.0 + (0.5 * a[si, di] if si is not None and di is not None else 0.0)
        for j in range(i):
            a[i, j] = a[j, i] = 0.5 * sum(a[j, k] for k in (si, di) if k is not None)
    return a


def test_residual_converging_to_zero_is_a_boundary_fit():
    """Mrode's Example 3.1 has one record per animal, so V_0 = σ²_a A_rr is positive definite and
    logL has a finite limit as σ²_e → 0; REML puts its maximum there. The fit holds σ²_e at 0,
    converges early and says so once. Oracles (dense): with σ²_e = 0, V = σ²_a A_rr and the REML
    estimate is σ²_a = y'P_1 y/(n - p) (P_1 the projection of V = A_rr, A by the tabular method);
    logL at the estimate; the profile max_σ²_a logL(σ²_a, σ²_e) rises as σ²_e falls to 0, towards
    the reported logL; the score ∂logL/∂σ²_e at σ²_e = 0 is negative (a boundary maximum)."""
    model = mrode_3_1()
    fit = fit_reml(model, default_start(model))
    assert fit.converged and fit.iterations < 30
    assert fit.boundary == ("residual",) and fit.values["residual"] == 0.0
    # closed form at σ²_e = 0: 1e-6 relative (the convergence criteria)
    a_full = tabular_relationships(MRODE_PEDIGREE)
    order = [k for k, (a, _, _) in enumerate(MRODE_PEDIGREE) if a in set(MRODE_RECORDS["id"])]
    a_rr = a_full[np.ix_(order, order)]
    x, y = model.fixed[0].matrix.toarray(), model.y[:, 0]
    vinv = np.linalg.inv(a_rr)
    p1 = vinv - vinv @ x @ np.linalg.solve(x.T @ vinv @ x, x.T @ vinv)
    sigma_a = float(y @ p1 @ y) / (model.n_records - model.n_fixed)
    assert fit.values["animal"] == pytest.approx(sigma_a, rel=1e-6)
    # logL at the reported point: 1e-9 absolute against the dense formula at σ²_e = 0 exactly
    dense = DenseREML(model)
    point = np.array([fit.values["animal"], 0.0])
    assert fit.log_likelihood == pytest.approx(dense(point), abs=1e-9)
    assert fit.log_likelihood >= fit.trace["log_likelihood"].iloc[0]
    assert fit.trace["log_likelihood"].iloc[-1] == fit.log_likelihood
    # brute force along σ²_e → 0: the dense profile rises monotonically to the reported logL
    vp = fit.values["animal"]
    grid = vp * np.logspace(0, -6, 13)

    def profile(res):
        best = so.minimize_scalar(lambda t: -dense(np.array([math.exp(t), res])), bounds=(-12.0, 3.0),
                                  method="bounded", options={"xatol": 1e-10})
        return -best.fun

    values = np.array([profile(r) for r in grid])
    assert np.all(np.diff(values) > 0)
    assert values.max() <= fit.log_likelihood + 1e-9
    # logL(σ²_e) - logL(0) ≈ σ²_e ∂logL/∂σ²_e ≈ 0.66 × 6.8e-7 at the last grid point
    assert fit.log_likelihood - values[-1] < 1e-6
    _, grad, ai = dense(point, derivatives=True)
    assert grad[1] < 0  # logL falls away from σ²_e = 0
    assert abs(grad[0]) < 1e-5  # and is stationary in σ²_a there
    # SE of σ²_a from the dense AI at σ²_e = 0 (1e-6 relative); none for the residual
    assert fit.se["animal"] == pytest.approx(1 / math.sqrt(ai[0, 0]), rel=1e-6)
    assert math.isnan(fit.se["residual"])
    assert fit.ratios["h2"]["estimate"] == 1.0
    # one clear message, no fallback noise, no "did not converge"
    assert sum(is_zero_residual_message(m) for m in fit.messages) == 1
    assert any("over-parameterised" in m for m in fit.messages)
    assert not any("did not converge" in m or "fell back to EM" in m for m in fit.messages)
    assert len(fit.messages) <= 10
    doc = components_json(fit)
    assert doc["boundary"] == ["residual"] and doc["variances"]["residual"] == 0.0 and doc["se"]["residual"] is None
    json.dumps(doc, allow_nan=False)
    # deterministic
    again = fit_reml(model, default_start(model))
    pd.testing.assert_frame_equal(fit.trace, again.trace)
    assert again.messages == fit.messages and again.log_likelihood == fit.log_likelihood


@pytest.mark.parametrize("key", ["a", "c"])
def test_zero_residual_objective_equals_dense_formulas(key):
    """The objective at σ²_e = 0 (extrapolated from the MME at h and 2h) against the dense formulas
    with V = V_0 (one record per animal: V_0 positive definite), at arbitrary variances."""
    model = MODELS[key]()
    dense = DenseREML(model)
    values = ARBITRARY[key]
    theta = np.array([values[n] for n in dense.names])
    theta[-1] = 0.0
    zero = ZeroLimit(Objective(model), {0}, 1e-6 * theta.sum())
    assert zero.layout.names == dense.names[:-1]
    ev = zero.evaluate(theta[:-1])
    ll, grad, ai = dense(theta, derivatives=True)
    # logL: 1e-9 relative; gradient and AI (parameters other than σ²_e): 1e-7 relative to their
    # largest entry
    assert ev.loglik == pytest.approx(ll, rel=1e-9)
    assert zero.loglik(theta[:-1]) == ev.loglik
    np.testing.assert_allclose(ev.gradient, grad[:-1], rtol=0, atol=1e-7 * np.abs(grad[:-1]).max())
    np.testing.assert_allclose(ev.ai, ai[:-1, :-1], rtol=0, atol=1e-7 * np.abs(ai[:-1, :-1]).max())
    gap, _ = zero.limit_gap(theta[:-1])
    assert gap < 1e-4  # a finite limit: O(h²)


def test_zero_residual_limit_check_sees_a_singular_v0():
    """Case (b) has two records per animal: V_0 = Z(σ²_a A + σ²_pe I)Z' is singular and y has a
    component in its null space, so logL → -∞ as σ²_e → 0: the check reports no finite limit,
    falling towards zero (dense: logL at σ²_e = 1e-3, 1e-5 falls by more than 1 each)."""
    model = MODELS["b"]()
    values = ARBITRARY["b"]
    theta = np.array([values["animal"], values["pe"]])
    gap, rise = ZeroLimit(Objective(model), {0}, 1e-6 * theta.sum()).limit_gap(theta)
    assert gap > 0.35 and rise < 0
    dense = DenseREML(model)
    ll = [dense(np.array([*theta, e])) for e in (1e-1, 1e-3, 1e-5)]
    assert ll[0] - ll[1] > 1 and ll[1] - ll[2] > 1


def test_premature_residual_boundary_is_re_admitted():
    """An absurd boundary threshold (50 % of σ²_p) and an animal variance started 10 × too high:
    the first AI step takes σ²_e below the threshold, so it is held at zero; at convergence the
    score just off zero is positive, so it is re-admitted and the fit ends at the optimum of the
    default fit (1e-6 relative; logL 1e-10 relative)."""
    model = high_heritability_model()
    reference = fit_reml(model, default_start(model))
    assert reference.converged and reference.boundary == ()
    start = {"animal": 10 * reference.values["animal"], "residual": reference.values["residual"]}
    fit = fit_reml(model, start, criteria=ConvergenceCriteria(boundary=0.5, em_iterations=0))
    assert fit.converged and fit.boundary == ()
    assert any(is_zero_residual_message(m) for m in fit.messages)
    assert any("re-admitted" in m and "residual" in m for m in fit.messages)
    for name, value in reference.values.items():
        assert fit.values[name] == pytest.approx(value, rel=1e-6)
    assert fit.log_likelihood == pytest.approx(reference.log_likelihood, rel=1e-10)


@functools.cache
def high_heritability_model():
    """One record per animal, σ²_e small (simulated σ²_a 20, σ²_e 2; seed 3): REML σ²_e ≈ 2.8."""
    spec = SimulationSpec(n_animals=200, seed=3, n_generations=5, n_herds=4, selection="none",
                          residual_covariance=[[2.0]])
    rec, rel = pedigree_records(spec)
    return build_model(rec, ["weaning_weight"], (("sex",), ("age",)), [additive_effect("animal", rec["id"], rel)])


def test_residual_without_finite_limit_stops_once():
    """Six groups, each with two identical records: the group effect fits the records exactly, V_0
    is singular and logL → +∞ as σ²_e → 0 (dense: it rises by about (n - q)/2 log 100 = 13.8 per
    factor 100 of σ²_e). REML has no estimate: the fit stops early, converged=False, with one
    message saying why (and no "did not converge" noise)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": np.repeat([f"g{k}" for k in range(6)], 2), "y": np.repeat(rng.normal(10, 2, 6), 2)})
    model = build_model(frame, ["y"], NO_FIXED, [iid_effect("g", frame["g"])])
    dense = DenseREML(model)
    ll = [dense(np.array([4.0, e])) for e in (1e-2, 1e-4, 1e-6)]
    assert np.diff(ll) == pytest.approx([3 * math.log(100)] * 2, rel=1e-3)
    for method in METHODS:
        fit = fit_reml(model, default_start(model), method=method)
        assert not fit.converged and fit.iterations < 20
        assert sum("increases without bound" in m for m in fit.messages) == 1
        assert not any("did not converge" in m for m in fit.messages)
        assert len(fit.messages) <= 10
        assert fit.boundary == () and fit.values["residual"] > 0


def test_iteration_cap_gives_not_converged():
    model = MODELS["a"]()
    fit = fit_reml(model, default_start(model), criteria=ConvergenceCriteria(max_iterations=2))
    assert not fit.converged and fit.iterations == 2
    assert any("did not converge" in m for m in fit.messages)
    assert list(fit.trace["iteration"]) == [0, 1, 2]
    assert list(fit.trace["step"])[:2] == ["start", "em"]
    assert fit.se["animal"] > 0  # SEs are still reported at the last iterate


def test_trace_logging_and_json(caplog):
    model = MODELS["penicillin"]()
    with caplog.at_level(logging.INFO, logger="reml-test"):
        fit = fit_reml(model, default_start(model), logger=logging.getLogger("reml-test"))
    assert list(fit.trace.columns) == ["iteration", "step", "log_likelihood", "plate", "sample", "residual"]
    assert fit.trace["log_likelihood"].iloc[-1] == fit.log_likelihood
    assert "iteration 1 (em)" in caplog.text and "converged" in caplog.text
    doc = components_json(fit)
    text = json.dumps(doc, allow_nan=False)  # no NaN anywhere
    assert json.loads(text)["variances"]["plate"] == pytest.approx(fit.values["plate"])
    assert set(doc) == {"method", "converged", "iterations", "log_likelihood", "variances", "covariances",
                        "se", "ratios", "parameters", "boundary", "not_identifiable", "messages", "criteria", "solver"}
    assert doc["criteria"]["max_iterations"] == 100
    assert list(doc["parameters"]) == ["plate", "sample", "residual"]
    assert doc["parameters"]["plate"] == {"estimate": fit.values["plate"], "se": fit.se["plate"]}
    assert set(doc["ratios"]) == {"plate_ratio", "sample_ratio"}
    # σ²_p = σ²_plate + σ²_sample + σ²_e
    total = sum(fit.values.values())
    assert doc["ratios"]["plate_ratio"]["estimate"] == pytest.approx(fit.values["plate"] / total)
    # deterministic: a second fit gives the same trace
    pd.testing.assert_frame_equal(fit.trace, fit_reml(model, default_start(model)).trace)


def test_given_components_json():
    """Variances used as given: no estimation, no SEs; ratios at the given values."""
    model = MODELS["c"]()
    vc = VarianceComponents.from_named(model.layout, ARBITRARY["c"])
    ll = reml_loglik(model, vc).loglik
    doc = given_components_json(vc, ll)
    assert doc["method"] == "none" and doc["converged"] is None and doc["iterations"] == 0
    assert doc["log_likelihood"] == ll
    assert doc["variances"] == {"animal": 26.0, "dam": 14.0, "residual": 47.0}
    assert doc["covariances"] == {"animal.dam": 6.0}
    assert doc["se"] == {} and doc["boundary"] == [] and doc["messages"] == []
    assert doc["ratios"]["h2"] == {"estimate": pytest.approx(26.0 / (26 + 14 + 6 + 47), rel=1e-12), "se": None}
    json.dumps(doc, allow_nan=False)


def test_default_start_splits_the_least_squares_variance():
    model = MODELS["b"]()
    x = model.fixed[0].matrix.toarray()
    y = model.y[:, 0]
    resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    expected = resid @ resid / (model.n_records - x.shape[1]) / 3
    start = default_start(model)
    assert dict(zip(start.names, start.theta)) == pytest.approx(
        {"animal": expected, "pe": expected, "residual": expected}, rel=1e-10
    )
    assert MODELS["c"]().layout.names == ("animal", "dam", "animal.dam", "residual")


def test_bad_inputs_raise_config_errors():
    model = MODELS["c"]()
    good = {"animal": 20.0, "dam": 10.0, "animal.dam": -3.0, "residual": 40.0}
    with pytest.raises(ConfigError, match="residual"):
        fit_reml(model, {k: v for k, v in good.items() if k != "residual"})
    with pytest.raises(ConfigError, match="unknown variance parameter"):
        fit_reml(model, {**good, "litter": 1.0})
    with pytest.raises(ConfigError, match="positive"):
        fit_reml(model, {**good, "dam": -1.0})
    with pytest.raises(ConfigError, match="not positive definite"):
        fit_reml(model, {**good, "animal.dam": 20.0})
    with pytest.raises(ConfigError, match="method"):
        fit_reml(model, good, method="newton")
    with pytest.raises(ConfigError, match="max_iterations"):
        ConvergenceCriteria(max_iterations=0)
    # the covariance may be given in either order, and as components
    swapped = {"animal": 20.0, "dam": 10.0, "dam.animal": -3.0, "residual": 40.0}
    assert reml_loglik(model, swapped).loglik == reml_loglik(model, good).loglik
    vc = VarianceComponents.from_named(model.layout, good)
    np.testing.assert_array_equal(vc.theta, [20.0, 10.0, -3.0, 40.0])
    assert reml_loglik(model, vc).loglik == reml_loglik(model, good).loglik


# --------------------------------------------------------------------------------------------
# Recovery of simulated parameters
# --------------------------------------------------------------------------------------------
def test_simulated_parameters_are_recovered():
    """Five simulated populations (3000 animals, 80 % recorded, phenotypic selection; true
    σ²_a = 20, σ²_e = 40), model herd_year + sex + age + animal. Rule: the estimate lies within
    2 SE of the truth in at least 4 of the 5 runs, for each parameter."""
    hits = {"animal": 0, "residual": 0}
    for seed in range(1, 6):
        rec, rel = pedigree_records(SimulationSpec(n_animals=3000, seed=seed))
        model = build_model(
            rec, ["weaning_weight"], (("herd_year", "sex"), ("age",)), [additive_effect("animal", rec["id"], rel)]
        )
        fit = fit_reml(model, default_start(model))
        assert fit.converged
        for name, truth in (("animal", 20.0), ("residual", 40.0)):
            hits[name] += abs(fit.values[name] - truth) <= 2 * fit.se[name]
    assert hits["animal"] >= 4 and hits["residual"] >= 4, hits


def test_variances_the_data_cannot_separate_are_reported_not_converged():
    """Unrelated animals with one record each: V = (σ²a + σ²e) I, so REML sees only the sum (its
    AI matrix is singular). Today's trap: the start came back as `converged: true`. Now the fit
    says which parameters are not identifiable, is not converged, has no SEs, and the sum is
    still the REML estimate of the phenotypic variance (the residual mean square)."""
    rng = np.random.default_rng(1)
    n = 300
    ids = [f"a{i}" for i in range(n)]
    records = pd.DataFrame({"id": ids, "y": rng.normal(10, 3, n), "sex": rng.choice(["M", "F"], n)})
    rel = pedigree_relationship_from(sort_pedigree(ids, [None] * n, [None] * n))
    model = build_model(records, ["y"], (("sex",), ()), [additive_effect("animal", records["id"], rel)])
    fit = fit_reml(model)
    assert not fit.converged
    assert fit.not_identifiable == ("animal", "residual")
    assert any("cannot separate animal and residual" in m for m in fit.messages)
    assert all(math.isnan(v) for v in fit.se.values())
    doc = components_json(fit)
    assert doc["not_identifiable"] == ["animal", "residual"] and doc["converged"] is False
    y, sex = records["y"].to_numpy(), records["sex"].to_numpy()
    resid = y - pd.Series(y).groupby(sex).transform("mean").to_numpy()
    assert fit.values["animal"] + fit.values["residual"] == pytest.approx(resid @ resid / (n - 2), rel=1e-8)


def test_identifiable_models_are_not_flagged():
    for name in ("dyestuff", "penicillin"):
        assert fitted(name, "ai").not_identifiable == ()
