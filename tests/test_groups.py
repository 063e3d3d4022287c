"""Group assignment (explicit codes and rules, minimum size and merging) and the `groups:`
config block, with the messages for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from henderson.config import validate_config
from henderson.errors import ConfigError, InputError
from henderson.pedigree.groups import (
    assign_groups,
    grouped_pedigree,
    groups_spec,
    without_group_codes,
)


def _table(rows, columns=("id", "sire", "dam", "birth_year", "breed")) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(columns)).astype(object)
    return out.where(out.notna(), None)


RULES = _table([
    ("a1", None, None, 1990, "X"), ("a2", None, None, 1992, "X"), ("a3", None, None, 1996, "Y"),
    ("a4", "a1", None, 1997, "X"), ("a5", "a1", "a2", 1998, "X"), ("a6", None, "a3", 2001, "Y"),
    ("a7", "a4", "a5", 2003, "X"), ("a8", None, None, 2004, "X"),
])


def test_rules_by_year_and_parent_sex():
    spec = groups_spec({"assign": "rules", "by": ["birth_year", "sex_of_parent"],
                        "birth_year_intervals": [[1990, 1994], [1995, 1999], [2000, 2004]]})
    out = assign_groups(RULES, spec)
    groups = out.groups.set_index("group")
    assert list(out.sire_group) == ["1990-1994:sire", "1990-1994:sire", "1995-1999:sire", None, None,
                                    "2000-2004:sire", None, "2000-2004:sire"]
    assert list(out.dam_group) == ["1990-1994:dam", "1990-1994:dam", "1995-1999:dam", "1995-1999:dam", None,
                                   None, None, "2000-2004:dam"]
    assert groups.loc["1995-1999:dam", "size"] == 2 and groups.loc["1995-1999:dam", "animals"] == 2
    assert groups["size"].sum() == 10  # every unknown parent is in one group
    grouped = grouped_pedigree(out)
    assert grouped.group_sizes().sum() == 10 and grouped.n == 8


def test_rules_with_a_column_and_merging_small_groups():
    """Groups by breed and 5-year intervals; min_size 3 merges each small group into its nearest
    neighbour by year of the same breed; with min_size 4, breed Y (3 unknown parents in all) is
    left with one group below min_size: an error."""
    spec = groups_spec({"assign": "rules", "by": ["breed", "birth_year"], "width": 5, "min_size": 3})
    out = assign_groups(RULES, spec)
    # X: 1990-1994 (4), 1995-1999 (1: a4's dam), 2000-2004 (2: a8) -> 1995-1999 joins 1990-1994
    # (nearer than 2000-2004 on a tie the earlier), then 2000-2004 (2) joins it; Y: 1995-1999 (2)
    # and 2000-2004 (1) -> one group
    assert dict(zip(out.groups["group"], out.groups["size"])) == {"X:1990-2004": 7, "Y:1995-2004": 3}
    assert sum("merged into" in m for m in out.messages) == 3
    assert out.groups.set_index("group").loc["Y:1995-2004", "merged"] == "Y:2000-2004"
    strict = groups_spec({"assign": "rules", "by": ["breed", "birth_year"], "width": 5, "min_size": 4})
    with pytest.raises(InputError, match=r"group Y:1995-2004 replaces 3 .* fewer than `groups.min_size` \(4\).*no neighbour"):
        assign_groups(RULES, strict)


def test_a_group_rule_that_leaves_a_group_empty():
    spec = groups_spec({"assign": "rules", "by": ["birth_year"], "birth_year_intervals": [[1990, 1999], [2005, 2009],
                                                                                         [2000, 2004]]})
    with pytest.raises(InputError, match=r"interval\(s\) \[2005, 2009\] .* hold no animal with an unknown parent"):
        assign_groups(RULES, spec)
    outside = groups_spec({"assign": "rules", "by": ["birth_year"], "birth_year_intervals": [[1990, 1999]]})
    with pytest.raises(InputError, match=r"'a6' \(2001\).*born outside every interval"):
        assign_groups(RULES, outside)


EXPLICIT = _table([
    ("1", "G1", "G2", None, None), ("2", "G1", "G2", None, None), ("3", "1", "G2", None, None),
    ("4", "3", "2", None, None), ("G1", None, None, None, None), ("G2", None, None, None, None),
]).assign(origin=["pedigree"] * 4 + ["added parent"] * 2)


def test_explicit_codes():
    spec = groups_spec({"assign": "explicit", "codes": ["G1", "G2"]})
    out = assign_groups(EXPLICIT, spec)
    assert list(out.ids) == ["1", "2", "3", "4"]
    assert list(out.sire_group) == ["G1", "G1", None, None]
    assert list(out.dam_group) == ["G2", "G2", "G2", None]
    assert list(out.groups["size"]) == [2, 3]
    base = without_group_codes(EXPLICIT, spec)
    assert list(base["id"]) == ["1", "2", "3", "4"] and base["sire"].isna().sum() == 2


def test_explicit_code_that_is_an_animal_and_unused_or_small_codes():
    spec = groups_spec({"assign": "explicit", "codes": ["G1", "G2"]})
    animal = EXPLICIT.assign(origin=["pedigree"] * 5 + ["added parent"])
    with pytest.raises(InputError, match=r"group code\(s\) 'G1' of `groups.codes` are also animal IDs"):
        assign_groups(animal, spec)
    unused = groups_spec({"assign": "explicit", "codes": ["G1", "G2", "G3"]})
    with pytest.raises(InputError, match=r"'G3' of `groups.codes` stand in no sire or dam field"):
        assign_groups(EXPLICIT, unused)
    small = groups_spec({"assign": "explicit", "codes": ["G1", "G2"], "min_size": 3})
    with pytest.raises(InputError, match=r"G1 \(2\) replace fewer unknown parents than `groups.min_size` \(3\)"):
        assign_groups(EXPLICIT, small)


def _config(groups, random=None):
    return {"pedigree": "p.csv", "phenotypes": "d.csv", "groups": groups,
            "models": {"m": {"traits": ["y"], "random": random or {"animal": "additive"}}}}


def test_groups_config_block():
    spec = validate_config(_config({"assign": "explicit", "codes": ["G1"], "type": "random", "ratio": 0.5})).groups
    assert spec.type == "random" and spec.ratio == 0.5 and groups_spec(spec.to_dict()) == spec
    meta = validate_config(_config({"codes": ["G1", "G2"], "metafounders": {"gamma": [[0.5, 0.1], [0.1, 0.4]]}}))
    assert meta.groups.type == "metafounders" and np.allclose(meta.groups.gamma, [[0.5, 0.1], [0.1, 0.4]])
    assert validate_config({k: v for k, v in _config(None).items() if k != "groups"}).groups is None
    bad = [
        ({"assign": "explicit", "codes": ["G1"], "type": "random"}, "ratio"),
        ({"assign": "rules", "by": ["birth_year"]}, "birth_year_intervals` or `width"),
        ({"assign": "rules", "by": ["birth_year"], "width": 5, "metafounders": {"gamma": [[0.5]]}}, "assign: explicit"),
        ({"assign": "explicit", "codes": ["G1", "G2"], "metafounders": {"gamma": [[0.5, 0.9], [0.9, 0.5]]}},
         "positive definite"),
        ({"assign": "explicit"}, "needs the group codes"),
        ({"assign": "rules", "by": ["birth_year"], "birth_year_intervals": [[1990, 2000], [1995, 2005]]}, "overlaps"),
        ({"assign": "explicit", "codes": ["G1"], "colour": 1}, "unknown key 'colour'"),
    ]
    for block, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate_config(_config(block))
    maternal = {"animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}}
    assert validate_config(_config({"codes": ["G1"]}, maternal)).groups.type == "fixed"  # constrained per model


def test_groups_with_genomic_relationships_config():
    """Metafounders (given or estimated Γ) go with single step; other groups, GBLUP, tuning and an
    estimate without genotypes are refused with a message that says what to do."""
    single = {"animal": {"type": "additive", "relationship": "single_step"}}
    genomic = {"animal": {"type": "additive", "relationship": "genomic"}}
    estimate = {"codes": ["G1", "G2"], "metafounders": {"gamma": "estimate"}}
    config = _config(estimate, single) | {"genotypes": "g.csv"}
    spec = validate_config(config).groups
    assert spec.type == "metafounders" and spec.estimate_gamma and spec.gamma is None
    assert groups_spec(spec.to_dict()) == spec
    rules = {"assign": "rules", "by": ["birth_year"], "width": 5, "metafounders": {"gamma": "estimate"}}
    assert validate_config(_config(rules, single) | {"genotypes": "g.csv"}).groups.estimate_gamma
    given = {"codes": ["G1", "G2"], "metafounders": {"gamma": [[0.5, 0.1], [0.1, 0.4]]}}
    assert validate_config(_config(given, single) | {"genotypes": "g.csv"}).groups.gamma is not None
    tuned = _config(given, single) | {"genotypes": "g.csv"}
    tuned["models"]["m"]["genomic"] = {"tune": "mean"}
    bad = [
        (_config(estimate), "`estimate` needs genotypes"),
        (_config({"codes": ["G1"], "type": "random", "ratio": 0.5}, single) | {"genotypes": "g.csv"},
         "metafounders only"),
        (_config(given, genomic) | {"genotypes": "g.csv"}, "do not apply to GBLUP"),
        (tuned, "not tuned"),
        (_config({"codes": ["G1"], "metafounders": {"gamma": "guess"}}, single) | {"genotypes": "g.csv"}, "gamma"),
    ]
    for block, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate_config(block)
