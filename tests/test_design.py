"""Fixed-effect parameterisation: intercept or first class effect with all levels, redundant
levels zeroed per connected component, full column rank; random-effect designs and the
relationships they carry (log|A| and diag(A) against the dense A)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from henderson.design import (
    INTERCEPT,
    additive_effect,
    fixed_design,
    iid_effect,
    maternal_effect,
    sorted_levels,
)
from henderson.errors import ConfigError, InputError, NumericalError
from henderson.pedigree import inbreeding, relationship_matrix_dense, sort_pedigree
from henderson.relationship import (
    identity_relationship,
    pedigree_relationship,
    pedigree_relationship_from,
)
from henderson.simulate import SimulationSpec, simulate


def records(**columns):
    return pd.DataFrame(columns)


def test_intercept_when_no_class_effect():
    d = fixed_design(records(x=[1.0, 2.0, 4.0]), (), ("x",))
    assert list(d.effect) == [INTERCEPT, "x"]
    assert d.matrix.toarray().tolist() == [[1, 1], [1, 2], [1, 4]]


def test_first_class_effect_keeps_all_levels_second_loses_one():
    r = records(sex=["M", "F", "F", "M"], herd=["2", "10", "2", "10"])
    d = fixed_design(r, ("sex", "herd"), ())
    assert list(d.effect) == ["sex", "sex", "herd", "herd"]
    assert list(d.level) == ["F", "M", "2", "10"]  # integers sort numerically
    assert list(d.kept) == [True, True, False, True]
    assert np.linalg.matrix_rank(d.matrix.toarray()) == d.matrix.shape[1] == 3


def test_disconnected_design_zeroes_one_level_per_component():
    # herds 1 and 2 use disjoint seasons: two components, so two seasons are redundant
    r = records(herd=["1", "1", "1", "2", "2", "2"], season=["a", "b", "a", "c", "d", "d"])
    d = fixed_design(r, ("herd", "season"), ())
    zeroed = set(d.level[~d.kept])
    assert zeroed == {"a", "c"}
    full = sp.hstack([sp.csc_matrix(pd.get_dummies(r[c]).to_numpy(float)) for c in ("herd", "season")])
    assert d.matrix.shape[1] == np.linalg.matrix_rank(full.toarray()) == 4


def test_three_class_effects_reach_full_rank():
    rng = np.random.default_rng(3)
    r = records(
        a=rng.choice(list("xyz"), 60),
        b=rng.choice(list("pq"), 60),
        c=rng.choice(list("uvw"), 60),
    )
    d = fixed_design(r, ("a", "b", "c"), ())
    dense = np.hstack([pd.get_dummies(r[c]).to_numpy(float) for c in ("a", "b", "c")])
    assert d.matrix.shape[1] == np.linalg.matrix_rank(dense) == 3 + 1 + 2


def test_confounded_covariate_is_an_error_naming_it():
    r = records(herd=["1", "1", "2", "2"], size=[5.0, 5.0, 7.0, 7.0])
    with pytest.raises(NumericalError, match="size"):
        fixed_design(r, ("herd",), ("size",))


def test_sorted_levels_text_and_numbers():
    assert list(sorted_levels(pd.Series(["10", "9", "100"]))) == ["9", "10", "100"]
    assert list(sorted_levels(pd.Series(["b", "a", "007"]))) == ["007", "a", "b"]


def test_random_designs_map_records_to_levels():
    ids = np.array(["a", "b", "c"], dtype=object)
    founders = pedigree_relationship(ids, sp.identity(3, format="csc"), np.zeros(3), np.ones(3))
    z = additive_effect("animal", pd.Series(["c", "a", "c"]), founders)
    assert z.type == "additive" and z.relationship is founders and list(z.levels) == ["a", "b", "c"]
    assert z.incidence.toarray().tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 1]]
    litter = iid_effect("litter", pd.Series(["L2", "L1", "L2"]))
    assert litter.type == "iid" and list(litter.levels) == ["L1", "L2"]
    assert litter.incidence.toarray().tolist() == [[0, 1], [1, 0], [0, 1]]
    assert litter.relationship.is_identity and litter.relationship.logdet == 0.0
    np.testing.assert_array_equal(litter.relationship.kinv.toarray(), np.eye(2))
    m = maternal_effect("dam", pd.Series(["b", None, "a"]), founders)
    assert m.type == "maternal"
    assert m.incidence.toarray().tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]


def test_missing_values_give_zero_rows_and_unknown_levels_are_errors():
    pen = iid_effect("pen", pd.Series(["p2", None, "", "p1"], dtype=object))
    assert list(pen.levels) == ["p1", "p2"]
    assert pen.incidence.toarray().tolist() == [[0, 1], [0, 0], [0, 0], [1, 0]]
    known = identity_relationship(np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError, match="'x'"):
        additive_effect("animal", pd.Series(["a", "x"]), known)


def inbred_pedigree():
    """Hand pedigree with full-sib and half-sib matings, a missing sire and a founder dam."""
    rows = [("1", None, None), ("2", None, None), ("3", "1", "2"), ("4", "1", "2"), ("5", "3", "4"),
            ("6", "3", "4"), ("7", "5", "6"), ("8", None, "6"), ("9", "1", "7"), ("10", "9", "8")]
    ids, sires, dams = zip(*rows)
    return sort_pedigree(list(ids), list(sires), list(dams))


def simulated_pedigree():
    pf = simulate(SimulationSpec(n_animals=300, seed=4, n_generations=6, n_herds=2, selection="none")).pedigree
    known = [[None if v == "0" else v for v in pf[c].astype(str)] for c in ("sire", "dam")]
    return sort_pedigree(list(pf["id"].astype(str)), *known)


@pytest.mark.parametrize("make", [inbred_pedigree, simulated_pedigree])
def test_pedigree_relationship_logdet_and_diagonal_equal_dense_a(make):
    """log|A| = Σ log b_i against slogdet of A by the tabular method (1e-10 relative); diag(A) =
    1 + F; K⁻¹ is the inverse of the dense A; levels in pedigree order."""
    ped = make()
    f = inbreeding(ped)
    assert f.max() > 0.1  # the pedigrees are inbred, so log|A| ≠ 0 and diag(A) ≠ 1
    a = relationship_matrix_dense(ped)
    sign, logdet = np.linalg.slogdet(a)
    for rel in (pedigree_relationship_from(ped), pedigree_relationship_from(ped, f)):
        assert rel.kind == "pedigree" and list(rel.levels) == list(ped.ids)
        assert sign == 1.0 and rel.logdet == pytest.approx(logdet, rel=1e-10)
        np.testing.assert_allclose(rel.diagonal, 1.0 + f, rtol=1e-12)
        np.testing.assert_allclose(rel.diagonal, np.diag(a), rtol=1e-12)
        np.testing.assert_allclose(rel.kinv.toarray() @ a, np.eye(ped.n), atol=1e-9)


def test_intercept_label_is_reserved():
    records = pd.DataFrame({"y": [1.0, 2.0, 3.0], "mean": ["a", "b", "a"], "x": [0.1, 0.4, 0.2]})
    with pytest.raises(ConfigError, match=r"class effect column 'mean'"):
        fixed_design(records, ("mean",), ())
    with pytest.raises(ConfigError, match=r"covariate column 'mean'"):
        fixed_design(records.rename(columns={"x": "mean", "mean": "g"}), (), ("mean",))
    design = fixed_design(records, (), ("x",))
    assert design.effect.tolist() == ["mean", "x"] and design.level.tolist() == ["mean", "x"]
