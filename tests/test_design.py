"""Fixed-effect parameterisation: intercept or first class effect with all levels, redundant
levels zeroed per connected component, full column rank; random-effect designs."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from henderson.design import (
    INTERCEPT,
    additive_design,
    fixed_design,
    iid_design,
    maternal_design,
    sorted_levels,
)
from henderson.errors import NumericalError


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
    ainv = sp.identity(3, format="csc")
    z = additive_design("animal", pd.Series(["c", "a", "c"]), ids, ainv, np.zeros(3))
    assert z.matrix.toarray().tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 1]]
    litter = iid_design("litter", pd.Series(["L2", "L1", "L2"]))
    assert list(litter.levels) == ["L1", "L2"]
    assert litter.matrix.toarray().tolist() == [[0, 1], [1, 0], [0, 1]]
    m = maternal_design("dam", pd.Series(["b", None, "a"]), ids, ainv, np.zeros(3))
    assert m.matrix.toarray().tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]
