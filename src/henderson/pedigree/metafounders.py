"""Metafounders (Legarra, Christensen, Vitezica, Aguilar & Misztal 2015): the unknown parents
of each group descend from one pseudo-individual, the group's metafounder, and the metafounders
are related by Γ (G × G: γ_kk = 2 × the group's own inbreeding-like self-relationship, γ_kl the
relationship between groups).

With the G metafounders placed before the n animals, A^Γ = T B T' where T = (I − P)⁻¹ over
metafounders and animals (a metafounder replaces the unknown parent of its group) and B =
blockdiag(Γ, diag(b)). The Mendelian-sampling factor of an animal is
``b_i = 1 − Σ_parents a_pp/4`` with a_pp = 1 + F_p for an animal parent and γ_kk for a
metafounder (an unknown parent left in the base contributes nothing), and
``F_i = a(s_i, d_i)/2`` now also for parents that are metafounders, so that
F depends on Γ. Hence, built directly (never inverting A^Γ)::

    (A^Γ)⁻¹ = Σ_i δ_i c_i c_i' + embed(Γ⁻¹),     log|A^Γ| = log|Γ| + Σ_i log b_i.

With Γ = 0 the metafounders are the phantom parents of Quaas' groups: F and b are the ordinary
ones and the animal block is the ordinary A⁻¹ (Γ⁻¹ does not exist then; :func:`ainv_metafounders`
returns A*⁻¹ of fixed groups).

Estimating Γ from the genotypes of the groups' descendants is not implemented: Γ is given.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from henderson.pedigree.ainv import _ainv_csc
from henderson.pedigree.ainv_groups import GroupedPedigree, _csc
from henderson.pedigree.inbreeding import _ancestors_postorder, _families, _mendelian

__all__ = ["ainv_metafounders", "check_gamma", "metafounder_inbreeding"]


@numba.njit(cache=True)
def _mf_inbreeding(sire: np.ndarray, dam: np.ndarray, g: int, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F and b (each (g + n,)) of a sorted pedigree whose first g entries are metafounders
    related by `gamma`; Colleau's indirect method family by family, as
    :func:`henderson.pedigree.inbreeding.inbreeding`, with B = blockdiag(Γ, diag(b)): the
    metafounder block of v = B u is Γ u_M (all metafounders, not only the sire's ancestors), so
    the search for the mates' ancestors runs down to position 0. At the metafounders F holds
    γ_kk − 1 and b is 0 (their variance is in Γ)."""
    total = sire.size
    F = np.zeros(total)
    b = np.zeros(total)
    for m in range(g):
        F[m] = gamma[m, m] - 1.0
    start, mates, offspring = _families(sire, dam)
    u = np.zeros(total)
    a = np.zeros(total)
    um = np.zeros(g)
    stamp = np.full(total, -1, dtype=np.int64)
    stack = np.empty(total, dtype=np.int64)
    edge = np.empty(total, dtype=np.int8)
    S = np.empty(total, dtype=np.int64)
    R = np.empty(total, dtype=np.int64)
    root = np.empty(1, dtype=np.int64)
    done = g  # b of positions < done is final (animals in order: their parents come first)
    for s in range(total):
        # b of every animal up to s: its parents' F are final (their own sires came earlier)
        while done <= s:
            b[done] = _mendelian(done, sire, dam, F)
            done += 1
        lo = start[s]
        hi = start[s + 1]
        if lo == hi:
            continue
        root[0] = s
        n_s = _ancestors_postorder(root, 0, sire, dam, stamp, 2 * s, stack, edge, S)
        u[s] = 1.0
        for k in range(n_s - 1, -1, -1):
            j = S[k]
            half = 0.5 * u[j]
            if sire[j] >= 0:
                u[sire[j]] += half
            if dam[j] >= 0:
                u[dam[j]] += half
        for k in range(n_s):
            j = S[k]
            if j >= g:
                u[j] *= b[j]
        for m in range(g):
            um[m] = u[m]
        for m in range(g):
            value = 0.0
            for l in range(g):
                value += gamma[m, l] * um[l]
            u[m] = value
        n_r = _ancestors_postorder(mates[lo:hi], 0, sire, dam, stamp, 2 * s + 1, stack, edge, R)
        for k in range(n_r):
            j = R[k]
            value = u[j]
            if sire[j] >= 0:
                value += 0.5 * a[sire[j]]
            if dam[j] >= 0:
                value += 0.5 * a[dam[j]]
            a[j] = value
        for k in range(lo, hi):
            F[offspring[k]] = 0.5 * a[mates[k]]
        for k in range(n_s):
            u[S[k]] = 0.0
        for m in range(g):
            u[m] = 0.0
        for k in range(n_r):
            a[R[k]] = 0.0
    while done < total:
        b[done] = _mendelian(done, sire, dam, F)
        done += 1
    return F, b


def check_gamma(gamma: np.ndarray, groups: int) -> np.ndarray:
    """Γ as a symmetric G × G float matrix; positive definite, or exactly 0 (phantom parents)."""
    gamma = np.asarray(gamma, dtype=float)
    if gamma.shape != (groups, groups):
        raise ValueError(f"Γ must be {groups} × {groups} (one row and column per group); got {gamma.shape}.")
    if not np.allclose(gamma, gamma.T, rtol=0, atol=1e-12):
        raise ValueError("Γ must be symmetric.")
    if np.any(gamma != 0) and np.linalg.eigvalsh(gamma)[0] <= 0:
        raise ValueError("Γ must be positive definite (or 0).")
    if np.any(np.diag(gamma) >= 2):
        raise ValueError("Γ must have diagonal values below 2 (γ_kk = 1 + F of the metafounder).")
    return 0.5 * (gamma + gamma.T)


def _order(grouped: GroupedPedigree) -> tuple[np.ndarray, np.ndarray]:
    """Parents with the G metafounders first: (G + n,) int64 each."""
    g, ped = grouped.n_groups, grouped.ped
    sire = np.where(ped.sire >= 0, ped.sire + g, np.where(grouped.sire_group >= 0, grouped.sire_group, -1))
    dam = np.where(ped.dam >= 0, ped.dam + g, np.where(grouped.dam_group >= 0, grouped.dam_group, -1))
    pad = np.full(g, -1, dtype=np.int64)
    return np.concatenate([pad, sire]).astype(np.int64), np.concatenate([pad, dam]).astype(np.int64)


def metafounder_inbreeding(grouped: GroupedPedigree, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, b) of the n animals (pedigree order) in A^Γ (module docstring). Exact; the cost is
    that of :func:`henderson.pedigree.inbreeding` without its early stop, as every
    metafounder is related to every other."""
    g = grouped.n_groups
    gamma = check_gamma(gamma, g)
    sire, dam = _order(grouped)
    F, b = _mf_inbreeding(sire, dam, g, np.ascontiguousarray(gamma))
    if np.any(b[g:] <= 0):
        bad = int(np.flatnonzero(b[g:] <= 0)[0])
        raise ValueError(f"animal {grouped.ped.ids[bad]!r} has no Mendelian-sampling variance with this Γ.")
    return F[g:], b[g:]


def ainv_metafounders(grouped: GroupedPedigree, gamma: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, float]:
    """((A^Γ)⁻¹, F, b, log|A^Γ|): the inverse ((n+G) × (n+G), CSC, animals then metafounders),
    F and b of the animals (n,) and the log-determinant (None-free: for Γ = 0, where A^Γ is
    singular, the log-determinant over the animals Σ log b and A*⁻¹ of fixed groups)."""
    g, n = grouped.n_groups, grouped.n
    gamma = check_gamma(gamma, g)
    F, b = metafounder_inbreeding(grouped, gamma)
    sire, dam = grouped.augmented()
    indptr, indices, data = _ainv_csc(sire, dam, np.concatenate([1.0 / b, np.zeros(g)]))
    out = _csc(indptr, indices, data, n + g)
    logdet = float(np.sum(np.log(b)))
    if np.any(gamma != 0):
        inverse = np.linalg.inv(gamma)
        inverse = 0.5 * (inverse + inverse.T)
        rows, cols = np.divmod(np.arange(g * g), g)
        base = out.tocoo()
        # summed as triplets, so a sum that cancels stays an explicit entry (a symmetric pattern)
        out = sp.csc_matrix(
            (np.r_[base.data, inverse.ravel()], (np.r_[base.row, rows + n], np.r_[base.col, cols + n])),
            shape=(n + g, n + g),
        )
        out.sort_indices()
        logdet += float(np.linalg.slogdet(gamma)[1])
    return out, F, b, logdet
