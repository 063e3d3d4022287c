"""Mixed model equations: Mrode's Example 3.1 to the book's decimals, dense-oracle checks of
solutions and PEV, invariance of EBVs to the fixed-effect parameterisation."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, iid_effect
from henderson.mme import coefficient_matrix
from henderson.model import build_model
from henderson.pedigree import ainv, inbreeding, sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reml import Objective
from henderson.solutions import SOLUTION_COLUMNS, solve

# Mrode (2014), Table 3.1: pre-weaning gain (kg) of five calves; sires/dams as in the table.
MRODE_PEDIGREE = [("1", None, None), ("2", None, None), ("3", None, None), ("4", "1", None),
                  ("5", "3", "2"), ("6", "1", "2"), ("7", "4", "5"), ("8", "3", "6")]
MRODE_RECORDS = pd.DataFrame(
    {"id": ["4", "5", "6", "7", "8"], "sex": ["M", "F", "F", "M", "M"], "wwg": [4.5, 2.9, 3.9, 3.5, 5.0]}
)


def mrode_pedigree():
    ids, sires, dams = zip(*MRODE_PEDIGREE)
    return sort_pedigree(list(ids), list(sires), list(dams))


def mrode_model(fixed=("sex",), records=MRODE_RECORDS, extra=()):
    animal = additive_effect("animal", records["id"], pedigree_relationship_from(mrode_pedigree()))
    return build_model(records, ["wwg"], (fixed, ()), [animal, *extra])


def components(model, values):
    return VarianceComponents.from_named(model.layout, values)


def test_mrode_example_3_1_book_decimals():
    model = mrode_model()
    solved = solve(model, components(model, {"animal": 20.0, "residual": 40.0}))
    assert list(solved.table.columns) == SOLUTION_COLUMNS
    table = solved.table.set_index(["effect", "level"])
    # Mrode (3rd ed.) Example 3.1, solutions printed to 3 decimals. Tolerance: one unit in the last
    # printed place (the book prints 4.358 for 4.35850..., so half a unit is too tight).
    assert table.loc[("sex", "M"), "estimate"] == pytest.approx(4.358, abs=1e-3)
    assert table.loc[("sex", "F"), "estimate"] == pytest.approx(3.404, abs=1e-3)
    book = [0.098, -0.019, -0.041, -0.009, -0.186, 0.177, -0.249, 0.183]
    for animal, value in zip("12345678", book):
        assert table.loc[("animal", animal), "estimate"] == pytest.approx(value, abs=1e-3)
    assert (table["trait"] == "wwg").all()


def dense_check(model, values):
    """Solutions and diag(C⁻¹) of the sparse path against the dense inverse of C (1e-10)."""
    vc = components(model, values)
    lhs, rhs = coefficient_matrix(model, vc)
    inv = np.linalg.inv(lhs.toarray())
    objective = Objective(model)
    estimates = objective.solution(vc.theta)
    np.testing.assert_allclose(estimates, inv @ rhs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(objective.inverse_diagonal(vc.theta), np.diag(inv), rtol=1e-10)
    return estimates, inv


def test_pev_and_reliability_against_dense_inverse():
    model = mrode_model()
    values = {"animal": 20.0, "residual": 40.0}
    estimates, inv = dense_check(model, values)
    table = solve(model, components(model, values)).table
    animals = table[table["effect"] == "animal"]
    lo, hi = model.block(0, 0)
    assert (lo, hi) == (model.n_fixed, model.n_unknowns)
    np.testing.assert_allclose(animals["estimate"], estimates[lo:hi], rtol=1e-10, atol=1e-12)
    pev = np.diag(inv)[lo:hi]
    f = inbreeding(mrode_pedigree())
    np.testing.assert_allclose(animals["se"], np.sqrt(pev), rtol=1e-10)
    np.testing.assert_allclose(animals["reliability"], 1 - pev / (20.0 * (1 + f)), rtol=1e-10)
    assert ((animals["reliability"] > 0) & (animals["reliability"] < 1)).all()
    fixed = table[table["effect"] == "sex"]
    np.testing.assert_allclose(fixed["se"], np.sqrt(np.diag(inv)[:lo]), rtol=1e-10)
    assert fixed["reliability"].isna().all()


def test_seed_example_intercept_and_random_subject():
    """Intercept + random subject effect, 3 records on 2 subjects, G = gI, R = σ²I."""
    y = np.array([3.0, 5.0, 8.0])
    recs = pd.DataFrame({"subject": ["s1", "s1", "s2"], "y": y})
    g, s2 = 2.0, 1.0
    model = build_model(recs, ["y"], ((), ()), [iid_effect("subject", recs["subject"])])
    theta = components(model, {"subject": g, "residual": s2}).theta
    objective = Objective(model)
    estimates = objective.solution(theta)
    X = np.ones((3, 1))
    Z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    W = np.hstack([X, Z])
    C = W.T @ W / s2
    C[1:, 1:] += np.eye(2) / g
    expected = np.linalg.solve(C, W.T @ y / s2)
    np.testing.assert_allclose(estimates, expected, rtol=1e-12)
    np.testing.assert_allclose(objective.inverse_diagonal(theta), np.diag(np.linalg.inv(C)), rtol=1e-12)
    # the same BLUP from V = ZGZ' + R directly: u = G Z' V⁻¹ (y - X b)
    V = g * Z @ Z.T + s2 * np.eye(3)
    Vi = np.linalg.inv(V)
    b = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    u = g * Z.T @ Vi @ (y - X @ b)
    np.testing.assert_allclose(estimates, np.concatenate([b, u]), rtol=1e-12)


def test_ebvs_do_not_depend_on_fixed_parameterisation():
    rng = np.random.default_rng(7)
    n = 40
    ids = [str(i) for i in range(1, n + 1)]
    sires = [None] * 10 + [str(rng.integers(1, 6)) for _ in range(n - 10)]
    dams = [None] * 10 + [str(rng.integers(6, 11)) for _ in range(n - 10)]
    ped = sort_pedigree(ids, sires, dams)
    f = inbreeding(ped)
    rel = pedigree_relationship_from(ped, f)
    recs = pd.DataFrame(
        {
            "id": ids[10:],
            "herd": rng.choice(["h1", "h2", "h3"], n - 10),
            "sex": rng.choice(["F", "M"], n - 10),
            "y": rng.normal(10, 2, n - 10),
        }
    )
    values = {"animal": 1.5, "residual": 2.0}
    results = []
    for order in [("herd", "sex"), ("sex", "herd")]:
        animal = additive_effect("animal", recs["id"], rel)
        model = build_model(recs, ["y"], (order, ()), [animal])
        estimates, _ = dense_check(model, values)
        results.append(estimates[model.n_fixed:])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-10, atol=1e-12)
    # and equal to the BLUP from the full, singular system solved by a generalised inverse
    full = np.hstack([pd.get_dummies(recs[c]).to_numpy(float) for c in ("herd", "sex")])
    Z = animal.incidence.toarray()
    W = np.hstack([full, Z])
    A_inv = ainv(ped, f).toarray()
    C = W.T @ W / 2.0
    C[full.shape[1]:, full.shape[1]:] += A_inv / 1.5
    s = np.linalg.pinv(C) @ (W.T @ recs["y"].to_numpy() / 2.0)
    np.testing.assert_allclose(results[0], s[full.shape[1]:], rtol=1e-8, atol=1e-10)


def test_two_random_effects_block_structure():
    recs = MRODE_RECORDS.assign(pen=["p1", "p2", "p1", "p2", "p1"])
    model2 = mrode_model(records=recs, extra=(iid_effect("pen", recs["pen"]),))
    values = {"animal": 20.0, "pen": 5.0, "residual": 40.0}
    dense_check(model2, values)
    lhs, _ = coefficient_matrix(model2, components(model2, values))
    assert abs(lhs - lhs.T).max() == 0
    assert sp.issparse(lhs)
    # blocks: fixed (2 sexes), animal (8 levels), pen (2 levels)
    assert model2.block(0, 0) == (2, 10) and model2.block(1, 0) == (10, 12) and model2.n_unknowns == 12
    np.testing.assert_allclose(lhs[10:, 10:].toarray(), np.diag([3.0, 2.0]) / 40.0 + np.eye(2) / 5.0, rtol=1e-12)


def test_zero_variance_effect_is_left_out_and_reported_as_zero():
    model = mrode_model()
    recs = MRODE_RECORDS.assign(pen=["p1", "p2", "p1", "p2", "p1"])
    with_pen = mrode_model(records=recs, extra=(iid_effect("pen", recs["pen"]),))
    table = solve(with_pen, components(with_pen, {"animal": 20.0, "pen": 0.0, "residual": 40.0})).table
    expected = solve(model, components(model, {"animal": 20.0, "residual": 40.0})).table
    pen = table[table["effect"] == "pen"]
    assert list(pen["level"]) == ["p1", "p2"] and (pen["estimate"] == 0).all()
    assert pen["se"].isna().all() and pen["reliability"].isna().all()
    rest = table[table["effect"] != "pen"].reset_index(drop=True)
    pd.testing.assert_frame_equal(rest, expected)
    # the limit: a tiny pen variance gives the same animal solutions
    tiny = solve(with_pen, components(with_pen, {"animal": 20.0, "pen": 1e-12, "residual": 40.0})).table
    np.testing.assert_allclose(
        tiny[tiny["effect"] == "animal"]["estimate"], expected[expected["effect"] == "animal"]["estimate"], atol=1e-9
    )
