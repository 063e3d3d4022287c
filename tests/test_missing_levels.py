"""A missing level of a random effect: the record is kept without that effect (``missing: keep``,
the default for iid and maternal effects, as in BLUPF90 and breedR) or dropped (``missing:
drop``); fixed effects always drop the record.

Oracle: the REML log-likelihood of the kept records with V = σ²_f Z Z' + σ²_e I formed densely
(a zero row of Z for a record without a level), maximised with scipy.optimize; BLUEs and BLUPs
from the same dense V (b̂ = (X'V⁻¹X)⁻¹X'V⁻¹y, û = G Z' V⁻¹(y - X b̂)). Tolerances: variances,
log-likelihood and solutions 1e-4 relative (solutions relative to the largest solution of their
effect); the fit is run with tight convergence criteria so that this is far from its own error.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so

from henderson.clean import ModelColumns, clean_phenotypes, model_records
from henderson.config import model_columns_params, model_from_dict, validate_config
from henderson.errors import ConfigError
from henderson.stages.clean import _columns
from henderson.stages.evaluate import build_model, evaluate_stage
from henderson.stages.relationships import relationships_stage

DAT = "trees.csv"
TIGHT = {"max_iterations": 200, "loglik_change": 1e-12, "parameter_change": 1e-10,
         "gradient_norm": 1e-9}


def raw_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as ``read_table`` returns it: strings, "" for missing, index = file line."""
    out = frame.astype(object).where(frame.notna(), "").map(str)
    out.index = pd.RangeIndex(2, 2 + len(out), name="line")
    return out


def config(random: dict, **model) -> dict:
    block = {"traits": ["height"], "fixed": ["site"], "random": random, **model}
    return {"phenotypes": DAT, "pedigree": "ped.csv", "models": {"m": block}}


def columns_of(cfg: dict) -> dict[str, ModelColumns]:
    """The clean stage's columns, through the rule param as the workflow passes them."""
    return _columns(model_columns_params(validate_config(cfg).models))


# --------------------------------------------------------------------------------------------
# configuration


def test_missing_key_defaults_to_keep_and_round_trips():
    spec = validate_config(config({
        "family": "iid",
        "block": {"type": "iid", "column": "blk", "missing": "drop"},
        "plot": {"type": "iid", "missing": "keep"},
    })).models["m"]
    assert [(e.name, e.missing) for e in spec.random] == [
        ("family", "keep"), ("block", "drop"), ("plot", "keep")]
    assert spec.columns.classes == ("site", "family", "blk", "plot")
    assert spec.columns.optional == (("family", "family"), ("plot", "plot"))
    assert model_from_dict("m", spec.to_dict()) == spec
    assert spec.to_dict()["random"]["block"]["missing"] == "drop"
    assert "missing" not in spec.to_dict()["random"]["family"]


def test_a_column_a_fixed_effect_reads_stays_required():
    spec = validate_config(config({"site_r": {"type": "iid", "column": "site"}})).models["m"]
    assert spec.columns.optional == ()


def test_missing_on_additive_or_unknown_value_is_config_error():
    with pytest.raises(ConfigError, match=r"models\.m\.random\.animal: `missing` applies to iid and "
                                          r"maternal effects only"):
        validate_config(config({"animal": {"type": "additive", "missing": "drop"}}))
    with pytest.raises(ConfigError, match=r"models\.m\.random\.family"):
        validate_config(config({"family": {"type": "iid", "missing": "sometimes"}}))


# --------------------------------------------------------------------------------------------
# the clean stage

TREES = pd.DataFrame({
    "id": ["t1", "t2", "t3", "t4", "t5", "t6"],
    "site": ["S1", "S1", "S2", "", "S2", "S1"],
    "family": ["F1", "", "F2", "F1", "NA", "F2"],
    "height": ["3.1", "2.9", "3.5", "3.0", "3.3", "2.7"],
})


def test_record_without_a_family_is_kept_and_counted():
    out = clean_phenotypes(raw_table(TREES), source=DAT, id_column="id",
                           models=columns_of(config({"family": "iid"})))
    records, rejected = model_records(out.table, columns_of(config({"family": "iid"}))["m"],
                                      source=DAT, model="m")
    assert records["id"].tolist() == ["t1", "t2", "t3", "t5", "t6"]
    assert records["family"].tolist() == ["F1", None, "F2", None, "F2"]
    # the fixed effect keeps today's rule: dropped with its reason
    assert rejected[["line", "reason", "detail"]].values.tolist() == [
        [5, "missing effect level", "column site: missing"]]
    summary = out.summary["models"]["m"]
    assert summary["records"] == 5 and summary["kept_without_level"] == {"family": 2}


def test_drop_setting_drops_the_record_with_its_reason():
    cols = columns_of(config({"family": {"type": "iid", "missing": "drop"}}))
    out = clean_phenotypes(raw_table(TREES), source=DAT, id_column="id", models=cols)
    rejected = out.rejected
    assert rejected[["line", "id", "action", "reason", "detail"]].values.tolist() == [
        [3, "t2", "dropped", "missing effect level", "column family: missing"],
        [5, "t4", "dropped", "missing effect level", "column site: missing"],
        [6, "t5", "dropped", "missing effect level", "column family: missing"],
    ]
    assert out.summary["models"]["m"]["records"] == 3
    assert out.summary["models"]["m"]["kept_without_level"] == {}


def test_kept_records_survive_a_parquet_round_trip(tmp_path):
    cols = columns_of(config({"family": "iid"}))
    table = clean_phenotypes(raw_table(TREES), source=DAT, id_column="id", models=cols).table
    table.to_parquet(tmp_path / "p.parquet", index=False)
    reread = pd.read_parquet(tmp_path / "p.parquet")
    first = model_records(table, cols["m"], source=DAT, model="m")[0]
    second = model_records(reread, cols["m"], source=DAT, model="m")[0]
    pd.testing.assert_frame_equal(first, second)


# --------------------------------------------------------------------------------------------
# the model: zero rows of Z, REML and solutions against the dense oracle


def simulated_trees(seed: int = 7, n: int = 240, families: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.choice(["S1", "S2", "S3"], n)
    family = rng.integers(1, families + 1, n)
    effect = rng.normal(0, math.sqrt(2.0), families + 1)
    height = (np.select([site == "S1", site == "S2"], [10.0, 12.0], 11.0) + effect[family]
              + rng.normal(0, math.sqrt(4.0), n))
    codes = np.array([f"F{f:02d}" for f in family], dtype=object)
    codes[rng.random(n) < 0.2] = ""  # about a fifth of the trees have no family code
    codes[:3] = ["NA", ".", ""]
    return pd.DataFrame({"id": [f"T{i:04d}" for i in range(n)], "site": site, "family": codes,
                         "height": np.round(height, 3)})


class DenseOracle:
    """Dense REML of y = X b + Z u + e, Var(u) = σ²_u K (q × q), Var(e) = σ²_e I."""

    def __init__(self, x, z, k, y):
        self.x, self.z, self.k, self.y = x, z, k, y
        self.zkz = z @ k @ z.T

    def parts(self, theta):
        n, p = self.x.shape
        v = theta[0] * self.zkz + theta[1] * np.eye(n)
        vinv = np.linalg.inv(v)
        xvx = self.x.T @ vinv @ self.x
        pmat = vinv - vinv @ self.x @ np.linalg.solve(xvx, self.x.T @ vinv)
        logl = -0.5 * ((n - p) * math.log(2 * math.pi) + np.linalg.slogdet(v)[1]
                       + np.linalg.slogdet(xvx)[1] + self.y @ pmat @ self.y)
        return logl, vinv, xvx, pmat

    def maximise(self, start):
        def minus(phi):
            theta = np.exp(phi)
            logl, _, _, pmat = self.parts(theta)
            py = pmat @ self.y
            grad = [-0.5 * (np.sum(pmat * d) - py @ d @ py) for d in (self.zkz, np.eye(len(py)))]
            return -logl, -np.asarray(grad) * theta

        res = so.minimize(minus, np.log(start), jac=True, method="BFGS",
                          options={"gtol": 1e-10, "maxiter": 1000})
        return np.exp(res.x), -res.fun

    def solutions(self, theta):
        _, vinv, xvx, _ = self.parts(theta)
        b = np.linalg.solve(xvx, self.x.T @ vinv @ self.y)
        u = theta[0] * self.k @ self.z.T @ vinv @ (self.y - self.x @ b)
        return b, u


def _evaluated(cfg, frame, relationships=None, unknown_parent=("0",)):
    spec = validate_config(cfg).models["m"]
    cols = _columns(model_columns_params({"m": spec}))
    table = clean_phenotypes(raw_table(frame), source=DAT, id_column="id", models=cols).table
    model = build_model(spec, table, id_column="id", relationships=relationships,
                        unknown_parent=unknown_parent)
    return spec, model, evaluate_stage(spec, model)


def _close(got, want, rtol=1e-4):
    np.testing.assert_array_less(np.abs(np.asarray(got) - want), rtol * np.max(np.abs(want)))


def test_iid_effect_with_missing_levels_matches_dense_reml_oracle():
    frame = simulated_trees()
    no_family = frame["family"].isin(["", "NA", "."]).to_numpy()
    cfg = config({"family": "iid"}, estimate="ai", reml=TIGHT)
    cfg["pedigree"] = None
    _, model, result = _evaluated(cfg, frame)
    assert model.n_records == len(frame)  # every record kept, none without a family dropped
    z = model.terms[0].incidence[0].toarray()
    assert np.all(z[no_family] == 0) and np.all(z[~no_family].sum(axis=1) == 1)

    y = frame["height"].to_numpy(float)
    sites = sorted(frame["site"].unique())
    x = (frame["site"].to_numpy()[:, None] == np.array(sites)[None, :]).astype(float)
    oracle = DenseOracle(x, z, np.eye(z.shape[1]), y)
    theta, logl = oracle.maximise([1.0, 1.0])
    assert result.fit.converged and result.fit.boundary == ()
    got = np.array([result.fit.values["family"], result.fit.values["residual"]])
    np.testing.assert_allclose(got, theta, rtol=1e-4)
    assert result.fit.log_likelihood == pytest.approx(logl, rel=1e-4)

    b, u = oracle.solutions(theta)
    sol = result.solutions
    fam = sol[sol["effect"] == "family"]
    assert fam["level"].tolist() == sorted(frame.loc[~no_family, "family"].unique())
    _close(fam["estimate"].to_numpy(), u)
    site = sol[sol["effect"] == "site"]
    assert site["level"].tolist() == sites
    _close(site["estimate"].to_numpy(), b)


def test_dropping_instead_changes_the_records_and_the_fit():
    frame = simulated_trees()
    cfg = config({"family": {"type": "iid", "missing": "drop"}}, estimate="ai", reml=TIGHT)
    cfg["pedigree"] = None
    _, model, _ = _evaluated(cfg, frame)
    assert model.n_records == int((~frame["family"].isin(["", "NA", "."])).sum())


def test_maternal_effect_with_missing_dam_matches_dense_blup():
    rng = np.random.default_rng(3)
    founders = [f"A{i}" for i in range(12)]
    sires, dams = founders[:4], founders[4:]
    calves = pd.DataFrame({
        "id": [f"C{i:03d}" for i in range(80)],
        "sire": rng.choice(sires, 80), "dam": rng.choice(dams, 80),
    })
    pedigree = pd.concat([
        pd.DataFrame({"id": founders, "sire": None, "dam": None}),
        calves,
    ], ignore_index=True)
    relationships = relationships_stage(pedigree)
    data = calves.assign(
        site=rng.choice(["S1", "S2"], 80),
        height=np.round(rng.normal(200, 10, 80), 2),
    ).drop(columns="sire")
    data.loc[[0, 5, 9, 33], "dam"] = ["", "NA", "0", "."]  # unknown dams: kept, no maternal row
    variances = {"animal": 40.0, "mat": 10.0, "animal.mat": -5.0, "residual": 60.0}
    cfg = config({"animal": "additive", "mat": {"type": "maternal", "column": "dam", "of": "animal"}},
                 estimate="none", variances=variances)
    _, model, result = _evaluated(cfg, data, relationships, unknown_parent=("0",))
    assert model.n_records == 80
    za, zm = (z.toarray() for z in model.terms[0].incidence)
    assert np.all(zm[[0, 5, 9, 33]] == 0) and np.all(np.delete(zm, [0, 5, 9, 33], 0).sum(axis=1) == 1)

    # dense BLUP of the stacked [direct; maternal] effects, G = G0 ⊗ A
    a = np.linalg.inv(relationships.ainv.toarray())
    order = {animal: i for i, animal in enumerate(relationships.ids.astype(str))}
    levels = model.terms[0].relationship.levels.astype(str)
    perm = np.array([order[level] for level in levels])
    a = a[np.ix_(perm, perm)]
    g0 = np.array([[40.0, -5.0], [-5.0, 10.0]])
    z = np.hstack([za, zm])
    g = np.kron(g0, a)
    x = (data["site"].to_numpy()[:, None] == np.array(["S1", "S2"])[None, :]).astype(float)
    v = z @ g @ z.T + 60.0 * np.eye(80)
    vinv = np.linalg.inv(v)
    b = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ data["height"].to_numpy(float))
    u = g @ z.T @ vinv @ (data["height"].to_numpy(float) - x @ b)
    sol = result.solutions
    q = len(levels)
    for k, effect in enumerate(["animal", "mat"]):
        rows = sol[sol["effect"] == effect]
        assert rows["level"].tolist() == levels.tolist()
        _close(rows["estimate"].to_numpy(), u[k * q:(k + 1) * q])
