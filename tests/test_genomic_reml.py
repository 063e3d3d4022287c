"""REML on a genomic relationship: AI-REML of a GBLUP model (G* = G + 0.01 I, some animals with
two records, some genotyped animals without records) against brute-force maximisation of the
dense REML log-likelihood with V = σ²a Z G* Z' + σ²e I."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so

from henderson.design import additive_effect
from henderson.genomic import GenomicOptions, genomic_relationship, vanraden_g
from henderson.model import build_model
from henderson.reml import ConvergenceCriteria, fit_reml


def _data(seed: int = 3, n: int = 150, m: int = 600):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, m)
    codes = rng.binomial(2, p, size=(n, m)).astype(np.int8)
    ids = np.array([f"a{i:03d}" for i in range(n)], dtype=object)
    snp = rng.normal(0, 0.25, m)
    tbv = (codes - 2 * p) @ snp
    animal = np.r_[np.arange(120), np.arange(40)]  # animals 120..149 are predicted only
    herd = rng.integers(0, 4, animal.size)
    y = 5 + 0.8 * herd + tbv[animal] + rng.normal(0, 2.0, animal.size)
    records = pd.DataFrame({"id": ids[animal], "herd": [f"h{h}" for h in herd], "y": y})
    return records, ids, codes


def _dense_loglik(theta, y, x, zg) -> float:
    sa, se = theta
    v = sa * zg + se * np.eye(len(y))
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    pm = vi - vi @ x @ np.linalg.solve(xvx, x.T @ vi)
    n, k = x.shape
    return -0.5 * ((n - k) * np.log(2 * np.pi) + np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + y @ pm @ y)


def test_gblup_reml_matches_brute_force():
    records, ids, codes = _data()
    options = GenomicOptions(blend=0.0, ridge=0.01)
    rel = genomic_relationship(ids, codes, options)
    model = build_model(records, ["y"], (("herd",), ()), [additive_effect("animal", records["id"], rel)], id_column="id")
    fit = fit_reml(model, criteria=ConvergenceCriteria(loglik_change=1e-10, parameter_change=1e-9, gradient_norm=1e-8))
    g = vanraden_g(codes).g + 0.01 * np.eye(len(ids))
    index = pd.Index(ids.astype(str)).get_indexer(records["id"].astype(str))
    zg = g[np.ix_(index, index)]
    x = pd.get_dummies(records["herd"]).to_numpy(float)
    y = records["y"].to_numpy()
    res = so.minimize(lambda t: -_dense_loglik(np.exp(t), y, x, zg), np.log([1.0, 3.0]), method="Nelder-Mead",
                      options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    sa, se = np.exp(res.x)
    # the REML optimum to 1e-5 relative (the simplex stops near 1e-6); logL at it to 1e-6
    assert fit.converged
    assert fit.values["animal"] == pytest.approx(sa, rel=1e-5)
    assert fit.values["residual"] == pytest.approx(se, rel=1e-5)
    assert fit.log_likelihood == pytest.approx(_dense_loglik([sa, se], y, x, zg), abs=1e-6)
