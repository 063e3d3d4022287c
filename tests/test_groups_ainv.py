"""A⁻¹ with unknown parent groups (Quaas 1988) and metafounders (Legarra et al. 2015) against
dense oracles: the relationship matrix of the animals and groups built by the tabular method."""

from __future__ import annotations

import numpy as np
import pytest

from henderson.pedigree import (
    ainv,
    inbreeding,
    relationship_matrix_dense,
    sort_pedigree,
)
from henderson.pedigree.ainv_groups import (
    GroupedPedigree,
    ainv_groups,
    group_contributions,
    group_deviations,
)
from henderson.pedigree.metafounders import ainv_metafounders, metafounder_inbreeding

# (id, sire, dam, sire group, dam group): groups replace unknown parents; "0" is unknown
INBRED = [
    ("1", None, None, 0, 1), ("2", None, None, 0, 2), ("3", None, None, 1, 2), ("4", "1", None, None, 1),
    ("5", "3", "2", None, None), ("6", "1", "2", None, None), ("7", "4", "5", None, None),
    ("8", "3", "6", None, None), ("9", "7", "8", None, None), ("10", "9", "6", None, None),
    ("11", "9", "8", None, None), ("12", None, "11", 2, None), ("13", "10", "11", None, None),
]
# no inbreeding, one unknown parent left in the base (animal 3's dam)
OUTBRED = [
    ("1", None, None, 0, 1), ("2", None, None, 1, 1), ("3", None, None, 0, None), ("4", "1", "2", None, None),
    ("5", "3", None, None, 1), ("6", "4", "5", None, None),
]


def _grouped(rows, g: int) -> GroupedPedigree:
    ped = sort_pedigree([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    by_id = {r[0]: r for r in rows}
    sg = [by_id[i][3] if by_id[i][3] is not None else -1 for i in ped.ids]
    dg = [by_id[i][4] if by_id[i][4] is not None else -1 for i in ped.ids]
    return GroupedPedigree(ped, tuple(f"G{k}" for k in range(g)), np.array(sg), np.array(dg))


def _dense_q(grouped: GroupedPedigree) -> np.ndarray:
    """Q (n × G): Q_i = (Q or e_group of the sire)/2 + (… of the dam)/2, parents first."""
    n, g, ped = grouped.n, grouped.n_groups, grouped.ped
    q = np.zeros((n, g))
    for i in range(n):
        for parent, group in ((ped.sire[i], grouped.sire_group[i]), (ped.dam[i], grouped.dam_group[i])):
            if parent >= 0:
                q[i] += 0.5 * q[parent]
            elif group >= 0:
                q[i, group] += 0.5
    return q


def _dense_gamma(grouped: GroupedPedigree, gamma: np.ndarray) -> np.ndarray:
    """A^Γ over (metafounders, animals) by the tabular method with Γ in the base."""
    g, n, ped = grouped.n_groups, grouped.n, grouped.ped
    size = g + n
    a = np.zeros((size, size))
    a[:g, :g] = gamma
    parents = [[], []]
    for i in range(n):
        for k, (p, grp) in enumerate(((ped.sire[i], grouped.sire_group[i]), (ped.dam[i], grouped.dam_group[i]))):
            parents[k].append(g + p if p >= 0 else (grp if grp >= 0 else -1))
    for i in range(n):
        j = g + i
        s, d = parents[0][i], parents[1][i]
        row = np.zeros(j)
        for p in (s, d):
            if p >= 0:
                row += 0.5 * a[p, :j]
        a[j, :j] = row
        a[:j, j] = row
        a[j, j] = 1.0 + (0.5 * a[s, d] if s >= 0 and d >= 0 else 0.0)
    return a


@pytest.mark.parametrize(("rows", "g"), [(INBRED, 3), (OUTBRED, 2)])
def test_quaas_ainv_is_the_inverse_of_the_augmented_relationship(rows, g):
    """With random groups (g ~ N(0, r I)), K = Var([a + Qg; g]) = [[A + rQQ', rQ], [rQ', rI]] built
    densely; its inverse is A*⁻¹ + diag(0, I/r), so A*⁻¹ of fixed groups is inv(K) − diag(0, I/r)
    for every r. Tolerance 1e-10 (condition numbers below 1e3)."""
    grouped = _grouped(rows, g)
    a = relationship_matrix_dense(grouped.ped)
    q = _dense_q(grouped)
    n = grouped.n
    for r in (0.3, 2.0):
        k = np.block([[a + r * q @ q.T, r * q], [r * q.T, r * np.eye(g)]])
        kinv = np.linalg.inv(k)
        assert np.allclose(ainv_groups(grouped, ratio=r).toarray(), kinv, atol=1e-10)
        fixed = kinv - np.diag(np.r_[np.zeros(n), np.full(g, 1 / r)])
        assert np.allclose(ainv_groups(grouped).toarray(), fixed, atol=1e-10)
    # the animal block is the ordinary A⁻¹, and A*⁻¹ = [I −Q]' A⁻¹ [I −Q]
    star = ainv_groups(grouped).toarray()
    assert np.allclose(star[:n, :n], ainv(grouped.ped).toarray(), atol=1e-12)
    iq = np.hstack([np.eye(n), -q])
    assert np.allclose(star, iq.T @ np.linalg.inv(a) @ iq, atol=1e-10)
    if rows is INBRED:
        assert inbreeding(grouped.ped).max() > 0.1


def test_group_contributions_and_deviations_match_dense_q():
    grouped = _grouped(INBRED, 3)
    q = _dense_q(grouped)
    rng = np.random.default_rng(1)
    g = rng.normal(size=(3, 2))
    assert np.allclose(group_contributions(grouped, g), q @ g, atol=1e-14)
    assert np.allclose(group_contributions(grouped, g[:, 0]), q @ g[:, 0], atol=1e-14)
    s = rng.normal(size=grouped.n + 3)
    dev = group_deviations(grouped, s)
    assert np.allclose(dev[: grouped.n], s[: grouped.n] - q @ s[grouped.n :], atol=1e-14)
    assert np.all(dev[grouped.n :] == 0)
    # rows of Q sum to 1 for animals whose every unknown parent is grouped
    assert np.allclose(q.sum(axis=1), 1.0)


@pytest.mark.parametrize(("rows", "g"), [(INBRED, 3), (OUTBRED, 2)])
def test_metafounder_ainv_against_the_tabular_a_gamma(rows, g):
    """(A^Γ)⁻¹ and F against the dense A^Γ with Γ in the base (tolerance 1e-10), log|A^Γ| against
    slogdet."""
    grouped = _grouped(rows, g)
    rng = np.random.default_rng(3)
    m = rng.normal(size=(g, g))
    gamma = m @ m.T + 0.2 * np.eye(g)
    gamma *= 0.8 / np.diag(gamma).max()  # PD, 0 < γ_kk ≤ 0.8
    dense = _dense_gamma(grouped, gamma)
    matrix, F, b, logdet = ainv_metafounders(grouped, gamma)
    order = np.r_[np.arange(grouped.n) + g, np.arange(g)]  # ours: animals, then metafounders
    assert np.allclose(matrix.toarray(), np.linalg.inv(dense[np.ix_(order, order)]), atol=1e-10)
    assert np.allclose(F, np.diag(dense)[g:] - 1.0, atol=1e-12)
    assert logdet == pytest.approx(np.linalg.slogdet(dense)[1], abs=1e-10)
    assert np.all(b > 0)
    f_only, _ = metafounder_inbreeding(grouped, gamma)
    assert np.array_equal(f_only, F)


@pytest.mark.parametrize(("rows", "g"), [(INBRED, 3), (OUTBRED, 2)])
def test_metafounders_with_gamma_zero_are_phantom_parents(rows, g):
    """Γ = 0: F and b are the ordinary ones, the animal block is the ordinary A⁻¹, and the whole
    matrix is A*⁻¹ of fixed groups."""
    grouped = _grouped(rows, g)
    matrix, F, _, logdet = ainv_metafounders(grouped, np.zeros((g, g)))
    n = grouped.n
    assert np.allclose(F, inbreeding(grouped.ped), atol=1e-14)
    assert np.allclose(matrix.toarray()[:n, :n], ainv(grouped.ped).toarray(), atol=1e-12)
    assert np.allclose(matrix.toarray(), ainv_groups(grouped).toarray(), atol=1e-12)
    assert logdet == pytest.approx(np.linalg.slogdet(relationship_matrix_dense(grouped.ped))[1], abs=1e-10)
