"""One engine for every model: a univariate model is the t = 1 case of the multi-trait model,
direct + maternal effects on two traits against a brute-force REML oracle, and a genetic
correlation at the boundary |r_g| = 1.

Parameters θ: for G0 of every term and then R0, the diagonal followed by the upper triangle row
by row. Components of a term are effect-major: (animal, t1), (animal, t2), (dam, t1), (dam, t2).

Dense REML oracle (written out here, independent of the sparse equations): the observed values
stacked trait by trait, V(θ) = Σ_k θ_k ∂V/∂θ_k with ∂V/∂G0[a,b] = Z_a K Z_b' + Z_b K Z_a' (Z_c
the incidence of component c on the values of its trait, K = A by the tabular method) and
∂V/∂R0[j,l] the indicator of the value pairs of one record on traits (j, l);

    logL = -1/2 [(N - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py],   P = V⁻¹ - V⁻¹X(X'V⁻¹X)⁻¹X'V⁻¹,
    ∂logL/∂θ_k = -1/2 [tr(P ∂V_k) - y'P ∂V_k P y],   AI_kl = 1/2 y'P ∂V_k P ∂V_l P y,

with X the model's own fixed-effect columns (log|X'V⁻¹X| depends on the basis of X); maxima by
scipy.optimize (BFGS) on a log-Cholesky parameterisation of every matrix (M = LL', log diag L),
or with G0 = vv' (rank one) for an optimum at |r_g| = 1.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sl
import scipy.optimize as so
from test_multitrait import _indices, dense_records, fd_gradient
from test_multitrait import _unpack as _matrices

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, maternal_effect
from henderson.model import MixedModel, build_model
from henderson.pedigree import relationship_matrix_dense, sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reml import ConvergenceCriteria, default_start, fit_reml, reml_loglik
from henderson.simulate import SimulationSpec, simulate
from henderson.solutions import solve

AI_TIGHT = ConvergenceCriteria(max_iterations=200, loglik_change=1e-10, parameter_change=1e-9, gradient_norm=1e-7)
FIXED = (("herd_year", "sex"), ("age",))


def _known(values) -> list[str | None]:
    return [None if v in ("0", "") else v for v in pd.Series(values).astype(str)]


def _pedigree(data):
    pf = data.pedigree
    return sort_pedigree(list(pf["id"].astype(str)), _known(pf["sire"]), _known(pf["dam"]))


# --------------------------------------------------------------------------------------------
# Dense oracle
# --------------------------------------------------------------------------------------------
def _log_cholesky(seg: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """θ of M = LL' (L lower, log diagonal; seg = L's lower triangle by rows) and ∂θ/∂seg."""
    il = np.tril_indices(k)
    low = np.zeros((k, k))
    low[il] = seg
    low[np.diag_indices(k)] = np.exp(np.diag(low))
    idx = _indices(k)
    jac = np.zeros((idx[0].size, il[0].size))
    for s, (i, j) in enumerate(zip(*il)):
        dl = np.zeros((k, k))
        dl[i, j] = low[i, j] if i == j else 1.0
        jac[:, s] = (dl @ low.T + low @ dl.T)[idx]
    return (low @ low.T)[idx], jac


def _log_factor(m: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_log_cholesky`: L's lower triangle by rows, log diagonal."""
    low = np.linalg.cholesky(m)
    low[np.diag_indices(m.shape[0])] = np.log(np.diag(low))
    return low[np.tril_indices(m.shape[0])]


def _rank_one(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """θ of M = vv' and ∂θ/∂v."""
    rows, cols = _indices(v.size)
    jac = np.zeros((rows.size, v.size))
    for r, (a, b) in enumerate(zip(rows, cols)):
        jac[r, a] += v[b]
        jac[r, b] += v[a]
    return v[rows] * v[cols], jac


def _held(x: np.ndarray, corr: float) -> tuple[np.ndarray, np.ndarray]:
    """θ of the 2 × 2 M = [[ψ1, ρ√(ψ1ψ2)], [ρ√(ψ1ψ2), ψ2]] with ψ = exp(x), ρ = `corr` fixed,
    and ∂θ/∂x."""
    psi = np.exp(x)
    cov = corr * math.sqrt(psi[0] * psi[1])
    return np.array([psi[0], psi[1], cov]), np.array([[psi[0], 0.0], [0.0, psi[1]], [0.5 * cov, 0.5 * cov]])


class DenseREML:
    """V(θ) = Σ θ_k ∂V_k over the observed values (module docstring). `incidence`: per effect of
    the one random term, its n × q incidence on the records; `kmat`: K (q × q)."""

    def __init__(self, model: MixedModel, kmat: np.ndarray, incidence: list[np.ndarray]):
        t = model.n_traits
        obs, self.y, self.x = dense_records(model)
        rec = np.array([i for _, i in obs])
        trait = np.array([j for j, _ in obs])
        comps = [(e, j) for e in range(len(incidence)) for j in range(t)]
        zs = [np.where((trait == j)[:, None], incidence[e][rec], 0.0) for e, j in comps]
        self.sizes = [len(comps), t]
        self.dv = []
        for a, b in zip(*_indices(len(comps))):
            m = zs[a] @ kmat @ zs[b].T
            self.dv.append(m if a == b else m + m.T)
        same = rec[:, None] == rec[None, :]
        for a, b in zip(*_indices(t)):
            pair = ((trait[:, None] == a) & (trait[None, :] == b)) | ((trait[:, None] == b) & (trait[None, :] == a))
            self.dv.append((same & pair).astype(float))

    def loglik(self, theta, derivatives: bool = False, ai: bool = False):
        """logL, and (logL, gradient[, AI]) with `derivatives`."""
        x, y = self.x, self.y
        n, p = x.shape
        factor = sl.cho_factor(sum(v * d for v, d in zip(theta, self.dv)), lower=True)
        vx, vy = sl.cho_solve(factor, x), sl.cho_solve(factor, y)
        xvx = x.T @ vx
        py = vy - vx @ np.linalg.solve(xvx, x.T @ vy)
        ll = -0.5 * ((n - p) * math.log(2 * math.pi) + 2 * np.log(np.diag(factor[0])).sum()
                     + np.linalg.slogdet(xvx)[1] + y @ py)
        if not derivatives:
            return ll
        pmat = sl.cho_solve(factor, np.eye(n)) - vx @ np.linalg.solve(xvx, vx.T)
        grad = np.array([-0.5 * (np.sum(pmat * d) - py @ d @ py) for d in self.dv])
        if not ai:
            return ll, grad
        f = np.column_stack([d @ py for d in self.dv])
        return ll, grad, 0.5 * f.T @ pmat @ f

    def natural(self, phi, g0: str | float = "cholesky"):
        """θ(φ) and ∂θ/∂φ: every matrix log-Cholesky, except G0 when `g0` is "rank_one"
        (G0 = vv') or a correlation ρ (2 × 2 G0 with log variances and correlation ρ held)."""
        blocks, off = [], 0
        for m, k in enumerate(self.sizes):
            if m == 0 and g0 == "rank_one":
                blocks.append(_rank_one(phi[:k]))
                off += k
            elif m == 0 and g0 != "cholesky":
                blocks.append(_held(phi[:2], float(g0)))
                off += 2
            else:
                size = k * (k + 1) // 2
                blocks.append(_log_cholesky(phi[off : off + size], k))
                off += size
        return np.concatenate([b[0] for b in blocks]), sl.block_diag(*[b[1] for b in blocks])

    def packed(self, theta) -> np.ndarray:
        """φ of θ (every matrix positive definite) in the log-Cholesky parameterisation."""
        return np.concatenate([_log_factor(m) for m in _matrices(theta, self.sizes)])

    def maximise(self, phi0, g0: str | float = "cholesky") -> tuple[np.ndarray, float]:
        """(θ, logL) at the maximum over φ (:meth:`natural`), BFGS from `phi0`."""
        def objective(phi):
            theta, jac = self.natural(phi, g0)
            ll, grad = self.loglik(theta, derivatives=True)
            return -ll, -(jac.T @ grad)

        res = so.minimize(objective, phi0, jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 3000})
        return self.natural(res.x, g0)[0], -res.fun


def _assert_close(theta, reference, sizes, tol):
    """Every (co)variance within tol × √(m_aa m_bb) of the reference (relative to its matrix's
    scale, so that a covariance near 0 is compared meaningfully)."""
    for m, ref in zip(_matrices(theta, sizes), _matrices(reference, sizes)):
        scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
        assert np.all(np.abs(m - ref) <= tol * scale), (m, ref)


# --------------------------------------------------------------------------------------------
# (a) a univariate model is the t = 1 case
# --------------------------------------------------------------------------------------------
@functools.cache
def two_traits(missing: float):
    """Two simulated traits (300 animals), the two-trait model, the one-trait model of each
    trait on its own records and its REML fit."""
    data = simulate(SimulationSpec(
        n_animals=300, seed=5, traits=2, missing_fraction=missing, n_generations=5, n_herds=4, selection="none",
    ))
    rel = pedigree_relationship_from(_pedigree(data))
    traits = list(data.parameters["traits"])
    rec = data.phenotypes
    model = build_model(rec, traits, FIXED, [additive_effect("animal", rec["id"], rel)])
    singles, fits = [], []
    for trait in traits:
        sub = rec[rec[trait].notna()].reset_index(drop=True)
        single = build_model(sub, [trait], FIXED, [additive_effect("animal", sub["id"], rel)])
        singles.append(single)
        fits.append(fit_reml(single))
    return model, singles, fits


def _diagonal(model, singles, fits, factors):
    """(two-trait components, one-trait components per trait) with G0 and R0 diagonal, each
    variance the one-trait REML estimate times `factors` (genetic, residual)."""
    g = np.array([f.values["animal"] for f in fits]) * factors[0]
    r = np.array([f.values["residual"] for f in fits]) * factors[1]
    joint = VarianceComponents(model.layout, (np.diag(g),), np.diag(r))
    alone = [VarianceComponents(s.layout, (np.array([[g[j]]]),), np.array([[r[j]]])) for j, s in enumerate(singles)]
    return joint, alone


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("factors", [(1.0, 1.0), (1.5, 0.7)], ids=["at-estimates", "off-estimates"])
def test_diagonal_two_trait_model_is_two_univariate_models(missing, factors):
    """G0 = diag(σ²a1, σ²a2), R0 = diag(σ²e1, σ²e2) (the one-trait REML estimates, or scaled):
    V is block diagonal by trait, so logL = logL_1 + logL_2, and for the variances of trait j
    the gradient, the AI block and the genetic EM update equal those of the one-trait model
    (1e-8 relative; the gradient, ≈ 0 at the estimates, also within 1e-8 of ½ q/σ²a and
    ½ n_j/σ²e, the two parts whose difference it is); AI entries between the traits vanish.
    The residual EM update of the two-trait model is the expected complete-data one: the n − n_j
    records missing trait j contribute σ²e_j, so it equals (n_j EM_j + (n − n_j) σ²e_j)/n.
    Solutions, PEVs and reliabilities of trait j equal the one-trait ones (1e-8 relative)."""
    model, singles, fits = two_traits(missing)
    assert (model.n_observed < 2 * model.n_records) == (missing > 0)
    joint, alone = _diagonal(model, singles, fits, factors)
    both = reml_loglik(model, joint, derivatives=True)
    each = [reml_loglik(s, vc, derivatives=True) for s, vc in zip(singles, alone)]
    assert both.loglik == pytest.approx(each[0].loglik + each[1].loglik, rel=1e-8)
    names = list(model.layout.names)
    traits = model.traits
    variances = [[names.index(f"animal[{t},{t}]"), names.index(f"residual[{t},{t}]")] for t in traits]
    for j, (single, ev, vc) in enumerate(zip(singles, each, alone)):
        assert single.layout.names == ("animal", "residual")
        k = variances[j]
        n_j = int(model.observed[:, j].sum())
        parts = 0.5 * np.array([single.terms[0].q / vc.g0[0][0, 0], n_j / vc.r0[0, 0]])
        atol = 1e-8 * parts.max() if factors == (1.0, 1.0) else 0.0
        np.testing.assert_allclose(both.gradient[k], ev.gradient, rtol=1e-8, atol=atol)
        np.testing.assert_allclose(both.ai[np.ix_(k, k)], ev.ai, rtol=1e-8)
        other = variances[1 - j]
        assert np.all(np.abs(both.ai[np.ix_(k, other)]) <= 1e-8 * np.abs(ev.ai).max())
        assert both.em[k[0]] == pytest.approx(ev.em[0], rel=1e-8)
        n = model.n_records
        expected = (n_j * ev.em[1] + (n - n_j) * vc.r0[0, 0]) / n
        assert both.em[k[1]] == pytest.approx(expected, rel=1e-8)
    table = solve(model, joint).table
    for trait, single, vc in zip(traits, singles, alone):
        mine = table[table["trait"] == trait].reset_index(drop=True)
        theirs = solve(single, vc).table
        assert list(mine["effect"]) == list(theirs["effect"]) and list(mine["level"]) == list(theirs["level"])
        est = theirs["estimate"].to_numpy()
        np.testing.assert_allclose(mine["estimate"].to_numpy(), est, rtol=1e-8, atol=1e-8 * np.abs(est).max())
        np.testing.assert_allclose(mine["se"].to_numpy() ** 2, theirs["se"].to_numpy() ** 2, rtol=1e-8)
        np.testing.assert_allclose(mine["reliability"].to_numpy(), theirs["reliability"].to_numpy(),
                                   rtol=1e-8, atol=1e-12)


def test_one_trait_of_a_model_is_the_univariate_model():
    """trait_model(j) is the one-trait model of trait j's records (logL, gradient and AI to 1e-12
    relative), and the default start of the two-trait model is diag of the one-trait REML
    estimates (1e-8 relative)."""
    model, singles, fits = two_traits(0.2)
    start = default_start(model)
    for j, (single, fit) in enumerate(zip(singles, fits)):
        assert fit.converged and not fit.boundary
        sub = model.trait_model(j)
        assert sub.n_traits == 1 and sub.layout.names == single.layout.names
        a = reml_loglik(sub, fit.components, derivatives=True)
        b = reml_loglik(single, fit.components, derivatives=True)
        assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
        np.testing.assert_allclose(a.ai, b.ai, rtol=1e-12)
        np.testing.assert_allclose(a.gradient, b.gradient, rtol=0, atol=1e-10)
        assert start.g0[0][j, j] == pytest.approx(fit.values["animal"], rel=1e-8)
        assert start.r0[j, j] == pytest.approx(fit.values["residual"], rel=1e-8)
    assert start.g0[0][0, 1] == 0.0 and start.r0[0, 1] == 0.0


# --------------------------------------------------------------------------------------------
# (b) two traits, direct + maternal effects
# --------------------------------------------------------------------------------------------
MATERNAL_SEED = 14  # an interior REML optimum (oracle: smallest eigenvalue of corr(G0) ≈ 0.28)


@functools.cache
def maternal_case():
    """250 simulated animals (5 cohorts), two traits (10 % missing), direct + maternal genetic
    effects sharing A; fixed herd-year + sex per trait. Returns (model, spec, dense oracle)."""
    spec = SimulationSpec(
        n_animals=250, seed=MATERNAL_SEED, traits=2, maternal=True, n_generations=5, n_herds=4,
        selection="none", missing_fraction=0.1, fraction_phenotyped=1.0,
    )
    data = simulate(spec)
    ped = _pedigree(data)
    rel = pedigree_relationship_from(ped)
    rec = data.phenotypes
    dams = pd.Series(_known(rec["dam"]), dtype=object)
    model = build_model(rec, list(data.parameters["traits"]), (("herd_year", "sex"), ()),
                        [[additive_effect("animal", rec["id"], rel), maternal_effect("dam", dams, rel)]])
    position = pd.Index(ped.ids)
    n, q = len(rec), len(ped.ids)
    animal = np.zeros((n, q))
    animal[np.arange(n), position.get_indexer(rec["id"].astype(str))] = 1.0
    dam = np.zeros((n, q))
    known = position.get_indexer(dams.fillna(""))
    dam[np.flatnonzero(known >= 0), known[known >= 0]] = 1.0
    return model, spec, DenseREML(model, relationship_matrix_dense(ped), [animal, dam])


@functools.cache
def maternal_oracle():
    dense = maternal_case()[2]
    start = np.concatenate([np.full(4, 15.0), np.zeros(6), [40.0, 40.0, 0.0]])
    return dense.maximise(dense.packed(start))


def _true_components(model, spec):
    """The simulation's G0 (direct rows × maternal columns for animal.dam) and R0."""
    return VarianceComponents.from_named(model.layout, {
        "animal": spec.genetic_covariance, "dam": spec.maternal_covariance,
        "animal.dam": spec.direct_maternal_covariance, "residual": spec.residual_covariance,
    })


def test_direct_maternal_layout_and_loglik_at_a_fixed_point():
    """At the simulation's G0 (4 × 4) and R0: G0 of the components equals the simulated
    [[G_aa, G_am], [G_am', G_mm]]; logL equals the dense formula (1e-8 relative), the gradient
    equals the dense gradient (1e-7 relative to its largest entry) and central differences of the
    engine's own logL (1e-5), and AI the dense AI matrix (1e-7)."""
    model, spec, dense = maternal_case()
    t1, t2 = model.traits
    assert model.layout.names == (
        f"animal[{t1},{t1}]", f"animal[{t2},{t2}]", f"dam[{t1},{t1}]", f"dam[{t2},{t2}]",
        f"animal[{t1},{t2}]", f"animal.dam[{t1},{t1}]", f"animal.dam[{t1},{t2}]", f"animal.dam[{t2},{t1}]",
        f"animal.dam[{t2},{t2}]", f"dam[{t1},{t2}]",
        f"residual[{t1},{t1}]", f"residual[{t2},{t2}]", f"residual[{t1},{t2}]",
    )
    vc = _true_components(model, spec)
    np.testing.assert_array_equal(vc.g0[0], spec.genetic_block())
    theta = vc.theta
    np.testing.assert_array_equal(theta, np.concatenate([m[_indices(m.shape[0])] for m in vc.matrices]))
    ev = reml_loglik(model, vc, derivatives=True)
    ll, grad, ai = dense.loglik(theta, derivatives=True, ai=True)
    assert ev.loglik == pytest.approx(ll, rel=1e-8)
    np.testing.assert_allclose(ev.gradient, grad, rtol=0, atol=1e-7 * np.abs(grad).max())
    np.testing.assert_allclose(ev.ai, ai, rtol=0, atol=1e-7 * np.abs(ai).max())
    fd = fd_gradient(model, theta)
    np.testing.assert_allclose(ev.gradient, fd, rtol=0, atol=1e-5 * np.abs(fd).max())


def test_direct_maternal_reml_matches_dense_oracle():
    """AI-REML from the default start reaches the dense oracle's maximum: every (co)variance
    within 1e-4 of its matrix's scale, logL within 1e-4 relative (and 1e-6 absolute); the oracle's
    optimum is interior (smallest eigenvalue of the genetic correlation matrix > 0.1)."""
    model, _, dense = maternal_case()
    theta, ll = maternal_oracle()
    g0 = _matrices(theta, dense.sizes)[0]
    d = np.sqrt(np.diag(g0))
    assert np.linalg.eigvalsh(g0 / np.outer(d, d))[0] > 0.1
    fit = fit_reml(model, criteria=AI_TIGHT)
    assert fit.converged and not fit.boundary
    _assert_close(fit.components.theta, theta, dense.sizes, 1e-4)
    assert fit.log_likelihood == pytest.approx(ll, rel=1e-4, abs=0)
    assert abs(fit.log_likelihood - ll) < 1e-6
    ratios = fit.ratios
    t1, t2 = model.traits
    assert set(ratios) >= {"h2", "dam_ratio", "genetic_correlation", "correlation_dam", "r_animal_dam",
                           "residual_correlation"}
    g = fit.components.g0[0]
    assert ratios["r_animal_dam"][f"{t1}.{t2}"]["estimate"] == pytest.approx(g[0, 3] / math.sqrt(g[0, 0] * g[3, 3]))


# --------------------------------------------------------------------------------------------
# (c) genetic correlation at the boundary
# --------------------------------------------------------------------------------------------
@functools.cache
def same_signal(seed: int):
    """One simulated trait (250 animals) and a second one carrying the same breeding values:
    y2 = 50 + 1.5 a + e2, e2 ~ N(0, 30) independent (true r_g = 1, r_e = 0). Returns the model,
    the dense oracle and its maximum over rank-one G0 = vv' (θ, logL)."""
    data = simulate(SimulationSpec(n_animals=250, seed=seed, n_generations=5, n_herds=4, selection="none"))
    ped = _pedigree(data)
    rec = data.phenotypes.copy()
    tbv = data.truth.set_index("id")["tbv_weaning_weight"]
    rng = np.random.default_rng(seed)
    rec["y2"] = np.round(50.0 + 1.5 * tbv.loc[rec["id"]].to_numpy() + rng.normal(0.0, math.sqrt(30.0), len(rec)), 2)
    rel = pedigree_relationship_from(ped)
    model = build_model(rec, ["weaning_weight", "y2"], {"weaning_weight": FIXED, "y2": (("sex",), ())},
                        [additive_effect("animal", rec["id"], rel)])
    dense = DenseREML(model, relationship_matrix_dense(ped), [model.terms[0].incidence[0].toarray()])
    theta, ll = dense.maximise(np.array([4.0, 6.0, math.log(6.0), 0.0, math.log(5.0)]), "rank_one")
    return model, dense, theta, ll


@pytest.mark.parametrize("seed", [1, 2, 3, 5])  # seeds 0 and 4 give an interior optimum
def test_genetic_correlation_at_one_converges_at_the_boundary(seed):
    """Oracle: over rank-one G0 = vv' the dense logL has a stationary maximum whose gradient
    points out of the positive semi-definite cone (w'Γw < 0 for w ⊥ v, Γ = ∂logL/∂G0), so the
    REML optimum is at r_g = 1. AI-REML (default criteria) converges before the iteration cap,
    reports the genetic correlation at the boundary with a message and estimates |r_g| > 0.99.
    Its logL does not exceed the oracle's supremum (1e-6), and the estimates are the best ones
    with r_g held at the reported value: the dense maximum over the variances and R0 with
    r_g fixed (logL within 1e-6, every (co)variance within 1e-4 of its matrix's scale)."""
    model, dense, theta, sup = same_signal(seed)
    _, grad = dense.loglik(theta, derivatives=True)
    gamma = np.array([[grad[0], grad[2] / 2], [grad[2] / 2, grad[1]]])
    v = np.sqrt(theta[:2]) * np.array([1.0, np.sign(theta[2])])
    w = np.array([v[1], -v[0]])
    assert w @ gamma @ w < 0
    fit = fit_reml(model)
    assert fit.converged and fit.iterations < fit.criteria.max_iterations
    name = "animal[weaning_weight,y2]"
    assert name in fit.boundary
    assert any(name in m and "boundary" in m for m in fit.messages)
    g = fit.components.g0[0]
    rg = g[0, 1] / math.sqrt(g[0, 0] * g[1, 1])
    assert abs(rg) > 0.99
    assert fit.ratios["genetic_correlation"]["weaning_weight.y2"]["estimate"] == pytest.approx(rg, rel=1e-12)
    assert fit.log_likelihood < sup + 1e-6
    start = np.concatenate([np.log(theta[:2]), _log_factor(_matrices(theta, dense.sizes)[1])])
    held, best = dense.maximise(start, rg)
    assert abs(fit.log_likelihood - best) < 1e-6
    _assert_close(fit.components.theta, held, dense.sizes, 1e-4)
