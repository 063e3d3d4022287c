"""Genetic groups in the mixed model: the QP-transformed equations against the explicit model
y = Xb + ZQg + Za + e solved densely (fixed and random groups), metafounders against
y = Xb + Zu + e with u ~ A^Γ, estimable contrasts under different constraints, and the REML
log-likelihood with fixed groups against a dense brute-force REML of the explicit model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect
from henderson.model import build_model
from henderson.pedigree import relationship_matrix_dense
from henderson.pedigree.ainv_groups import group_contributions
from henderson.pedigree.groups import groups_spec
from henderson.relationship_groups import constrain_effects, group_relationship
from henderson.reml import fit_reml, reml_loglik
from henderson.solutions import solve
from henderson.stages.groups import groups_stage

SIGMA_A, SIGMA_E = 2.0, 3.0


def _pedigree(seed: int = 5) -> pd.DataFrame:
    """Three generations, 12 founders whose unknown parents are in groups G1–G3 (by founder
    cohort), later animals with some unknown dams (group G3), some full-sib matings (inbreeding)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(12):
        group = f"G{1 + k // 4}"
        rows.append((f"f{k}", group, group if k % 3 else "G3"))
    for k in range(16):
        sire, dam = f"f{rng.integers(0, 6)}", f"f{rng.integers(6, 12)}"
        rows.append((f"b{k}", sire, dam if k % 5 else "G3"))
    for k in range(16):
        sire, dam = f"b{rng.integers(0, 8)}", f"b{rng.integers(8, 16)}"
        if k % 4 == 0:
            sire, dam = "b2", "b9"
        rows.append((f"c{k}", sire, dam))
    table = pd.DataFrame(rows, columns=["id", "sire", "dam"])
    return pd.concat([table, pd.DataFrame({"id": ["G1", "G2", "G3"], "sire": None, "dam": None})], ignore_index=True
                     ).assign(origin=["pedigree"] * len(table) + ["added parent"] * 3)


def _records(grouped, seed: int = 9) -> pd.DataFrame:
    """Two records on most animals (none on "x…" animals): y = herd + a + Qg + e with
    a ~ N(0, 4A), e ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    ids = list(grouped.ped.ids)
    a = np.linalg.cholesky(relationship_matrix_dense(grouped.ped)) @ rng.normal(0, 2, len(ids))
    u = a + group_contributions(grouped, np.resize([1.0, -1.0, 2.0, 0.5], grouped.n_groups))
    with_records = [not i.startswith(("f", "x")) or (i.startswith("f") and k % 2 == 0) for k, i in enumerate(ids)]
    rows = [(i, f"h{(k + rep) % 3}") for k, i in enumerate(ids) if with_records[k] for rep in range(2)]
    herd = np.array([int(h[1]) for _, h in rows])
    index = {i: k for k, i in enumerate(ids)}
    y = 10 + 0.5 * herd + np.array([u[index[i]] for i, _ in rows]) + rng.normal(0, 1, len(rows))
    return pd.DataFrame({"id": [i for i, _ in rows], "herd": [h for _, h in rows], "y": y})


def _setup(kind: str, ratio: float | None = None, gamma=None, pedigree: pd.DataFrame | None = None,
           codes=("G1", "G2", "G3")):
    block = {"assign": "explicit", "codes": list(codes), "type": kind}
    if ratio is not None:
        block["ratio"] = ratio
    if gamma is not None:
        block = {"assign": "explicit", "codes": list(codes), "metafounders": {"gamma": gamma}}
    spec = groups_spec(block)
    result = groups_stage(_pedigree() if pedigree is None else pedigree, spec)
    grouped = result.grouped
    rel = group_relationship(grouped, spec.type, result.kinv, result.table["F"].to_numpy(), result.table["b"].to_numpy(),
                             ratio=spec.ratio, gamma=None if gamma is None else np.asarray(gamma))
    records = _records(grouped)
    effects = constrain_effects([additive_effect("animal", records["id"], rel)])
    model = build_model(records, ["y"], (["herd"], []), [effects], id_column="id")
    return grouped, records, model


def _dense(grouped, records, model):
    """X (as the model builds it), Z (records × animals), A and Q."""
    n = grouped.n
    x = model.fixed[0].matrix.toarray()
    z = np.zeros((len(records), n))
    z[np.arange(len(records)), pd.Index(grouped.ped.ids).get_indexer(records["id"])] = 1.0
    a = relationship_matrix_dense(grouped.ped)
    q = group_contributions(grouped, np.eye(grouped.n_groups))
    return x, z, a, q


def _table(model, variances):
    vc = VarianceComponents.from_named(model.layout, variances, "test")
    return solve(model, vc).table.set_index(["effect", "level"])


def _explicit_fixed(x, z, a, q, y, keep):
    """Solutions of y = Xb + ZQ_k g_k + Za + e (groups `keep` fixed, the others 0): (ĝ over all
    groups, EBV â + Qĝ, C⁻¹)."""
    lam = SIGMA_E / SIGMA_A
    w = np.hstack([x, z @ q[:, keep], z])
    c = w.T @ w
    p = x.shape[1] + len(keep)
    c[p:, p:] += np.linalg.inv(a) * lam
    sol = np.linalg.solve(c, w.T @ y)
    g = np.zeros(q.shape[1])
    g[keep] = sol[x.shape[1] : p]
    return g, sol[p:] + q @ g


def test_fixed_groups_qp_equations_equal_the_explicit_model():
    """Animal rows = â + Qĝ and group rows = ĝ of the explicit model with the reference group at 0
    (tolerance 1e-9); contrasts between groups and between EBVs do not depend on the reference."""
    grouped, records, model = _setup("fixed")
    table = _table(model, {"animal": SIGMA_A, "residual": SIGMA_E})
    groups = table.loc["group"]
    reference = groups.index[groups["se"].isna()].tolist()
    assert len(reference) == 1 and groups.loc[reference[0], "estimate"] == 0.0
    x, z, a, q = _dense(grouped, records, model)
    y = records["y"].to_numpy()
    codes = list(grouped.groups)
    ref = codes.index(reference[0])
    g, ebv = _explicit_fixed(x, z, a, q, y, [k for k in range(3) if k != ref])
    assert np.allclose(groups.loc[codes, "estimate"].to_numpy(), g, atol=1e-9)
    assert np.allclose(table.loc["animal"].loc[list(grouped.ped.ids), "estimate"].to_numpy(), ebv, atol=1e-9)
    # another reference: the same contrasts
    other = (ref + 1) % 3
    g2, ebv2 = _explicit_fixed(x, z, a, q, y, [k for k in range(3) if k != other])
    assert np.allclose(g2 - g2[0], g - g[0], atol=1e-9)
    assert np.allclose(ebv2 - ebv2[0], ebv - ebv[0], atol=1e-9)
    assert abs(ebv2[0] - ebv[0]) > 1e-3  # the level itself is not estimable
    # a minimum-norm (pseudo-inverse) solution of the unconstrained system: the same contrasts
    lam = SIGMA_E / SIGMA_A
    w = np.hstack([x, z @ q, z])
    c = w.T @ w
    c[x.shape[1] + 3 :, x.shape[1] + 3 :] += np.linalg.inv(a) * lam
    sol = np.linalg.pinv(c) @ (w.T @ y)
    g3 = sol[x.shape[1] : x.shape[1] + 3]
    ebv3 = sol[x.shape[1] + 3 :] + q @ g3
    assert np.allclose(g3 - g3[0], g - g[0], atol=1e-8)
    assert np.allclose(ebv3 - ebv3[0], ebv - ebv[0], atol=1e-8)


def test_random_groups_equal_the_explicit_model_with_random_g():
    """g ~ N(0, r σ²a I): solutions and standard errors (of ĝ and of â + Qĝ) against the dense
    explicit model (tolerance 1e-9)."""
    r = 0.7
    grouped, records, model = _setup("random", ratio=r)
    table = _table(model, {"animal": SIGMA_A, "residual": SIGMA_E})
    x, z, a, q = _dense(grouped, records, model)
    y = records["y"].to_numpy()
    w = np.hstack([x, z @ q, z]) / np.sqrt(SIGMA_E)
    c = w.T @ w
    p = x.shape[1]
    c[p : p + 3, p : p + 3] += np.eye(3) / (r * SIGMA_A)
    c[p + 3 :, p + 3 :] += np.linalg.inv(a) / SIGMA_A
    cinv = np.linalg.inv(c)
    sol = cinv @ (w.T @ (y / np.sqrt(SIGMA_E)))
    g = sol[p : p + 3]
    ebv = sol[p + 3 :] + q @ g
    t = np.hstack([q, np.eye(grouped.n)])
    pev = np.diag(t @ cinv[p:, p:] @ t.T)
    codes = list(grouped.groups)
    ids = list(grouped.ped.ids)
    assert np.allclose(table.loc["group"].loc[codes, "estimate"], g, atol=1e-9)
    assert np.allclose(table.loc["group"].loc[codes, "se"], np.sqrt(np.diag(cinv)[p : p + 3]), atol=1e-9)
    assert np.allclose(table.loc["animal"].loc[ids, "estimate"], ebv, atol=1e-9)
    assert np.allclose(table.loc["animal"].loc[ids, "se"], np.sqrt(pev), atol=1e-9)


def test_metafounders_equal_the_model_with_a_gamma():
    gamma = [[0.6, 0.2, 0.1], [0.2, 0.5, 0.15], [0.1, 0.15, 0.4]]
    grouped, records, model = _setup("metafounders", gamma=gamma)
    table = _table(model, {"animal": SIGMA_A, "residual": SIGMA_E})
    x, z, _, _ = _dense(grouped, records, model)
    rel = model.terms[0].relationship
    k = np.linalg.inv(rel.kinv.toarray())
    # A^Γ by the tabular method with Γ in the base: founders' parents are metafounders
    assert np.allclose(k[grouped.n :, grouped.n :], gamma, atol=1e-10)
    y = records["y"].to_numpy()
    zp = np.hstack([z, np.zeros((len(records), 3))])
    v = zp @ k @ zp.T * SIGMA_A + np.eye(len(records)) * SIGMA_E
    vinv = np.linalg.inv(v)
    b = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ y)
    u = k @ zp.T @ vinv @ (y - x @ b) * SIGMA_A
    ids = list(grouped.ped.ids)
    assert np.allclose(table.loc["animal"].loc[ids, "estimate"], u[: grouped.n], atol=1e-9)
    assert np.allclose(table.loc["group"].loc[list(grouped.groups), "estimate"], u[grouped.n :], atol=1e-9)


def _dense_reml(x, v_of, y, theta):
    """REML logL −½[(N − p) log 2π + log|V| + log|X'V⁻¹X| + y'Py], X of full column rank."""
    v = v_of(theta)
    vinv = np.linalg.inv(v)
    xvx = x.T @ vinv @ x
    p_mat = vinv - vinv @ x @ np.linalg.solve(xvx, x.T @ vinv)
    n, p = x.shape
    return -0.5 * ((n - p) * np.log(2 * np.pi) + np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + y @ p_mat @ y)


def test_reml_with_fixed_groups_against_a_dense_brute_force():
    """The groups are fixed effects of y = Xb + ZQ_k g_k + Za + e: logL at several variances
    (tolerance 1e-8) and the REML estimates (relative 1e-4) against the dense REML of that model
    maximised by scipy (Nelder–Mead on log variances)."""
    grouped, records, model = _setup("fixed")
    x, z, a, q = _dense(grouped, records, model)
    y = records["y"].to_numpy()
    kept = [list(grouped.groups).index(c) for c in model.terms[0].relationship.groups.codes]
    xstar = np.hstack([x, z @ q[:, kept]])
    zaz = z @ a @ z.T

    def v_of(theta):
        return zaz * theta[0] + np.eye(len(y)) * theta[1]

    for theta in ((2.0, 3.0), (0.5, 4.0), (6.0, 1.0)):
        ours = reml_loglik(model, {"animal": theta[0], "residual": theta[1]}).loglik
        assert ours == pytest.approx(_dense_reml(xstar, v_of, y, theta), abs=1e-8)
    best = minimize(lambda t: -_dense_reml(xstar, v_of, y, np.exp(t)), np.log([1.0, 2.0]), method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    fit = fit_reml(model, {"animal": 1.0, "residual": 2.0})
    est = fit.components.named()
    assert est["animal"] == pytest.approx(np.exp(best.x[0]), rel=1e-4)
    assert est["residual"] == pytest.approx(np.exp(best.x[1]), rel=1e-4)
    assert fit.log_likelihood == pytest.approx(-best.fun, abs=1e-7)


def test_reml_loglik_with_random_groups_and_metafounders():
    """Random groups: V = Z(A + rQQ')Z'σ²a + Iσ²e; metafounders: V = Z A^Γ Z'σ²a + Iσ²e; logL
    against the dense REML (tolerance 1e-8)."""
    r = 0.7
    grouped, records, model = _setup("random", ratio=r)
    x, z, a, q = _dense(grouped, records, model)
    y = records["y"].to_numpy()
    zkz = z @ (a + r * q @ q.T) @ z.T
    for theta in ((2.0, 3.0), (0.5, 4.0)):
        ours = reml_loglik(model, {"animal": theta[0], "residual": theta[1]}).loglik
        dense = _dense_reml(x, lambda t: zkz * t[0] + np.eye(len(y)) * t[1], y, theta)
        assert ours == pytest.approx(dense, abs=1e-8)
    gamma = [[0.6, 0.2, 0.1], [0.2, 0.5, 0.15], [0.1, 0.15, 0.4]]
    grouped, records, model = _setup("metafounders", gamma=gamma)
    k = np.linalg.inv(model.terms[0].relationship.kinv.toarray())
    zp = np.hstack([z, np.zeros((len(y), 3))])
    zkz = zp @ k @ zp.T
    for theta in ((2.0, 3.0), (0.5, 4.0)):
        ours = reml_loglik(model, {"animal": theta[0], "residual": theta[1]}).loglik
        dense = _dense_reml(x, lambda t: zkz * t[0] + np.eye(len(y)) * t[1], y, theta)
        assert ours == pytest.approx(dense, abs=1e-8)


def test_fixed_groups_without_data_and_without_a_reference(caplog):
    """A group whose only member has no recorded descendant is set to 0 with a warning; when one
    unknown parent of a recorded animal's ancestry stays in the base population, Z Q 1 ≠ 1 and no
    reference is needed: every group is estimated, as in the dense explicit model with all groups."""
    table = _pedigree()
    table.loc[table["id"] == "f3", "dam"] = None  # f3's dam in the base population (f3 has progeny)
    extra = pd.DataFrame({"id": ["x1", "G4"], "sire": ["G4", None], "dam": ["G4", None],
                          "origin": ["pedigree", "added parent"]})
    table = pd.concat([table, extra], ignore_index=True)
    with caplog.at_level("WARNING", logger="henderson"):
        grouped, records, model = _setup("fixed", pedigree=table, codes=("G1", "G2", "G3", "G4"))
    assert "G4 have no recorded descendant" in caplog.text
    table_ = _table(model, {"animal": SIGMA_A, "residual": SIGMA_E})
    groups = table_.loc["group"]
    assert groups.loc["G4", "estimate"] == 0.0 and np.isnan(groups.loc["G4", "se"])
    assert groups.loc[["G1", "G2", "G3"], "se"].notna().all()
    x, z, a, q = _dense(grouped, records, model)
    g, ebv = _explicit_fixed(x, z, a, q, records["y"].to_numpy(), [0, 1, 2])
    assert np.allclose(groups.loc[["G1", "G2", "G3", "G4"], "estimate"].to_numpy(), g, atol=1e-9)
    assert np.allclose(table_.loc["animal"].loc[list(grouped.ped.ids), "estimate"].to_numpy(), ebv, atol=1e-9)


def test_two_traits_with_fixed_groups_and_diagonal_covariances_are_two_one_trait_models():
    """With diagonal G0 and R0 the two-trait model with fixed groups gives each trait's one-trait
    solutions (groups included) and logL is the sum of the one-trait logLs (the REML rank counts
    the groups once per trait). Tolerances 1e-9 and 1e-8."""
    _, records, single = _setup("fixed")
    records = records.assign(y2=2.0 * records["y"][::-1].to_numpy() + np.arange(len(records)) % 4)
    rel = single.terms[0].relationship
    effects = [additive_effect("animal", records["id"], rel)]
    both = build_model(records, ["y", "y2"], (["herd"], []), [effects], id_column="id")
    second = build_model(records, ["y2"], (["herd"], []), [effects], id_column="id")
    g0 = {"animal": [[2.0, 0.0], [0.0, 5.0]], "residual": [[3.0, 0.0], [0.0, 4.0]]}
    vc = VarianceComponents.from_named(both.layout, g0, "test")
    table = solve(both, vc).table.set_index(["trait", "effect", "level"]).sort_index()
    for trait, model, values in (("y", single, {"animal": 2.0, "residual": 3.0}),
                                 ("y2", second, {"animal": 5.0, "residual": 4.0})):
        one = _table(model, values)
        for effect in ("animal", "group"):
            mine = table.loc[(trait, effect)]["estimate"]
            assert np.allclose(mine.loc[one.loc[effect].index], one.loc[effect, "estimate"], atol=1e-9)
    total = reml_loglik(single, {"animal": 2.0, "residual": 3.0}).loglik + reml_loglik(
        second, {"animal": 5.0, "residual": 4.0}).loglik
    assert reml_loglik(both, g0).loglik == pytest.approx(total, abs=1e-8)


def _maternal_case(all_dams: bool):
    """Fixed groups with direct and maternal effects: records on the animals whose dam is an
    animal (all_dams) or on every animal (the founders' dams are groups: no maternal incidence)."""
    from henderson.design import maternal_effect

    spec = groups_spec({"assign": "explicit", "codes": ["G1", "G2", "G3"], "type": "fixed"})
    result = groups_stage(_pedigree(), spec)
    grouped = result.grouped
    rel = group_relationship(grouped, "fixed", result.kinv, result.table["F"].to_numpy(), result.table["b"].to_numpy())
    ped = grouped.ped
    rows = [i for i in range(grouped.n) if ped.dam[i] >= 0 or not all_dams]
    rng = np.random.default_rng(4)
    records = pd.DataFrame({
        "id": ped.ids[rows], "dam": [ped.ids[ped.dam[i]] if ped.dam[i] >= 0 else None for i in rows],
        "herd": [f"h{k % 3}" for k in range(len(rows))], "y": rng.normal(10, 2, len(rows)),
    })
    effects = constrain_effects([additive_effect("animal", records["id"], rel), maternal_effect("dam", records["dam"], rel)])
    return grouped, records, effects


def test_fixed_groups_with_a_maternal_effect_equal_the_explicit_model():
    """Direct and maternal groups, both confounded with the intercept: the same reference group
    is 0 in both; animal rows = â + Qĝ_d, dam rows = m̂ + Qĝ_m of the explicit model solved
    densely with G0 ⊗ A (tolerance 1e-9)."""
    grouped, records, effects = _maternal_case(all_dams=True)
    model = build_model(records, ["y"], (["herd"], []), [effects], id_column="id")
    g0 = np.array([[2.0, -0.3], [-0.3, 1.0]])
    vc = VarianceComponents.from_named(model.layout, {"animal": 2.0, "dam": 1.0, "animal.dam": -0.3,
                                                      "residual": SIGMA_E}, "test")
    table = solve(model, vc).table.set_index(["effect", "level"])
    codes = list(grouped.groups)
    direct, maternal = table.loc["group"], table.loc["group:dam"]
    reference = direct.index[direct["se"].isna()].tolist()
    assert reference == maternal.index[maternal["se"].isna()].tolist() and len(reference) == 1
    keep = [k for k, c in enumerate(codes) if c != reference[0]]
    n, ids = grouped.n, list(grouped.ped.ids)
    x = model.fixed[0].matrix.toarray()
    zd = np.zeros((len(records), n))
    zd[np.arange(len(records)), pd.Index(ids).get_indexer(records["id"])] = 1.0
    zm = np.zeros((len(records), n))
    zm[np.arange(len(records)), pd.Index(ids).get_indexer(records["dam"])] = 1.0
    a = relationship_matrix_dense(grouped.ped)
    q = group_contributions(grouped, np.eye(grouped.n_groups))
    w = np.hstack([x, zd @ q[:, keep], zm @ q[:, keep], zd, zm])
    c = w.T @ w / SIGMA_E
    p = x.shape[1] + 2 * len(keep)
    c[p:, p:] += np.kron(np.linalg.inv(g0), np.linalg.inv(a))
    sol = np.linalg.solve(c, w.T @ records["y"].to_numpy() / SIGMA_E)
    gd, gm = np.zeros(3), np.zeros(3)
    gd[keep] = sol[x.shape[1] : x.shape[1] + len(keep)]
    gm[keep] = sol[x.shape[1] + len(keep) : p]
    assert np.allclose(direct.loc[codes, "estimate"].to_numpy(), gd, atol=1e-9)
    assert np.allclose(maternal.loc[codes, "estimate"].to_numpy(), gm, atol=1e-9)
    assert np.allclose(table.loc["animal"].loc[ids, "estimate"].to_numpy(), sol[p : p + n] + q @ gd, atol=1e-9)
    assert np.allclose(table.loc["dam"].loc[ids, "estimate"].to_numpy(), sol[p + n :] + q @ gm, atol=1e-9)


def test_fixed_groups_with_records_without_a_dam_are_refused():
    from henderson.errors import InputError

    with pytest.raises(InputError, match=r"groups of animal add up to the intercept.*dam \(\d+ records without it\)"):
        _maternal_case(all_dams=False)


def test_reml_loglik_with_fixed_groups_and_a_maternal_effect():
    """Direct and maternal groups are fixed effects of y = Xb + Z_d Q g_d + Z_m Q g_m + Z_d a +
    Z_m m + e: logL at several G0, σ²e against the dense REML of that model (tolerance 1e-8)."""
    grouped, records, effects = _maternal_case(all_dams=True)
    model = build_model(records, ["y"], (["herd"], []), [effects], id_column="id")
    kept = [list(grouped.groups).index(c) for c in model.terms[0].relationship.groups.codes]
    ids = list(grouped.ped.ids)
    x = model.fixed[0].matrix.toarray()
    zd = np.zeros((len(records), grouped.n))
    zd[np.arange(len(records)), pd.Index(ids).get_indexer(records["id"])] = 1.0
    zm = np.zeros((len(records), grouped.n))
    zm[np.arange(len(records)), pd.Index(ids).get_indexer(records["dam"])] = 1.0
    a = relationship_matrix_dense(grouped.ped)
    q = group_contributions(grouped, np.eye(grouped.n_groups))
    xstar = np.hstack([x, zd @ q[:, kept], zm @ q[:, kept]])
    y = records["y"].to_numpy()

    def v_of(theta):
        sa, sm, sam, se = theta
        return (zd @ a @ zd.T * sa + zm @ a @ zm.T * sm + (zd @ a @ zm.T + zm @ a @ zd.T) * sam
                + np.eye(len(y)) * se)

    for theta in ((2.0, 1.0, -0.3, 3.0), (0.5, 0.8, 0.2, 4.0)):
        ours = reml_loglik(model, {"animal": theta[0], "dam": theta[1], "animal.dam": theta[2],
                                   "residual": theta[3]}).loglik
        assert ours == pytest.approx(_dense_reml(xstar, v_of, y, theta), abs=1e-8)
