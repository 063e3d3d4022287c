"""Record weights: residual variance σ²e / w_i. REML and solutions against a dense oracle, the
clean stage's rule for bad weights, and the `weights:` key through the workflow."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so
from test_workflow import MRODE_DATA, mrode_config, setup_dir, snakemake

from henderson.clean import ModelColumns, model_records
from henderson.design import iid_effect
from henderson.model import build_model
from henderson.reml import ConvergenceCriteria, fit_reml


def _data(seed: int = 4, n_groups: int = 30, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n)
    w = rng.choice([0.5, 1.0, 2.0, 8.0], n)
    b = rng.normal(0, 2.0, n_groups)
    y = 10 + b[group] + rng.normal(0, 3.0, n) / np.sqrt(w)
    return pd.DataFrame({"g": [f"g{i:02d}" for i in group], "w": w, "y": y, "sex": rng.choice(["M", "F"], n)})


def _dense_loglik(theta, y, x, z, w) -> float:
    """−½[(n − p) log 2π + log|V| + log|X'V⁻¹X| + y'Py], V = σ²_g ZZ' + σ²_e W⁻¹."""
    sg, se = theta
    v = sg * z @ z.T + se * np.diag(1.0 / w)
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    p = vi - vi @ x @ np.linalg.solve(xvx, x.T @ vi)
    n, k = x.shape
    return -0.5 * ((n - k) * np.log(2 * np.pi) + np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + y @ p @ y)


def test_weighted_reml_and_solutions_match_a_dense_oracle():
    d = _data()
    model = build_model(d, ["y"], (("sex",), ()), [iid_effect("g", d["g"])], weights=d["w"].to_numpy())
    fit = fit_reml(model, criteria=ConvergenceCriteria(loglik_change=1e-10, parameter_change=1e-9, gradient_norm=1e-8))
    y, w = d["y"].to_numpy(), d["w"].to_numpy()
    x = np.column_stack([(d["sex"] == "F").to_numpy(float), (d["sex"] == "M").to_numpy(float)])
    levels = sorted(d["g"].unique())
    z = (d["g"].to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    res = so.minimize(lambda t: -_dense_loglik(np.exp(t), y, x, z, w), np.log([2.0, 5.0]), method="Nelder-Mead",
                      options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    sg, se = np.exp(res.x)
    # REML optimum to 1e-5 relative (the oracle's simplex stops near 1e-6), logL to 1e-8
    assert fit.values["g"] == pytest.approx(sg, rel=1e-5)
    assert fit.values["residual"] == pytest.approx(se, rel=1e-5)
    assert fit.log_likelihood == pytest.approx(_dense_loglik([sg, se], y, x, z, w), abs=1e-6)
    # BLUP of the groups at the estimates: Henderson's equations with R = σ²e W⁻¹, dense
    from henderson.solutions import solve

    table = solve(model, fit.components).table
    wm = np.diag(w) / fit.values["residual"]
    c = np.block([[x.T @ wm @ x, x.T @ wm @ z], [z.T @ wm @ x, z.T @ wm @ z + np.eye(len(levels)) / fit.values["g"]]])
    sol = np.linalg.solve(c, np.concatenate([x.T @ wm @ y, z.T @ wm @ y]))
    got = table[table["effect"] == "g"].set_index("level")["estimate"].reindex(levels).to_numpy()
    np.testing.assert_allclose(got, sol[2:], rtol=0, atol=1e-9 * np.abs(sol).max())
    pev = np.diag(np.linalg.inv(c))[2:]
    np.testing.assert_allclose(table[table["effect"] == "g"]["se"].to_numpy() ** 2, pev, rtol=1e-9)


def test_bad_weights_drop_the_record_with_its_reason():
    table = pd.DataFrame({
        "__line__": [2, 3, 4, 5, 6], "id": ["a", "b", "c", "d", "e"], "y": ["1", "2", "3", "4", "5"],
        "w": ["1.5", "0", "-2", "", "heavy"],
    })
    records, rejected = model_records(table, ModelColumns(traits=("y",), covariates=("w",), weights="w"),
                                      source="data.csv", model="m")
    assert list(records["id"]) == ["a"]
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons == {"b": "non-positive weight", "c": "non-positive weight", "d": "missing weight",
                       "e": "non-numeric weight"}
    assert "weights must be positive" in rejected.set_index("id").loc["c", "detail"]


def test_weights_key_through_the_workflow(tmp_path):
    """Mrode 3.1 with a weight column: all weights 1 reproduce the book; a weight of 4 on one
    record equals four copies of its information (the residual variance σ²e / 4)."""
    data = MRODE_DATA.replace("wwg\n", "wwg,w\n").splitlines()
    rows = [data[0]] + [line + ",1" for line in data[1:]]
    work = setup_dir(tmp_path / "ones", mrode_config(wwg={"weights": "w"}), data="\n".join(rows) + "\n")
    snakemake(work)
    est = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])["estimate"]
    assert est[("animal", "1")] == pytest.approx(0.098, abs=1e-3)  # Mrode, Example 3.1
    rows[1] = rows[1][:-1] + "4"  # animal 4's record, weight 4
    work = setup_dir(tmp_path / "four", mrode_config(wwg={"weights": "w"}), data="\n".join(rows) + "\n")
    snakemake(work)
    summary = json.loads((work / "results/wwg/variance_components.json").read_text())
    assert summary["method"] == "none"
    weighted = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])["estimate"]
    copies = [rows[0]] + [rows[1][:-1] + "1"] * 4 + rows[2:]  # the record four times, weight 1 each
    work = setup_dir(tmp_path / "copies", mrode_config(wwg={"weights": "w"}), data="\n".join(copies) + "\n")
    snakemake(work)
    repeated = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])["estimate"]
    np.testing.assert_allclose(weighted.to_numpy(), repeated.reindex(weighted.index).to_numpy(), rtol=1e-10, atol=1e-12)
    assert weighted[("animal", "4")] != pytest.approx(est[("animal", "4")], abs=1e-3)
