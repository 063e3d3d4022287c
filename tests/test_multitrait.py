"""Multi-trait animal model: MME, solutions and PEV, REML objective and derivatives, AI/EM-REML.

Oracles:

* a dense model built independently of the sparse code: the observed values stacked trait by
  trait, X* = blockdiag(X_j), Z* mapping each observed value to its animal/level of its trait,
  G = blockdiag_k(G0_k ⊗ K_k) with K_k formed densely from K_k⁻¹, R* with R0[j, l] between the
  values of one record, V = Z*GZ*' + R*; GLS for b, BLUP u = G Z*'V⁻¹(y - X*b), PEV from the
  dense inverse of the full MME, the REML logL, gradient and AI matrix by their textbook formulas;
* separate univariate models (one trait's records, t = 1) when G0 and R0 are diagonal;
* REML maxima found by scipy.optimize (BFGS) on a log-Cholesky parameterisation of G0 and R0
  using the dense logL and its gradient.

Mrode (2014), Linear Models for the Prediction of Animal Breeding Values, 3rd ed., Examples 5.1
(two traits, all records) and 5.2 (two traits, missing records) supply the data (pedigree, records,
G0, R0); their solutions are compared with the dense oracle, not with printed values.

Parameters θ: for G0 of every term and then R0, the diagonal followed by the upper triangle row
by row (names ``animal[a,b]``, ``residual[a,b]``).
"""

from __future__ import annotations

import functools
import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, iid_effect, maternal_effect
from henderson.errors import ConfigError, InputError
from henderson.mme import coefficient_matrix
from henderson.model import MixedModel, build_model
from henderson.pedigree import inbreeding, sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reml import (
    ConvergenceCriteria,
    REMLFit,
    components_json,
    default_start,
    fit_reml,
    reml_loglik,
)
from henderson.simulate import SimulationSpec, simulate
from henderson.solutions import solve

EM_LONG = ConvergenceCriteria(max_iterations=5000, loglik_change=1e-10, parameter_change=1e-9)
AI_TIGHT = ConvergenceCriteria(max_iterations=200, loglik_change=1e-10, parameter_change=1e-9, gradient_norm=1e-7)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def _known(values) -> list[str | None]:
    return [None if v in ("0", "") else v for v in pd.Series(values).astype(str)]


def mrode_model(example: str) -> MixedModel:
    """Mrode (2014) Example 5.1 (all records) or 5.2 (missing PWG of 4 and 9, animal 9 added)."""
    ids = [str(i) for i in range(1, 9)]
    sires = [None, None, None, "1", "3", "1", "4", "3"]
    dams = [None, None, None, None, "2", "2", "5", "6"]
    if example == "5.1":
        rec = pd.DataFrame({
            "animal": ["4", "5", "6", "7", "8"], "sex": ["M", "F", "F", "M", "M"],
            "WWG": [4.5, 2.9, 3.9, 3.5, 5.0], "PWG": [6.8, 5.0, 6.8, 6.0, 7.5],
        })
    else:
        ids, sires, dams = ids + ["9"], sires + ["7"], dams + [None]
        rec = pd.DataFrame({
            "animal": ["4", "5", "6", "7", "8", "9"], "sex": ["M", "F", "F", "M", "M", "F"],
            "WWG": [4.5, 2.9, 3.9, 3.5, 5.0, 4.0], "PWG": [np.nan, 5.0, 6.8, 6.0, 7.5, np.nan],
        })
    ped = sort_pedigree(ids, sires, dams)
    rel = pedigree_relationship_from(ped, inbreeding(ped))
    z = additive_effect("animal", rec["animal"], rel)
    return build_model(rec, ["WWG", "PWG"], {"WWG": (("sex",), ()), "PWG": (("sex",), ())}, [z])


MRODE_G0 = np.array([[20.0, 18.0], [18.0, 40.0]])
MRODE_R0 = np.array([[40.0, 11.0], [11.0, 30.0]])


def components(model: MixedModel, gs, r0) -> VarianceComponents:
    """G0 of every term (in model order) and R0 as components of `model`."""
    return VarianceComponents(model.layout, tuple(gs), r0)


@functools.cache
def simulated_records(n_animals: int, seed: int, traits: int = 2, missing: float = 0.2):
    """(records with at least one trait, trait names, additive effect over the records)."""
    data = simulate(SimulationSpec(
        n_animals=n_animals, seed=seed, traits=traits, missing_fraction=missing, n_generations=5,
        n_herds=4, selection="none",
    ))
    pf = data.pedigree
    ped = sort_pedigree(list(pf["id"].astype(str)), _known(pf["sire"]), _known(pf["dam"]))
    rel = pedigree_relationship_from(ped, inbreeding(ped))
    names = list(data.parameters["traits"])
    rec = data.phenotypes
    rec = rec[rec[names].notna().any(axis=1)].reset_index(drop=True)
    return rec, names, additive_effect("animal", rec["id"], rel)


@functools.cache
def simulated(n_animals: int, seed: int, traits: int = 2, iid: bool = False, missing: float = 0.2) -> MixedModel:
    """Simulated records (20 % missing per trait): fixed sex + age (herd_year too unless `iid`,
    where herd_year is an iid random effect), additive animal effect."""
    rec, names, animal = simulated_records(n_animals, seed, traits, missing)
    terms = [animal]
    classes = ("sex",) if iid else ("herd_year", "sex")
    if iid:
        terms.append(iid_effect("herd_year", rec["herd_year"]))
    fixed = {t: (classes, ("age",)) for t in names}
    return build_model(rec, names, fixed, terms)


# --------------------------------------------------------------------------------------------
# Parameter packing (θ: per matrix, diagonal then upper triangle by rows)
# --------------------------------------------------------------------------------------------
def dense_records(model: MixedModel) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The observed values as (trait, record) pairs in trait-major order, their y, and the dense
    fixed-effect design of each (each trait's own X_j in its own columns)."""
    t = model.n_traits
    obs = [(j, i) for j in range(t) for i in range(model.n_records) if model.observed[i, j]]
    y = np.array([model.y[i, j] for j, i in obs])
    p_off = np.concatenate([[0], np.cumsum([f.n_columns for f in model.fixed])])
    x = np.zeros((len(obs), p_off[-1]))
    for row, (j, i) in enumerate(obs):
        r = int(np.searchsorted(model.fixed_rows[j], i))
        x[row, p_off[j] : p_off[j + 1]] = model.fixed[j].matrix[r].toarray().ravel()
    return obs, y, x


def fd_gradient(model: MixedModel, theta: np.ndarray) -> np.ndarray:
    """Central differences of the engine's logL (step 1e-4 × max(|θ_i|, 1))."""
    fd = np.zeros_like(theta)
    for i in range(theta.size):
        h = 1e-4 * max(abs(theta[i]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        lu = reml_loglik(model, VarianceComponents.from_theta(model.layout, up)).loglik
        ld = reml_loglik(model, VarianceComponents.from_theta(model.layout, down)).loglik
        fd[i] = (lu - ld) / (2 * h)
    return fd


def _indices(k: int) -> tuple[np.ndarray, np.ndarray]:
    iu = np.triu_indices(k, 1)
    return np.concatenate([np.arange(k), iu[0]]), np.concatenate([np.arange(k), iu[1]])


def _theta(gs, r0) -> np.ndarray:
    return np.concatenate([m[_indices(m.shape[0])] for m in [*gs, r0]])


def _unpack(theta, sizes) -> list[np.ndarray]:
    mats, off = [], 0
    for k in sizes:
        rows, cols = _indices(k)
        m = np.zeros((k, k))
        m[rows, cols] = m[cols, rows] = theta[off : off + rows.size]
        mats.append(m)
        off += rows.size
    return mats


def _names(model: MixedModel) -> list[str]:
    """The documented parameter names: <term>[a,b] and residual[a,b], diagonal first."""
    tr = model.traits
    out = []
    for name in [term.name for term in model.terms] + ["residual"]:
        rows, cols = _indices(len(tr))
        out.extend(f"{name}[{tr[i]},{tr[j]}]" for i, j in zip(rows, cols))
    return out


def _random_pd(t, scale, rng):
    a = rng.normal(size=(t, t))
    m = a @ a.T + t * np.eye(t)
    d = np.sqrt(np.diag(m))
    return scale * m / np.outer(d, d)


# --------------------------------------------------------------------------------------------
# Dense oracle
# --------------------------------------------------------------------------------------------
class Dense:
    """The multi-trait model written out densely over the observed values (trait-major)."""

    def __init__(self, model: MixedModel):
        self.model = model
        t = model.n_traits
        obs, self.y, self.x = dense_records(model)
        self.obs = obs
        self.z = []  # per term: (N_obs × k q), component-major
        self.k = []
        for term in model.terms:
            q = term.q
            zk = np.zeros((len(obs), term.k * q))
            dense = [z.toarray() for z in term.incidence]
            for row, (j, i) in enumerate(obs):
                for c, (e, jc) in enumerate(term.components):
                    if jc == j:
                        zk[row, c * q : (c + 1) * q] = dense[e][i]
            self.z.append(zk)
            self.k.append(np.linalg.inv(term.relationship.kinv_matrix().toarray()))
        self.rec = np.array([i for _, i in obs])
        self.trait = np.array([j for j, _ in obs])
        self.sizes = [term.k for term in model.terms] + [t]

    def parts(self, gs, r0):
        g = [np.kron(g0, k) for g0, k in zip(gs, self.k)]
        rmat = np.where(self.rec[:, None] == self.rec[None, :], r0[self.trait][:, self.trait], 0.0)
        return g, rmat

    def v(self, gs, r0):
        g, rmat = self.parts(gs, r0)
        return sum(z @ gk @ z.T for z, gk in zip(self.z, g)) + rmat

    def solutions(self, gs, r0):
        """GLS b̂, BLUP û (per term, component-major) and diag of the inverse of the full MME."""
        x, y = self.x, self.y
        vinv = np.linalg.inv(self.v(gs, r0))
        b = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ y)
        g, rmat = self.parts(gs, r0)
        u = [gk @ z.T @ vinv @ (y - x @ b) for z, gk in zip(self.z, g)]
        w = np.hstack([x] + self.z)
        rinv = np.linalg.inv(rmat)
        c = w.T @ rinv @ w
        p = x.shape[1]
        off = p
        for gk in g:
            size = gk.shape[0]
            c[off : off + size, off : off + size] += np.linalg.inv(gk)
            off += size
        return b, u, np.diag(np.linalg.inv(c)), c, w.T @ rinv @ y

    def unpack(self, theta):
        mats = _unpack(np.asarray(theta, float), self.sizes)
        return mats[:-1], mats[-1]

    @functools.cached_property
    def dvs(self):
        out = []
        for z, k, size in zip(self.z, self.k, self.sizes):
            for a, b in zip(*_indices(size)):
                e = np.zeros((size, size))
                e[a, b] = e[b, a] = 1.0
                out.append(z @ np.kron(e, k) @ z.T)
        t = self.model.n_traits
        for a, b in zip(*_indices(t)):
            e = np.zeros((t, t))
            e[a, b] = e[b, a] = 1.0
            out.append(np.where(self.rec[:, None] == self.rec[None, :], e[self.trait][:, self.trait], 0.0))
        return out

    def loglik(self, theta, derivatives=False):
        gs, r0 = self.unpack(theta)
        x, y = self.x, self.y
        n, p = x.shape
        vmat = self.v(gs, r0)
        vinv = np.linalg.inv(vmat)
        xvx = x.T @ vinv @ x
        pmat = vinv - vinv @ x @ np.linalg.solve(xvx, x.T @ vinv)
        ll = -0.5 * ((n - p) * math.log(2 * math.pi) + np.linalg.slogdet(vmat)[1]
                     + np.linalg.slogdet(xvx)[1] + y @ pmat @ y)
        if not derivatives:
            return ll
        py = pmat @ y
        dvs = self.dvs
        grad = np.array([-0.5 * (np.sum(pmat * d) - py @ d @ py) for d in dvs])
        f = np.column_stack([d @ py for d in dvs])
        return ll, grad, 0.5 * f.T @ pmat @ f

    # log-Cholesky: every matrix = L L' with log diagonal
    def natural(self, phi):
        blocks, jacs, off = [], [], 0
        for k in self.sizes:
            il = np.tril_indices(k)
            seg = phi[off : off + il[0].size]
            off += il[0].size
            low = np.zeros((k, k))
            low[il] = seg
            dg = np.diag_indices(k)
            low[dg] = np.exp(low[dg])
            m = low @ low.T
            idx = _indices(k)
            blocks.append(m[idx])
            jac = np.zeros((idx[0].size, il[0].size))
            for s, (i, j) in enumerate(zip(*il)):
                d = np.zeros((k, k))
                d[i, j] = low[i, j] if i == j else 1.0
                jac[:, s] = (d @ low.T + low @ d.T)[idx]
            jacs.append(jac)
        size = sum(j.shape[0] for j in jacs)
        full = np.zeros((size, size))
        r = 0
        for jac in jacs:
            full[r : r + jac.shape[0], r : r + jac.shape[1]] = jac
            r += jac.shape[0]
        return np.concatenate(blocks), full

    def packed(self, theta):
        out = []
        for m in _unpack(np.asarray(theta, float), self.sizes):
            low = np.linalg.cholesky(m)
            low[np.diag_indices(m.shape[0])] = np.log(np.diag(low))
            out.append(low[np.tril_indices(m.shape[0])])
        return np.concatenate(out)

    def maximise(self, start):
        def objective(phi):
            theta, jac = self.natural(phi)
            ll, grad, _ = self.loglik(theta, derivatives=True)
            return -ll, -(jac.T @ grad)

        res = so.minimize(objective, self.packed(start), jac=True, method="BFGS",
                          options={"gtol": 1e-9, "maxiter": 3000})
        theta, _ = self.natural(res.x)
        return theta, -res.fun


# --------------------------------------------------------------------------------------------
# MME and solutions
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example", ["5.1", "5.2"])
def test_mrode_solutions_and_pev_match_dense_oracle(example):
    """Mrode Examples 5.1/5.2: BLUE, BLUP (tolerance 1e-9 relative to the largest |estimate|), PEV
    (1e-9 relative) and reliability 1 − PEV/(G0_jj (1 + F)) against GLS/BLUP and the dense inverse
    of the MME."""
    model = mrode_model(example)
    table = solve(model, components(model, [MRODE_G0], MRODE_R0)).table
    dense = Dense(model)
    b, u, cdiag, _, _ = dense.solutions([MRODE_G0], MRODE_R0)
    fixed = table[table["effect"] == "sex"]
    kept = np.concatenate([f.kept for f in model.fixed])
    est = fixed["estimate"].to_numpy()
    np.testing.assert_allclose(est[kept], b, rtol=1e-9, atol=1e-9 * np.abs(b).max())
    assert np.all(est[~kept] == 0.0) and np.all(np.isnan(fixed["se"].to_numpy()[~kept]))
    p = b.size
    np.testing.assert_allclose(fixed["se"].to_numpy()[kept] ** 2, cdiag[:p], rtol=1e-9)
    animal = table[table["effect"] == "animal"]
    np.testing.assert_allclose(animal["estimate"].to_numpy(), u[0], rtol=1e-9, atol=1e-9 * np.abs(u[0]).max())
    pev = animal["se"].to_numpy() ** 2
    np.testing.assert_allclose(pev, cdiag[p:], rtol=1e-9)
    rel = model.terms[0].relationship
    f = np.tile(rel.diagonal - 1.0, 2)
    g = np.repeat(np.diag(MRODE_G0), rel.q)
    np.testing.assert_allclose(animal["reliability"].to_numpy(), 1 - cdiag[p:] / (g * (1 + f)), rtol=1e-9)
    # layout: every trait × level once, traits in model order
    q = rel.q
    assert list(animal["trait"]) == ["WWG"] * q + ["PWG"] * q
    assert list(animal["level"]) == list(rel.levels) * 2
    if example == "5.2":  # animal 9 has no own PWG record but a BLUP through the WWG correlation
        row = animal[(animal["trait"] == "PWG") & (animal["level"] == "9")]
        assert abs(float(row["estimate"].iloc[0])) > 0


def test_coefficient_matrix_matches_dense():
    """C and r equal W'R⁻¹W + blockdiag(0, G⁻¹) and W'R⁻¹y formed densely (1e-12 relative), with
    two random effects and missing records; C is symmetric and stays sparse."""
    model = simulated(150, 4, iid=True)
    rng = np.random.default_rng(1)
    gs = [_random_pd(2, 20.0, rng), _random_pd(2, 5.0, rng)]
    r0 = _random_pd(2, 40.0, rng)
    lhs, rhs = coefficient_matrix(model, components(model, gs, r0))
    assert lhs.format == "csc"
    _, _, _, c, r = Dense(model).solutions(gs, r0)
    np.testing.assert_allclose(lhs.toarray(), c, rtol=0, atol=1e-12 * np.abs(c).max())
    np.testing.assert_allclose(rhs, r, rtol=0, atol=1e-12 * np.abs(r).max())
    assert abs(lhs - lhs.T).max() == 0.0


def test_diagonal_covariances_equal_univariate_fits():
    """G0, R0 diagonal: solutions equal those of each trait's own one-trait model (1e-9 relative
    to the largest |estimate| of the trait; PEV 1e-9 relative), and logL equals the sum of the
    one-trait logLs (1e-9 relative)."""
    model = simulated(300, 2)
    rec, _, animal = simulated_records(300, 2)
    g = np.array([18.0, 27.0])
    r = np.array([41.0, 55.0])
    table = solve(model, components(model, [np.diag(g)], np.diag(r))).table
    total = 0.0
    for j, trait in enumerate(model.traits):
        sub = rec.iloc[model.fixed_rows[j]].reset_index(drop=True)
        uni = build_model(sub, [trait], (("herd_year", "sex"), ("age",)),
                          [additive_effect("animal", sub["id"], animal.relationship)])
        vc = components(uni, [np.array([[g[j]]])], np.array([[r[j]]]))
        sol = solve(uni, vc).table
        part = table[table["trait"] == trait]
        fixed = part[part["effect"] != "animal"]["estimate"].to_numpy()
        uni_fixed = sol[sol["effect"] != "animal"]["estimate"].to_numpy()
        np.testing.assert_allclose(fixed, uni_fixed, rtol=1e-9, atol=1e-9 * np.abs(uni_fixed).max())
        mine, theirs = part[part["effect"] == "animal"], sol[sol["effect"] == "animal"]
        uni_u = theirs["estimate"].to_numpy()
        np.testing.assert_allclose(mine["estimate"].to_numpy(), uni_u, rtol=1e-9, atol=1e-9 * np.abs(uni_u).max())
        np.testing.assert_allclose(mine["se"].to_numpy() ** 2, theirs["se"].to_numpy() ** 2, rtol=1e-9)
        total += reml_loglik(uni, vc).loglik
    value = reml_loglik(model, components(model, [np.diag(g)], np.diag(r))).loglik
    assert value == pytest.approx(total, rel=1e-9)


# --------------------------------------------------------------------------------------------
# The REML objective and its derivatives
# --------------------------------------------------------------------------------------------
def test_loglik_gradient_and_ai_against_dense():
    """At arbitrary PD matrices with missing records and two random effects: logL equals the dense
    formula (1e-8 relative); the gradient equals the dense gradient (1e-7 relative to its largest
    entry) and central finite differences of logL (1e-5 relative); AI equals the dense AI matrix
    (1e-7 relative), is symmetric and positive definite."""
    model = simulated(150, 4, iid=True)
    rng = np.random.default_rng(7)
    gs = [_random_pd(2, 20.0, rng), _random_pd(2, 6.0, rng)]
    r0 = _random_pd(2, 40.0, rng)
    res = reml_loglik(model, components(model, gs, r0), derivatives=True)
    dense = Dense(model)
    theta = _theta(gs, r0)
    ll, grad, ai = dense.loglik(theta, derivatives=True)
    assert res.loglik == pytest.approx(ll, rel=1e-8)
    assert list(model.layout.names) == _names(model)
    np.testing.assert_array_equal(res.theta, theta)
    g = res.gradient
    np.testing.assert_allclose(g, grad, rtol=0, atol=1e-7 * np.abs(grad).max())
    np.testing.assert_allclose(res.ai, ai, rtol=0, atol=1e-7 * np.abs(ai).max())
    assert np.array_equal(res.ai, res.ai.T)
    assert np.linalg.eigvalsh(res.ai)[0] > 0
    fd = fd_gradient(model, theta)
    np.testing.assert_allclose(g, fd, rtol=0, atol=1e-5 * np.abs(fd).max())


def test_loglik_three_traits_against_dense():
    """Three traits, several missing patterns: logL (1e-8 relative) and gradient (1e-7)."""
    model = simulated(120, 5, traits=3, missing=0.3)
    assert len(model.patterns[0]) >= 5
    rng = np.random.default_rng(3)
    g, r0 = _random_pd(3, 10.0, rng), _random_pd(3, 30.0, rng)
    res = reml_loglik(model, components(model, [g], r0), derivatives=True)
    ll, grad, _ = Dense(model).loglik(_theta([g], r0), derivatives=True)
    assert res.loglik == pytest.approx(ll, rel=1e-8)
    np.testing.assert_allclose(res.gradient, grad, rtol=0, atol=1e-7 * np.abs(grad).max())


# --------------------------------------------------------------------------------------------
# REML
# --------------------------------------------------------------------------------------------
def _assert_close_to(fit: REMLFit, theta_ref: np.ndarray, tol: float):
    """Every (co)variance within tol × √(m_aa m_bb) of the reference (relative to its matrix's
    scale, so that a covariance near 0 is compared meaningfully)."""
    mats = fit.components.matrices
    refs = _unpack(theta_ref, [m.shape[0] for m in mats])
    for k, (m, ref) in enumerate(zip(mats, refs)):
        scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
        assert np.all(np.abs(m - ref) <= tol * scale), (k, m, ref)


@functools.cache
def _oracle(n_animals, seed, traits):
    model = simulated(n_animals, seed, traits=traits)
    dense = Dense(model)
    t = model.n_traits
    start = _theta([np.diag(np.full(t, 15.0))], np.diag(np.full(t, 40.0)))
    theta, ll = dense.maximise(start)
    return model, theta, ll


def _start(g, r):
    return {"animal": np.diag(g), "residual": np.diag(r)}


def test_ai_and_em_reml_match_dense_oracle_two_traits():
    """2 traits, 250 animals, 20 % missing per trait: AI and EM estimates within 1e-4 (relative
    to the matrix scale) of the BFGS maximum of the dense logL; logL at the estimates within
    1e-7 of the oracle's maximum; SEs positive; AI-REML converges in few iterations."""
    model, theta, ll = _oracle(300, 2, 2)
    start = _start([10.0, 10.0], [30.0, 30.0])
    ai_fit = fit_reml(model, start, method="ai", criteria=AI_TIGHT)
    assert ai_fit.converged and ai_fit.iterations < 30
    _assert_close_to(ai_fit, theta, 1e-4)
    assert ai_fit.log_likelihood == pytest.approx(ll, abs=1e-7)
    em_fit = fit_reml(model, start, method="em", criteria=EM_LONG)
    assert em_fit.converged
    _assert_close_to(em_fit, theta, 1e-4)
    assert np.all(np.isfinite(ai_fit.covariance)) and np.all(np.diag(ai_fit.covariance) > 0)
    # the trace starts at the start values and logL never decreases under EM
    assert list(ai_fit.trace.columns[:3]) == ["iteration", "step", "log_likelihood"]
    assert list(ai_fit.trace.columns[3:]) == _names(model)
    assert np.all(np.diff(em_fit.trace["log_likelihood"].to_numpy()) > -1e-9)


def test_ai_reml_three_traits_matches_dense_oracle():
    """3 traits (300 animals, interior optimum): AI-REML within 1e-4 of the dense oracle's maximum."""
    model, theta, ll = _oracle(300, 3, 3)
    fit = fit_reml(model, _start([10.0, 10.0, 1.0], [30.0, 30.0, 2.0]), criteria=AI_TIGHT)
    assert fit.converged
    _assert_close_to(fit, theta, 1e-4)
    assert fit.log_likelihood == pytest.approx(ll, abs=1e-7)


def test_univariate_start_and_default_fit():
    """Starting values from univariate REML are diagonal and positive definite; a fit without
    start values uses them and converges."""
    model = simulated(200, 3)
    start = default_start(model)
    assert model.layout.matrix_names() == ["animal", "residual"]
    for m in start.matrices:
        assert np.all(m == np.diag(np.diag(m))) and np.all(np.diag(m) > 0)
    fit = fit_reml(model)
    assert fit.converged


def test_boundary_is_reported_not_fatal():
    """A data set whose REML optimum has a genetic correlation of -1 (dense oracle: |r_g| within
    1e-9 of 1): the fit ends without error, the estimates stay positive definite, logL rises above
    its start value, and the correlation is reported at the boundary with a message; the JSON has
    no NaN."""
    model = simulated(250, 11, 2)
    fit = fit_reml(model, _start([10.0, 10.0], [30.0, 30.0]), criteria=ConvergenceCriteria(max_iterations=40))
    for m in fit.components.matrices:
        assert np.linalg.eigvalsh(m)[0] > 0
    assert fit.log_likelihood > fit.trace["log_likelihood"].iloc[0]
    assert f"animal[{model.traits[0]},{model.traits[1]}]" in fit.boundary
    assert any("boundary" in m for m in fit.messages)
    json.dumps(components_json(fit), allow_nan=False)


def test_iteration_cap_gives_not_converged():
    model = simulated(250, 11, 2)
    fit = fit_reml(model, _start([10.0, 10.0], [30.0, 30.0]), method="em",
                   criteria=ConvergenceCriteria(max_iterations=3))
    assert not fit.converged and fit.iterations == 3
    assert any("did not converge" in m for m in fit.messages)
    assert len(fit.trace) == 4


def test_components_json_and_ratios():
    """JSON layout; h2 and correlations equal their definitions at the estimates; delta-method SEs
    equal finite-difference gradients through AI⁻¹ (1e-5 relative)."""
    model, _, _ = _oracle(300, 2, 2)
    fit = fit_reml(model, _start([10.0, 10.0], [30.0, 30.0]), criteria=AI_TIGHT)
    doc = components_json(fit)
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc
    traits = list(model.traits)
    assert doc["traits"] == traits
    assert set(doc["variances"]) == {"animal", "residual"} and set(doc["se"]) == {"animal", "residual"}
    assert set(doc["ratios"]) == {"h2", "genetic_correlation", "residual_correlation"}
    g, r = fit.components.g0[0], fit.components.r0
    for j, trait in enumerate(traits):
        assert doc["ratios"]["h2"][trait]["estimate"] == pytest.approx(g[j, j] / (g[j, j] + r[j, j]), rel=1e-12)
    key = f"{traits[0]}.{traits[1]}"
    assert doc["ratios"]["genetic_correlation"][key]["estimate"] == pytest.approx(g[0, 1] / math.sqrt(g[0, 0] * g[1, 1]), rel=1e-12)
    assert doc["ratios"]["residual_correlation"][key]["estimate"] == pytest.approx(r[0, 1] / math.sqrt(r[0, 0] * r[1, 1]), rel=1e-12)
    theta = _theta([g], r)  # g11, g22, g12, r11, r22, r12

    def rg(th):
        return th[2] / math.sqrt(th[0] * th[1])

    grad = np.zeros(theta.size)
    for i in range(theta.size):
        h = 1e-6 * abs(theta[i])
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (rg(up) - rg(down)) / (2 * h)
    se = math.sqrt(grad @ fit.covariance @ grad)
    assert doc["ratios"]["genetic_correlation"][key]["se"] == pytest.approx(se, rel=1e-5)
    assert doc["se"]["animal"][0][0] == pytest.approx(math.sqrt(fit.covariance[0, 0]), rel=1e-12)
    assert doc["criteria"]["max_iterations"] == AI_TIGHT.max_iterations


def test_logger_reports_progress(caplog):
    model, _, _ = _oracle(300, 2, 2)
    log = logging.getLogger("multitrait-test")
    with caplog.at_level(logging.INFO, logger="multitrait-test"):
        fit_reml(model, _start([10.0, 10.0], [30.0, 30.0]), logger=log)
    assert any("iteration 1" in rec.message for rec in caplog.records)


# --------------------------------------------------------------------------------------------
# Model layout and errors a user can cause
# --------------------------------------------------------------------------------------------
def _tiny():
    rec = pd.DataFrame({"id": ["1", "2", "3", "4"], "sex": ["M", "F", "M", "F"], "a": [1.0, 2.0, np.nan, 3.0], "b": [2.0, np.nan, 1.0, 5.0]})
    ped = sort_pedigree(["1", "2", "3", "4"], [None] * 4, [None] * 4)
    return rec, pedigree_relationship_from(ped)


def test_maternal_effect_gives_effect_major_components():
    """A maternal effect sharing A with the direct one: one term with 2t components, direct
    traits first, and the parameter names of the documented layout."""
    rec, rel = _tiny()
    z = additive_effect("animal", rec["id"], rel)
    m = maternal_effect("dam", pd.Series(["1", "2", None, "1"], dtype=object), rel)
    model = build_model(rec, ["a", "b"], {"a": ((), ()), "b": ((), ())}, [[z, m]])
    assert len(model.terms) == 1 and model.terms[0].components == ((0, 0), (0, 1), (1, 0), (1, 1))
    names = model.layout.names
    assert names[:4] == ("animal[a,a]", "animal[b,b]", "dam[a,a]", "dam[b,b]")
    assert "animal.dam[a,b]" in names and "animal.dam[b,a]" in names and "dam[a,b]" in names
    assert names[-3:] == ("residual[a,a]", "residual[b,b]", "residual[a,b]")


def test_input_errors_name_row_and_remedy():
    rec, rel = _tiny()
    z = additive_effect("animal", rec["id"], rel)
    bad = rec.copy()
    bad.loc[2, "b"] = np.nan
    with pytest.raises(InputError, match="row 2"):
        build_model(bad, ["a", "b"], {"a": ((), ()), "b": ((), ())}, [z])
    with pytest.raises(ConfigError, match="no fixed effects"):
        build_model(rec, ["a", "b"], {"a": ((), ())}, [z])
    with pytest.raises(ConfigError, match="not columns"):
        build_model(rec, ["a", "c"], {"a": ((), ()), "c": ((), ())}, [z])
    model = build_model(rec, ["a", "b"], {"a": ((), ()), "b": (("sex",), ())}, [z])
    outside = components(model, [np.array([[1.0, 2.0], [2.0, 1.0]])], np.eye(2))
    with pytest.raises(ConfigError, match="not positive definite"):
        outside.check_inside("variances")
    with pytest.raises(ConfigError, match="not positive definite"):
        coefficient_matrix(model, outside)
    with pytest.raises(ConfigError, match="2 × 2"):
        reml_loglik(model, {"animal": np.eye(3), "residual": np.eye(2)})
    with pytest.raises(ConfigError, match="unknown REML method"):
        fit_reml(model, {"animal": np.eye(2), "residual": np.eye(2)}, method="nr")
    # per-trait fixed effects: trait a has only the mean, trait b has sex levels
    assert [list(fd.effect) for fd in model.fixed] == [["mean"], ["sex", "sex"]]
    assert model.n_observed == 6 and [p.tolist() for p in model.patterns[0]] == [[0], [1], [0, 1]]
