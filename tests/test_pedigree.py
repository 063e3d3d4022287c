"""Tests of henderson.pedigree: sorting, cycles, generations, inbreeding, A⁻¹ and the summary.

The oracle is the tabular method (`relationship_matrix_dense`, itself checked against textbook
matrices): F = diag(A) - 1 and A⁻¹ = inv(A) computed densely. Tolerances, per quantity:

* F against diag(A) - 1: 1e-12 absolute (both are short sums of powers of 1/2 times b's).
* A⁻¹ against inv(A), and A⁻¹·A against I: 1e-9 relative to max |A⁻¹| (dense inversion
  and the product lose a few digits; the sparse build itself is exact up to rounding of sums
  of at most a few hundred terms).
* Textbook matrices printed with three decimals: 5e-4 absolute; exact fractions: 1e-12.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.pedigree import (
    Pedigree,
    ainv,
    find_cycle,
    generations,
    inbreeding,
    mendelian_variances,
    pedigree_summary,
    relationship_matrix_dense,
    sort_pedigree,
)
from henderson.simulate import simulate_pedigree

# ----------------------------------------------------------------------------- textbook data

# Mrode, R.A. (2014) Linear Models for the Prediction of Animal Breeding Values, 3rd ed.,
# Example 2.1: animal: sire, dam (None = unknown).
MRODE_2_1 = {
    "1": (None, None),
    "2": (None, None),
    "3": ("1", "2"),
    "4": ("1", None),
    "5": ("4", "3"),
    "6": ("5", "2"),
}
# A of Example 2.1 by the tabular method, in sixteenths (the book prints 3 decimals:
# e.g. a36 = 0.563, a46 = 0.313, a55 = a66 = 1.125).
MRODE_2_1_A16 = np.array(
    [
        [16, 0, 8, 8, 8, 4],
        [0, 16, 8, 0, 4, 10],
        [8, 8, 16, 4, 10, 9],
        [8, 0, 4, 16, 10, 5],
        [8, 4, 10, 10, 18, 11],
        [4, 10, 9, 5, 11, 18],
    ]
)
# A⁻¹ of Example 2.1 with inbreeding (chapter 2, §2.3), as printed with 3 decimals.
MRODE_2_1_AINV = np.array(
    [
        [1.833, 0.500, -1.000, -0.667, 0.000, 0.000],
        [0.500, 2.033, -1.000, 0.000, 0.533, -1.067],
        [-1.000, -1.000, 2.500, 0.500, -1.000, 0.000],
        [-0.667, 0.000, 0.500, 1.833, -1.000, 0.000],
        [0.000, 0.533, -1.000, -1.000, 2.533, -1.067],
        [0.000, -1.067, 0.000, 0.000, -1.067, 2.133],
    ]
)

# Mrode (2014), Example 3.1 (the animal-model example): 8 animals, none inbred.
MRODE_3_1 = {
    "1": (None, None),
    "2": (None, None),
    "3": (None, None),
    "4": ("1", None),
    "5": ("3", "2"),
    "6": ("1", "2"),
    "7": ("4", "5"),
    "8": ("3", "6"),
}
MRODE_3_1_AINV = np.array(
    [
        [1.833, 0.500, 0.000, -0.667, 0.000, -1.000, 0.000, 0.000],
        [0.500, 2.000, 0.500, 0.000, -1.000, -1.000, 0.000, 0.000],
        [0.000, 0.500, 2.000, 0.000, -1.000, 0.500, 0.000, -1.000],
        [-0.667, 0.000, 0.000, 1.833, 0.500, 0.000, -1.000, 0.000],
        [0.000, -1.000, -1.000, 0.500, 2.500, 0.000, -1.000, 0.000],
        [-1.000, -1.000, 0.500, 0.000, 0.000, 2.500, 0.000, -1.000],
        [0.000, 0.000, 0.000, -1.000, -1.000, 0.000, 2.000, 0.000],
        [0.000, 0.000, -1.000, 0.000, 0.000, -1.000, 0.000, 2.000],
    ]
)


def from_dict(table: dict[str, tuple[str | None, str | None]], **kwargs) -> Pedigree:
    ids = list(table)
    return sort_pedigree(ids, [table[i][0] for i in ids], [table[i][1] for i in ids], **kwargs)


# ----------------------------------------------------------------------------- oracles


def henderson_rules_fraction(table: dict[str, tuple[str | None, str | None]]) -> np.ndarray:
    """Exact A⁻¹ of a small pedigree listed parents-first, with rational arithmetic.

    Slow and obviously correct: tabular A in Fractions, F_i = a_ii - 1, then
    A⁻¹ = Σ_i (1/b_i) c_i c_i' with c_i = e_i - e_s/2 - e_d/2.
    """
    ids = list(table)
    pos = {a: k for k, a in enumerate(ids)}
    n = len(ids)
    A = [[Fraction(0)] * n for _ in range(n)]
    for i, a in enumerate(ids):
        s, d = (pos.get(p) if p is not None else None for p in table[a])
        for j in range(i):
            A[i][j] = A[j][i] = (
                (A[j][s] if s is not None else 0) + (A[j][d] if d is not None else 0)
            ) / 2
        A[i][i] = 1 + (A[s][d] / 2 if s is not None and d is not None else 0)
    inv = [[Fraction(0)] * n for _ in range(n)]
    for i, a in enumerate(ids):
        s, d = (pos.get(p) if p is not None else None for p in table[a])
        b = Fraction(1)
        c = {i: Fraction(1)}
        for p in (s, d):
            if p is not None:
                b -= Fraction(1, 4) * A[p][p]  # (1 + F_p)/4 with 1 + F_p = a_pp
                c[p] = c.get(p, 0) - Fraction(1, 2)
        for r, cr in c.items():
            for q, cq in c.items():
                inv[r][q] += cr * cq / b
    return np.array([[float(x) for x in row] for row in inv])


def random_pedigree(
    n: int, seed: int, *, founders: int = 8, p_unknown: float = 0.1
) -> tuple[list[str], list[str | None], list[str | None]]:
    """Small pedigree with heavy inbreeding, returned in a shuffled order.

    Each new animal is (with equal chance) the offspring of a random pair, of two full sibs,
    of a parent and its own offspring, or of a half-sib pair; a parent is dropped
    (unknown) with probability ``p_unknown``.
    """
    rng = np.random.default_rng(seed)
    sire = [-1] * founders
    dam = [-1] * founders
    for i in range(founders, n):
        kind = rng.integers(4)
        s, d = (int(x) for x in rng.choice(i, size=2, replace=False))
        if kind == 1:  # full sibs: two offspring of the same known pair
            pairs: dict[tuple[int, int], list[int]] = {}
            for k in range(i):
                if sire[k] >= 0 and dam[k] >= 0:
                    pairs.setdefault((sire[k], dam[k]), []).append(k)
            families = [v for v in pairs.values() if len(v) >= 2]
            if families:
                fam = families[rng.integers(len(families))]
                s, d = (int(x) for x in rng.choice(fam, size=2, replace=False))
        elif kind == 2:  # parent x offspring
            kids = [k for k in range(i) if sire[k] >= 0 or dam[k] >= 0]
            if kids:
                k = kids[rng.integers(len(kids))]
                s, d = k, (sire[k] if sire[k] >= 0 else dam[k])
        elif kind == 3:  # half sibs through the sire
            by_sire = [k for k in range(i) if sire[k] >= 0]
            if len(by_sire) >= 2:
                a, b = rng.choice(by_sire, size=2, replace=False)
                if sire[a] == sire[b]:
                    s, d = int(a), int(b)
        if rng.random() < p_unknown:
            s = -1
        if rng.random() < p_unknown:
            d = -1
        sire.append(s)
        dam.append(d)
    names = [f"X{k:04d}" for k in range(n)]
    order = rng.permutation(n)
    ids = [names[k] for k in order]
    sires = [names[sire[k]] if sire[k] >= 0 else None for k in order]
    dams = [names[dam[k]] if dam[k] >= 0 else None for k in order]
    return ids, sires, dams


# ----------------------------------------------------------------------------- textbook examples


def test_mrode_2_1_relationships_inbreeding_and_inverse():
    ped = from_dict(MRODE_2_1)
    assert list(ped.ids) == ["1", "2", "3", "4", "5", "6"]
    A = relationship_matrix_dense(ped)
    np.testing.assert_allclose(A, MRODE_2_1_A16 / 16.0, rtol=0, atol=1e-12)
    F = inbreeding(ped)
    np.testing.assert_allclose(F, [0, 0, 0, 0, 0.125, 0.125], rtol=0, atol=1e-12)
    Ainv = ainv(ped, F).toarray()
    np.testing.assert_allclose(Ainv, MRODE_2_1_AINV, rtol=0, atol=5e-4)  # printed, 3 decimals
    np.testing.assert_allclose(Ainv, np.linalg.inv(A), rtol=0, atol=1e-12)
    np.testing.assert_allclose(Ainv, henderson_rules_fraction(MRODE_2_1), rtol=0, atol=1e-12)
    # d_6 = 1/b_6 = 1/(1/2 - (F_5 + F_2)/4) = 32/15
    np.testing.assert_allclose(1 / mendelian_variances(ped, F)[5], 32 / 15, rtol=1e-15)


def test_mrode_3_1_inverse():
    ped = from_dict(MRODE_3_1)
    F = inbreeding(ped)
    assert np.all(F == 0.0)
    Ainv = ainv(ped)
    np.testing.assert_allclose(Ainv.toarray(), MRODE_3_1_AINV, rtol=0, atol=5e-4)
    np.testing.assert_allclose(
        Ainv.toarray(), np.linalg.inv(relationship_matrix_dense(ped)), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(Ainv.toarray(), henderson_rules_fraction(MRODE_3_1), atol=1e-12)


def test_full_sib_mating_follows_the_textbook_recurrence():
    # Repeated full-sib mating: F_t = (1 + 2 F_{t-1} + F_{t-2}) / 4 (Falconer & Mackay, ch. 5).
    ids, sires, dams = ["m0", "f0"], [None, None], [None, None]
    for t in range(1, 25):
        for sex in "mf":
            ids.append(f"{sex}{t}")
            sires.append(f"m{t - 1}")
            dams.append(f"f{t - 1}")
    ped = sort_pedigree(ids, sires, dams)
    F = inbreeding(ped)
    expected = [0.0, 0.0]  # F_0 (founders), F_1 (offspring of unrelated parents)
    for _ in range(2, 25):
        expected.append((1 + 2 * expected[-1] + expected[-2]) / 4)
    got = F[ped.index([f"m{t}" for t in range(25)])]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(F[ped.index([f"f{t}" for t in range(25)])], got)


def test_selfing_is_handled():
    table = {"a": (None, None), "b": ("a", "a"), "c": ("b", "b"), "d": ("c", "b")}
    ped = from_dict(table)
    A = relationship_matrix_dense(ped)
    F = inbreeding(ped)
    np.testing.assert_allclose(F, np.diag(A) - 1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(F[:3], [0, 0.5, 0.75], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ainv(ped, F).toarray(), np.linalg.inv(A), rtol=0, atol=1e-10)
    np.testing.assert_allclose(ainv(ped, F).toarray(), henderson_rules_fraction(table), atol=1e-12)


# ----------------------------------------------------------------------------- random pedigrees


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_pedigrees_against_the_dense_oracle(seed):
    ids, sires, dams = random_pedigree(300, seed)
    ped = sort_pedigree(ids, sires, dams)
    A = relationship_matrix_dense(ped)
    F = inbreeding(ped)
    assert np.count_nonzero(F > 0.1) > 20  # the generator really produces inbreeding
    np.testing.assert_allclose(F, np.diag(A) - 1.0, rtol=0, atol=1e-12)

    M = ainv(ped, F)
    assert isinstance(M, sp.csc_matrix) and M.shape == (ped.n, ped.n)
    assert M.has_sorted_indices and M.has_canonical_format
    assert_strictly_sorted_columns(M)
    dense_inv = np.linalg.inv(A)
    scale = np.abs(dense_inv).max()
    np.testing.assert_allclose(M.toarray(), dense_inv, rtol=0, atol=1e-9 * scale)
    # A⁻¹ A = I as a direct check of the inverse, independent of np.linalg.inv
    np.testing.assert_allclose(M @ A, np.eye(ped.n), rtol=0, atol=1e-9 * scale)

    # invariants
    assert abs(M - M.T).max() == 0.0  # symmetric, bit for bit
    assert np.all(M.diagonal() > 0)
    assert np.all((F >= 0) & (F <= 1))
    founders = (ped.sire < 0) & (ped.dam < 0)
    one_parent = (ped.sire < 0) ^ (ped.dam < 0)
    assert np.all(F[founders | one_parent] == 0.0)
    # sparsity: at most 1 + 2 parents + per offspring (child, mate) entries per column
    assert M.nnz <= 3 * ped.n + 4 * np.count_nonzero(ped.sire >= 0) + 4 * np.count_nonzero(
        ped.dam >= 0
    )
    # F given or computed inside gives the same matrix
    assert (ainv(ped) != M).nnz == 0


def assert_strictly_sorted_columns(M: sp.csc_matrix) -> None:
    """Row indices strictly increase within every column (sorted, no duplicates)."""
    col_of = np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))
    same_col = col_of[1:] == col_of[:-1]
    assert np.all(np.diff(M.indices.astype(np.int64))[same_col] > 0)


def test_simulated_pedigree_against_the_dense_oracle():
    # the project's simulator: overlapping generations, few sires with hundreds of offspring
    # (long A⁻¹ columns), unknown parents; 3000 animals keep the dense oracle cheap.
    frame = simulate_pedigree(3000, 11)
    sires = frame["sire"].to_numpy(dtype=object)
    dams = frame["dam"].to_numpy(dtype=object)
    sires[sires == "0"] = None
    dams[dams == "0"] = None
    order = np.random.default_rng(0).permutation(len(frame))
    ped = sort_pedigree(frame["id"].to_numpy(dtype=object)[order], sires[order], dams[order])
    A = relationship_matrix_dense(ped)
    F = inbreeding(ped)
    assert np.count_nonzero(F) > 50
    np.testing.assert_allclose(F, np.diag(A) - 1.0, rtol=0, atol=1e-12)
    M = ainv(ped, F)
    assert np.diff(M.indptr).max() > 100  # exercises the long-column sort
    assert_strictly_sorted_columns(M)
    scale = np.abs(M.data).max()
    # A⁻¹ A = I (cheaper and better conditioned than comparing with a dense inverse)
    np.testing.assert_allclose(M @ A, np.eye(ped.n), rtol=0, atol=1e-9 * scale)


def test_sort_puts_parents_first_and_is_deterministic():
    ids, sires, dams = random_pedigree(200, 7)
    ped = sort_pedigree(ids, sires, dams)
    position = np.arange(ped.n)
    assert np.all(ped.sire < position) and np.all(ped.dam < position)
    assert sorted(ped.ids) == sorted(ids)
    # renumbered parents point at the same animals as the input
    lookup = dict(zip(ids, zip(sires, dams, strict=True), strict=True))
    for k, animal in enumerate(ped.ids):
        s, d = lookup[animal]
        assert (ped.ids[ped.sire[k]] if ped.sire[k] >= 0 else None) == s
        assert (ped.ids[ped.dam[k]] if ped.dam[k] >= 0 else None) == d
    again = sort_pedigree(list(ids), list(sires), list(dams))
    np.testing.assert_array_equal(again.ids, ped.ids)
    np.testing.assert_array_equal(again.sire, ped.sire)
    np.testing.assert_array_equal(again.dam, ped.dam)
    # stable: by generation depth, ties in input order
    gen = generations(ped)
    assert np.all(np.diff(gen) >= 0)
    input_pos = {a: k for k, a in enumerate(ids)}
    for g in np.unique(gen):
        members = [input_pos[a] for a in ped.ids[gen == g]]
        assert members == sorted(members)


def test_sort_keeps_an_already_sorted_pedigree_of_one_generation_per_row():
    ped = from_dict(MRODE_3_1)
    assert list(ped.ids) == list(MRODE_3_1)
    np.testing.assert_array_equal(generations(ped), [0, 0, 0, 1, 1, 1, 2, 2])
    # offspring listed before parents in the input are moved behind them
    shuffled = dict(reversed(list(MRODE_3_1.items())))
    ped2 = from_dict(shuffled)
    assert list(ped2.ids) == ["3", "2", "1", "6", "5", "4", "8", "7"]


def test_sort_accepts_arrays_and_missing_values_as_unknown():
    ids = np.array(["a", "b", "c"], dtype=object)
    ped = sort_pedigree(ids, np.array([None, np.nan, "a"], dtype=object), [None, None, "b"])
    np.testing.assert_array_equal(ped.sire, [-1, -1, 0])
    np.testing.assert_array_equal(ped.dam, [-1, -1, 1])


# ----------------------------------------------------------------------------- errors


def test_own_parent_is_reported_by_id():
    with pytest.raises(InputError, match=r"pedigree\.csv: animal B is its own sire"):
        sort_pedigree(["A", "B"], [None, "B"], [None, "A"], source="pedigree.csv")
    with pytest.raises(InputError, match=r"animal A is its own dam"):
        sort_pedigree(["A", "B"], [None, None], ["A", None])


def test_cycle_is_reported_with_the_loop():
    ids = ["X", "A", "B", "C", "D"]
    sires = [None, "B", "C", "A", "A"]
    dams = [None, "X", None, None, "X"]
    expected = (
        "pedigree.csv: the pedigree has a cycle: A -> B -> C -> A (an animal is its own "
        "ancestor). Fix the parent of one of these animals."
    )
    with pytest.raises(InputError) as info:
        sort_pedigree(ids, sires, dams, source="pedigree.csv")
    assert str(info.value) == expected
    # the same loop entered through the dam column
    with pytest.raises(InputError, match=r"cycle: A -> B -> A \("):
        sort_pedigree(["A", "B"], [None, None], ["B", "A"])


def test_unknown_parent_and_duplicate_ids_are_reported():
    pattern = r"ped\.csv: 2 parent ID\(s\).*sire Z of animal B.*dam Y of animal C"
    with pytest.raises(InputError, match=pattern):
        sort_pedigree(["A", "B", "C"], [None, "Z", "A"], [None, None, "Y"], source="ped.csv")
    with pytest.raises(InputError, match=r"duplicated animal ID\(s\): A"):
        sort_pedigree(["A", "B", "A"], [None] * 3, [None] * 3)
    with pytest.raises(InputError, match=r"have no ID"):
        sort_pedigree(["A", None], [None] * 2, [None] * 2)


def test_find_cycle():
    # 0 <- 1 <- 2 <- 0 written as child -> parent: 0's sire is 1, 1's dam is 2, 2's sire is 0
    sire = np.array([1, -1, 0, -1])
    dam = np.array([-1, 2, -1, 2])
    assert find_cycle(sire, dam) == [0, 1, 2]
    assert find_cycle(np.array([-1, 0, 1]), np.array([-1, -1, 0])) is None
    assert find_cycle(np.array([0]), np.array([-1])) == [0]  # own sire
    assert find_cycle(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) is None


# ----------------------------------------------------------------------------- dataclass, summary


def test_pedigree_helpers_and_validation():
    ped = from_dict(MRODE_2_1)
    assert ped.n == 6
    assert ped.index("5") == 4
    np.testing.assert_array_equal(ped.index(["6", "1"]), [5, 0])
    with pytest.raises(InputError, match="nope"):
        ped.index("nope")
    frame = ped.to_frame()
    assert list(frame.columns) == ["id", "sire", "dam"]
    assert frame.loc[3].tolist() == ["4", "1", None]
    with pytest.raises(ValueError, match="not sorted"):
        Pedigree(np.array(["a", "b"], dtype=object), np.array([1, -1]), np.array([-1, -1]))
    with pytest.raises(ValueError, match="equal length"):
        Pedigree(np.array(["a"], dtype=object), np.array([-1, -1]), np.array([-1]))


def test_ainv_rejects_a_wrong_F():
    ped = from_dict(MRODE_2_1)
    with pytest.raises(ValueError, match="shape"):
        ainv(ped, np.zeros(5))
    with pytest.raises(ValueError, match="0 <= F < 1"):
        ainv(ped, np.full(6, -0.1))


def test_pedigree_summary_of_mrode_2_1():
    ped = from_dict(MRODE_2_1)
    summary = pedigree_summary(ped, inbreeding(ped))
    assert summary == {
        "animals": 6,
        "founders": 2,
        "sires": 3,  # 1, 4, 5
        "dams": 2,  # 2, 3
        "max_generation": 3,
        "animals_per_generation": [2, 2, 1, 1],  # {1,2}, {3,4}, {5}, {6}
        "inbred": 2,
        "mean_F": pytest.approx(0.25 / 6, abs=1e-15),
        "max_F": 0.125,
        "mean_F_inbred": 0.125,
        "selfed": 0,
    }


def test_empty_pedigree():
    ped = sort_pedigree([], [], [])
    assert ped.n == 0
    assert inbreeding(ped).shape == (0,)
    assert ainv(ped).shape == (0, 0)
    assert pedigree_summary(ped, inbreeding(ped))["animals"] == 0
