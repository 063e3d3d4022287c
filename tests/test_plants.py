"""Plant and tree pedigrees: selfing (sire = dam) and parents used both as sire and as dam.

The oracle is the tabular method (`relationship_matrix_dense`), itself checked here against
the selfing recursion of Falconer & Mackay (1996, Introduction to Quantitative Genetics, 4th ed.,
ch. 5): F_t = (1 + F_{t-1}) / 2, so F_t = 1 - 2^-t after t generations of selfing from a
non-inbred founder. Tolerances: F, b and log|A| to 1e-12 absolute (short sums of powers of 1/2);
A⁻¹ against inv(A) to 1e-12 relative to max |A⁻¹| (the largest entries grow as 2^t with
repeated selfing, and a dense inverse loses digits in proportion).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from henderson.clean import clean_pedigree
from henderson.errors import ConfigError, InputError
from henderson.pedigree import (
    ainv,
    inbreeding,
    inbreeding_from_parents,
    mendelian_variances,
    pedigree_summary,
    relationship_matrix_dense,
    sort_pedigree,
)
from henderson.stages.relationships import relationships_stage

PED = "trees.csv"


def check_against_dense(ped) -> tuple[np.ndarray, np.ndarray]:
    """F, b, log|A| and A⁻¹ of a sorted pedigree against the dense tabular A; returns (A, F)."""
    A = relationship_matrix_dense(ped)
    F = inbreeding(ped)
    np.testing.assert_allclose(F, np.diag(A) - 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(inbreeding_from_parents(ped.sire, ped.dam), F)
    b = mendelian_variances(ped, F)
    sign, logdet = np.linalg.slogdet(A)
    assert sign == 1.0
    assert np.sum(np.log(b)) == pytest.approx(logdet, abs=1e-12 * max(1.0, abs(logdet)))
    M = ainv(ped, F)
    assert abs(M - M.T).max() == 0.0
    dense_inv = np.linalg.inv(A)
    scale = np.abs(dense_inv).max()
    np.testing.assert_allclose(M.toarray(), dense_inv, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(M @ A, np.eye(ped.n), rtol=0, atol=1e-12 * scale)
    return A, F


def test_one_generation_of_selfing():
    ped = sort_pedigree(["p", "s1"], [None, "p"], [None, "p"])
    A, F = check_against_dense(ped)
    np.testing.assert_array_equal(A, [[1.0, 1.0], [1.0, 1.5]])  # a_ij = a_jp, a_ii = 1 + a_pp/2
    np.testing.assert_array_equal(F, [0.0, 0.5])
    np.testing.assert_array_equal(mendelian_variances(ped, F), [1.0, 0.5])  # ½ - ½ F_p
    # Henderson's rules with s = d: δ = 2 at (s1, s1), -2 at (s1, p), 1 + 2 at (p, p)
    np.testing.assert_array_equal(ainv(ped, F).toarray(), [[3.0, -2.0], [-2.0, 2.0]])


def test_repeated_selfing_follows_the_textbook_recursion():
    t_max = 12
    ids = [f"S{t}" for t in range(t_max + 1)]
    parents = [None] + ids[:-1]
    ped = sort_pedigree(ids, parents, parents)
    _, F = check_against_dense(ped)
    t = np.arange(t_max + 1)
    np.testing.assert_allclose(F, 1.0 - 0.5**t, rtol=0, atol=1e-12)
    b = mendelian_variances(ped, F)
    np.testing.assert_allclose(b[1:], 0.5 ** t[1:], rtol=0, atol=1e-15)  # (1 - F_{t-1}) / 2
    summary = pedigree_summary(ped, F)
    assert summary["selfed"] == t_max and summary["max_generation"] == t_max


def test_self_of_an_outcross_and_backcross_to_a_selfed_line():
    table = {
        "a": (None, None),
        "b": (None, None),
        "ab": ("a", "b"),     # outcross
        "ab_s1": ("ab", "ab"),  # F = 1/2 (parents unrelated, so F_ab = 0)
        "ab_s2": ("ab_s1", "ab_s1"),  # F = 3/4
        "bc": ("ab_s2", "a"),  # backcross, a as sire here and...
        "x": ("b", "a"),  # ...a as dam here, b as sire
        "y": ("bc", "bc"),
    }
    ids = list(table)
    ped = sort_pedigree(ids, [table[i][0] for i in ids], [table[i][1] for i in ids])
    _, F = check_against_dense(ped)
    F_of = dict(zip(ped.ids, F, strict=True))
    assert F_of["ab_s1"] == 0.5 and F_of["ab_s2"] == 0.75
    # a(ab_s2, a) = a(ab, a) = 1/2 (selfing keeps the relationship to ancestors), so F_bc = 1/4
    assert F_of["bc"] == 0.25 and F_of["y"] == 0.625 and F_of["x"] == 0.0


def monoecious_pedigree(n: int, seed: int, founders: int = 10, p_self: float = 0.2):
    """Random tree-breeding pedigree: any earlier tree is a parent in either role; a share
    ``p_self`` of the crosses are selfs; some pollen parents are unknown (open pollination)."""
    rng = np.random.default_rng(seed)
    sire, dam = [-1] * founders, [-1] * founders
    for i in range(founders, n):
        d = int(rng.integers(i))
        u = rng.random()
        s = d if u < p_self else (-1 if u < p_self + 0.15 else int(rng.integers(i)))
        sire.append(s)
        dam.append(d)
    names = [f"T{k:04d}" for k in range(n)]
    order = rng.permutation(n)
    return (
        [names[k] for k in order],
        [names[sire[k]] if sire[k] >= 0 else None for k in order],
        [names[dam[k]] if dam[k] >= 0 else None for k in order],
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_monoecious_pedigrees_against_the_dense_oracle(seed):
    ids, sires, dams = monoecious_pedigree(250, seed)
    ped = sort_pedigree(ids, sires, dams)
    selfed = (ped.sire >= 0) & (ped.sire == ped.dam)
    both_roles = np.intersect1d(ped.sire[ped.sire >= 0], ped.dam[ped.dam >= 0])
    assert selfed.sum() > 20 and both_roles.size > 20  # the generator exercises both
    _, F = check_against_dense(ped)
    assert F.max() > 0.5  # repeated selfing along some lines
    # a selfed tree: F = (1 + F_parent) / 2 exactly
    np.testing.assert_allclose(F[selfed], (1.0 + F[ped.sire[selfed]]) / 2, rtol=0, atol=1e-12)


def table(text: str) -> pd.DataFrame:
    rows = [line.split(",") for line in text.strip().splitlines()]
    frame = pd.DataFrame(rows[1:], columns=rows[0], dtype=str)
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    return frame


TREES = """
id,sire,dam,sex
P1,0,0,F
P2,0,0,M
C1,P1,P2,
C2,P2,P1,
S1,P1,P1,
S2,S1,S1,
"""


@pytest.mark.parametrize(
    "text, words",
    [
        ("id,sire,dam\nP1,0,0\nS1,P1,P1", ["same sire and dam", "'S1' (line 3, sire and dam 'P1')"]),
        ("id,sire,dam\nP1,0,0\nP2,0,0\nC1,P1,P2\nC2,P2,P1", ["both as sire and as dam", "'P1'"]),
    ],
    ids=["selfing", "sire-and-dam"],
)
def test_separate_sexes_refuse_plant_pedigrees_and_name_the_switch(text, words):
    with pytest.raises(InputError) as err:
        clean_pedigree(table(text), source=PED, unknown_parent=["0"])
    msg = str(err.value)
    assert PED in msg and "set `sexes: monoecious`" in msg and "plants, trees" in msg
    for word in words:
        assert word in msg


def test_monoecious_accepts_selfing_and_both_roles_and_skips_the_sex_check():
    with pytest.raises(InputError, match="sexes: monoecious"):
        clean_pedigree(table(TREES), source=PED, unknown_parent=["0"])
    ped = clean_pedigree(table(TREES), source=PED, unknown_parent=["0"], sexes="monoecious")
    assert ped.table["id"].tolist() == ["P1", "P2", "C1", "C2", "S1", "S2"]
    assert ped.table["sire"].tolist() == [None, None, "P1", "P2", "P1", "S1"]
    assert ped.table["dam"].tolist() == [None, None, "P2", "P1", "P1", "S1"]
    assert ped.table["sex"].tolist() == ["F", "M", None, None, None, None]  # kept as given
    assert ped.summary["sexes"] == "monoecious" and ped.summary["selfed"] == 2
    rel = relationships_stage(ped.table)
    F = dict(zip(rel.ids, rel.inbreeding, strict=True))
    assert (F["C1"], F["C2"], F["S1"], F["S2"]) == (0.0, 0.0, 0.5, 0.75)
    assert rel.summary["selfed"] == 2
    b = dict(zip(rel.ids, rel.mendelian, strict=True))
    assert (b["S1"], b["S2"]) == (0.5, 0.25)
    assert rel.log_det == pytest.approx(2 * np.log(0.5) + np.log(0.5) + np.log(0.25), abs=1e-12)


def test_other_checks_still_hold_when_monoecious():
    for text, word in [
        ("id,sire,dam\nA,A,0", "own parent"),
        ("id,sire,dam\nA,B,B\nB,A,A", "cycle"),
        ("id,sire,dam,birth_year\nP,0,0,2012\nS,P,P,2010", "born after"),
    ]:
        with pytest.raises(InputError, match=word):
            clean_pedigree(table(text), source=PED, unknown_parent=["0"], sexes="monoecious")
    with pytest.raises(ConfigError, match="sexes"):
        clean_pedigree(table(TREES), source=PED, unknown_parent=["0"], sexes="hermaphrodite")


def test_a_fully_inbred_selfing_chain_is_a_clear_error():
    # F_t = 1 - 2^-t reaches 1.0 in float64 after about 54 selfs: no Mendelian sampling left
    ids = [f"S{t}" for t in range(61)]
    parents = [None] + ids[:-1]
    frame = pd.DataFrame({"id": ids, "sire": parents, "dam": parents})
    with pytest.raises(InputError) as err:
        relationships_stage(frame)
    msg = str(err.value)
    assert "fully inbred" in msg and "'S60'" in msg and "as a founder" in msg
    rel = relationships_stage(frame.iloc[:41])  # 40 selfs: F = 1 - 2^-40, still exact
    assert rel.inbreeding[-1] == 1.0 - 0.5**40 and rel.mendelian[-1] == 0.5**40


def test_the_sexes_key_of_the_config():
    from henderson.config import validate_config

    base = {"phenotypes": "data.csv", "models": {"m": {"traits": ["y"]}}}
    assert validate_config(base).sexes == "separate"
    assert validate_config({**base, "sexes": "monoecious"}).sexes == "monoecious"
    with pytest.raises(ConfigError, match=r"sexes: 'both' is not one of \['separate', 'monoecious'\]"):
        validate_config({**base, "sexes": "both"})
