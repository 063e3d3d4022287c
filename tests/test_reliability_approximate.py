"""Approximate reliabilities (henderson.reliability.approximate): closed forms on tiny pedigrees,
invariants, and agreement with the exact selected inverse on simulated models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, iid_effect
from henderson.mme import Equations
from henderson.model import build_model
from henderson.pedigree import sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reliability import approximate_inverse_diagonal, prior_variances
from henderson.simulate import SimulationSpec, simulate
from henderson.simulate.model import simulated_model
from henderson.solvers import make_solver

SA, SE = 20.0, 40.0  # σ²a, σ²e: λ = 2, h² = 1/3


def _relationship(ids, sires, dams):
    return pedigree_relationship_from(sort_pedigree(list(ids), list(sires), list(dams)))


def _univariate(records: pd.DataFrame, rel, pe: bool = False, pe_var: float = 10.0):
    terms = [[additive_effect("animal", records["id"], rel)]]
    if pe:
        terms.append(iid_effect("pe", records["id"]))
    model = build_model(records, ["y"], (("cg",), ()), terms)
    g0 = [np.array([[SA]])] + ([np.array([[pe_var]])] if pe else [])
    return model, VarianceComponents(model.layout, tuple(g0), np.array([[SE]]))


def reliabilities(model, vc, diag):
    """{(term, component): reliability per level} from diag(C⁻¹)."""
    prior = prior_variances(model, vc)
    out = {}
    for m, term in enumerate(model.terms):
        for c in range(term.k):
            lo, hi = model.block(m, c)
            out[(term.name, c)] = 1.0 - diag[lo:hi] / prior[lo:hi]
    return out


def exact_diagonal(model, vc):
    eq = Equations(model)
    solver = make_solver("cholesky", eq)
    solver.update(eq.assemble(eq.coefficients(vc)))
    return solver.inverse_diagonal()


def simulated_case(n_animals: int, *, traits: int = 1, maternal: bool = False, records: int = 1, seed: int = 1):
    """The benchmark's model (benchmarks/bench_reliability.py) on a small simulated population."""
    data = simulate(SimulationSpec(n_animals=n_animals, seed=seed, traits=traits, maternal=maternal,
                                   records_per_animal=records))
    model = simulated_model(data, permanent_environment=records > 1)
    t = model.n_traits
    k = (2 if maternal else 1) * t
    g0 = [SA * (0.7 * np.eye(k) + 0.3)] + ([10.0 * (0.7 * np.eye(t) + 0.3)] if records > 1 else [])
    return model, VarianceComponents(model.layout, tuple(g0), SE * (0.6 * np.eye(t) + 0.4))


def test_sire_with_daughters_matches_the_closed_form():
    """A sire with n daughters (dams unknown), one record each, in one contemporary group of N
    records (the others of unrelated founders), with the classical absorption (``mates=False``:
    the group mates' own values taken as known). A daughter's record keeps f = (1 − 1/N)(1 − ā)²
    for herself, ā = ¼(n − 1)/(N − 1) her mean relationship with the group mates, and
    f_p = 1 − n/N towards her sire (the group's mean takes the share n/N his progeny hold), so
    the sire's reliability is n f_p / (n f_p + 4λ + 3f_p), λ = σ²e/σ²a (→ n/(n + (4 − h²)/h²),
    the sire-model formula, as n/N → 0). A daughter: T = f/σ²e + 1/(¾σ²a + ¼P), P the sire's
    PEV without her. The default (mates' PEV from a first pass) against the exact values:
    within 0.01 for the sire, 0.005 for the daughters."""
    n, others = 30, 400
    ids = ["S"] + [f"D{i}" for i in range(n)] + [f"F{i}" for i in range(others)]
    rel = _relationship(ids, [None] + ["S"] * n + [None] * others, [None] * len(ids))
    records = pd.DataFrame({"id": ids[1:], "y": np.sin(np.arange(n + others)), "cg": "1"})
    model, vc = _univariate(records, rel)
    rel_by = reliabilities(model, vc, approximate_inverse_diagonal(model, vc, mates=False))[("animal", 0)]
    order = {str(level): i for i, level in enumerate(model.terms[0].relationship.levels)}
    big_n = n + others
    lam, f_p = SE / SA, 1.0 - n / big_n
    f = (1.0 - 1.0 / big_n) * (1.0 - 0.25 * (n - 1) / (big_n - 1)) ** 2
    sire = n * f_p / (n * f_p + 4 * lam + 3 * f_p)
    assert rel_by[order["S"]] == pytest.approx(sire, rel=1e-12)
    message = 0.25 / (SE / f_p + 0.75 * SA)
    pev_sire_without = 1.0 / (1.0 / SA + (n - 1) * message)
    daughter = 1.0 - 1.0 / (f / SE + 1.0 / (0.75 * SA + 0.25 * pev_sire_without)) / SA
    np.testing.assert_allclose(rel_by[[order[f"D{i}"] for i in range(n)]], daughter, rtol=1e-12)
    default = reliabilities(model, vc, approximate_inverse_diagonal(model, vc))[("animal", 0)]
    exact = reliabilities(model, vc, exact_diagonal(model, vc))[("animal", 0)]
    assert abs(default[order["S"]] - exact[order["S"]]) < 0.01
    np.testing.assert_allclose(default[1:], exact[1:], atol=0.005)


def test_no_information_gives_the_parent_average_and_founders_zero():
    """An animal without records or progeny: reliability (r_s + r_d)/4 of its unrelated
    parents; a founder without information: 0; an inbred animal whose ancestors have no
    information: 0, its PEV the prior σ²a (1 + F)."""
    ids = ["S", "D", "X", "G1", "G2", "P1", "P2", "I"]
    sires = [None, None, "S", None, None, "G1", "G1", "P1"]
    dams = [None, None, "D", None, None, "G2", "G2", "P2"]
    rel = _relationship(ids, sires, dams)
    records = pd.DataFrame({"id": ["S", "S", "D"], "y": [1.0, 2.0, 0.5], "cg": ["a", "b", "a"]})
    records = pd.concat([records, pd.DataFrame({"id": [f"o{i}" for i in range(0)], "y": [], "cg": []})])
    model, vc = _univariate(records.reset_index(drop=True), rel)
    diag = approximate_inverse_diagonal(model, vc)
    r = reliabilities(model, vc, diag)[("animal", 0)]
    at = {str(level): i for i, level in enumerate(model.terms[0].relationship.levels)}
    assert r[at["S"]] > 0 and r[at["D"]] > 0
    assert r[at["X"]] == pytest.approx((r[at["S"]] + r[at["D"]]) / 4, rel=1e-12)
    assert r[at["G1"]] == 0 and r[at["P1"]] == 0
    f_i = model.terms[0].relationship.diagonal[at["I"]] - 1.0
    assert f_i == pytest.approx(0.25)
    lo, _ = model.block(0, 0)
    assert diag[lo + at["I"]] == pytest.approx(SA * (1 + f_i), rel=1e-12)
    assert r[at["I"]] == pytest.approx(0.0, abs=1e-12)


def test_more_records_give_higher_reliability():
    """Unrelated founders with 1–5 repeated records (permanent environment) in large
    contemporary groups: reliability rises with the number of records, as does the exact one,
    and both agree closely; one more record raises that animal's reliability and lowers
    no-one's."""
    rng = np.random.default_rng(3)
    counts = np.tile(np.arange(1, 6), 40)
    ids = [f"A{i}" for i in range(counts.size)]
    rel = _relationship(ids, [None] * len(ids), [None] * len(ids))
    rows = [(a, "cg" + str(rng.integers(4))) for a, c in zip(ids, counts) for _ in range(c)]
    records = pd.DataFrame(rows, columns=["id", "cg"]).assign(y=lambda d: rng.normal(size=len(d)))
    model, vc = _univariate(records, rel, pe=True)
    approx = reliabilities(model, vc, approximate_inverse_diagonal(model, vc))[("animal", 0)]
    exact = reliabilities(model, vc, exact_diagonal(model, vc))[("animal", 0)]
    at = {str(level): i for i, level in enumerate(model.terms[0].relationship.levels)}
    by_count = [approx[[at[a] for a, c in zip(ids, counts) if c == k]].mean() for k in range(1, 6)]
    assert np.all(np.diff(by_count) > 0)
    np.testing.assert_allclose(approx, exact, atol=0.005)
    more = pd.concat([records, pd.DataFrame({"id": ["A0"], "cg": ["cg0"], "y": [0.3]})], ignore_index=True)
    model2, vc2 = _univariate(more, rel, pe=True)
    after = reliabilities(model2, vc2, approximate_inverse_diagonal(model2, vc2))[("animal", 0)]
    assert after[at["A0"]] > approx[at["A0"]]
    assert np.all(after >= approx - 1e-12)


@pytest.mark.parametrize(
    ("case", "options", "minimum"),
    [
        ("univariate", {}, 0.99),
        ("repeated records", {"records": 3}, 0.99),
        ("maternal", {"maternal": True}, 0.95),
        ("three traits", {"traits": 3}, 0.98),
    ],
)
def test_agreement_with_the_exact_selected_inverse(case, options, minimum):
    """On 4,000 simulated animals: every genetic component's approximate reliabilities correlate
    with the exact ones at least `minimum`, with a mean bias under 0.03 and all in [0, 1)."""
    model, vc = simulated_case(4000, **options)
    approx = reliabilities(model, vc, approximate_inverse_diagonal(model, vc))
    exact = reliabilities(model, vc, exact_diagonal(model, vc))
    for key in approx:
        assert np.all((approx[key] >= 0) & (approx[key] < 1)), (case, key)
        if key[0] != "animal":
            continue
        r = np.corrcoef(approx[key], exact[key])[0, 1]
        assert r >= minimum, (case, key, r)
        assert abs(np.mean(approx[key] - exact[key])) < 0.03, (case, key)


def _grouped_case(kind: str, n_animals: int = 4000):
    """The simulated population with unknown parents in groups by birth year (2-year
    intervals), `kind` groups, herd_year + sex fixed, σ²a = 20, σ²e = 40."""
    from henderson.design import additive_effect as additive
    from henderson.pedigree.groups import groups_spec
    from henderson.relationship_groups import constrain_effects, group_relationship
    from henderson.stages.groups import groups_stage

    data = simulate(SimulationSpec(n_animals=n_animals, seed=3))
    ped = data.pedigree[["id", "sire", "dam", "birth_year"]].copy()
    for role in ("sire", "dam"):
        ped[role] = ped[role].astype(object).where(ped[role].astype(str) != "0", None)
    block = {"assign": "rules", "by": ["birth_year"], "width": 2, "type": kind, **({"ratio": 0.5} if kind == "random" else {})}
    spec = groups_spec(block)
    stage = groups_stage(ped, spec)
    rel = group_relationship(stage.grouped, spec.type, stage.kinv, stage.table["F"].to_numpy(),
                             stage.table["b"].to_numpy(), ratio=spec.ratio)
    records = data.phenotypes
    effects = constrain_effects([additive("animal", records["id"], rel)])
    model = build_model(records, [records.columns[-1]], (("herd_year", "sex"), ()), [effects])
    return model, VarianceComponents(model.layout, (np.array([[SA]]),), np.array([[SE]])), stage.grouped.n


def test_fixed_groups_follow_the_grouped_pedigree():
    """Fixed unknown parent groups: the animals' approximate reliabilities (a group standing for
    an unknown parent) correlate ≥ 0.97 with the exact ones of a + Qĝ, mean bias under 0.04
    (measured 0.985 and 0.021: the approximation leaves out the groups' estimation error); the
    group levels get none."""
    model, vc, n = _grouped_case("fixed")
    approx = reliabilities(model, vc, approximate_inverse_diagonal(model, vc))[("animal", 0)]
    exact = reliabilities(model, vc, exact_diagonal(model, vc))[("animal", 0)]
    assert np.all((approx[:n] >= 0) & (approx[:n] < 1)) and np.isnan(approx[n:]).all()
    assert np.corrcoef(approx[:n], exact[:n])[0, 1] >= 0.97
    assert abs(np.mean(approx[:n] - exact[:n])) < 0.04


def test_random_groups_get_no_approximation_and_pcg_says_why():
    """Random groups: the approximation would leave out the groups' prediction error (0.15 too
    high on this population), so it refuses; a PCG solve then has no reliabilities, and its
    solver record and the report's banner say why. Sampled reliabilities with fixed groups (whose
    draws would not follow A*) fall back to the approximation and say so."""
    from henderson.errors import NumericalError
    from henderson.report.render import solver_warnings
    from henderson.solutions import solve

    model, vc, _ = _grouped_case("random", 1500)
    with pytest.raises(NumericalError, match="random groups"):
        approximate_inverse_diagonal(model, vc)
    result = solve(model, vc, solver="pcg")
    assert result.solver["reliability"]["method"] == "none"
    assert "random groups" in result.solver["reliability"]["reason"]
    assert result.table["reliability"].isna().all()
    assert any("random groups" in w for w in solver_warnings(result.solver))
    model, vc, _ = _grouped_case("fixed", 1500)
    result = solve(model, vc, solver="pcg", reliability="sampled")
    assert result.solver["reliability"]["method"] == "approximate"
    assert "sampled refused" in result.solver["reliability"]["reason"]
