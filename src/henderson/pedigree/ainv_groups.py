"""A⁻¹ with unknown parent groups by the rules of Quaas (1988), and the QP deviations.

Every unknown parent of animal i assigned to a group is replaced by that group, a phantom parent.
With groups g (G of them) after the n animals, the QP-transformed effects are
``s = [a + Q g; g]`` (Q: n × G, the fraction of each animal's genes from each group) and their
inverse relationship is::

    A*⁻¹ = Σ_i δ_i c_i c_i',   c_i = e_i - e_{p1}/2 - e_{p2}/2   (p = a parent or a group)

with the δ_i = 1/b_i of the ordinary pedigree (a group parent counts like an unknown one in b_i,
as a group has F = 0): the animal block of A*⁻¹ is the ordinary A⁻¹, the group rows collect the
contributions of the animals with a group parent and the group-group block has no own term.
A*⁻¹ = [I −Q]' A⁻¹ [I −Q], so s' A*⁻¹ s = a' A⁻¹ a: the groups carry no prior (fixed groups).

Random groups (Quaas–Pollak): g ~ N(0, r I σ²a) adds I/r to the group block; then
K = Var(s)/σ²a has log|K| = log|A| + G log r.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from henderson.pedigree.ainv import _ainv_csc
from henderson.pedigree.inbreeding import inbreeding, mendelian_variances
from henderson.pedigree.structure import Pedigree

__all__ = ["GroupedPedigree", "ainv_groups", "group_contributions", "group_deviations"]


@dataclass(frozen=True, eq=False)
class GroupedPedigree:
    """A sorted pedigree with unknown parents assigned to groups.

    ped: the animals (n); groups: (G,) group codes; sire_group, dam_group: (n,) int64, the group
    index of an unknown parent, -1 where the parent is known or left in the base population.
    """

    ped: Pedigree
    groups: tuple[str, ...]
    sire_group: np.ndarray
    dam_group: np.ndarray

    def __post_init__(self) -> None:
        n, g = self.ped.n, len(self.groups)
        for name in ("sire_group", "dam_group"):
            value = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            if value.shape != (n,) or value.min(initial=-1) < -1 or value.max(initial=-1) >= g:
                raise ValueError(f"{name} must have shape ({n},) with values in -1..{g - 1}.")
            object.__setattr__(self, name, value)
        for parent, group, role in ((self.ped.sire, self.sire_group, "sire"), (self.ped.dam, self.dam_group, "dam")):
            both = np.flatnonzero((parent >= 0) & (group >= 0))
            if both.size:
                raise ValueError(f"animal {self.ped.ids[both[0]]!r} has a known {role} and a {role} group.")

    @property
    def n(self) -> int:
        return self.ped.n

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def augmented(self) -> tuple[np.ndarray, np.ndarray]:
        """Parents of the n animals and G groups (groups at n..n+G-1, without parents): (n+G,)
        int64 each, a group parent standing for the unknown parent it replaces."""
        n, g = self.n, self.n_groups
        sire = np.where(self.ped.sire >= 0, self.ped.sire, np.where(self.sire_group >= 0, n + self.sire_group, -1))
        dam = np.where(self.ped.dam >= 0, self.ped.dam, np.where(self.dam_group >= 0, n + self.dam_group, -1))
        pad = np.full(g, -1, dtype=np.int64)
        return np.concatenate([sire, pad]).astype(np.int64), np.concatenate([dam, pad]).astype(np.int64)

    def group_sizes(self) -> np.ndarray:
        """(G,) the number of unknown parents each group replaces."""
        g = self.n_groups
        return (np.bincount(self.sire_group[self.sire_group >= 0], minlength=g)
                + np.bincount(self.dam_group[self.dam_group >= 0], minlength=g))


def _csc(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, size: int) -> sp.csc_matrix:
    index_dtype = np.int32 if max(size, indices.size) < np.iinfo(np.int32).max else np.int64
    out = sp.csc_matrix((data, indices.astype(index_dtype), indptr.astype(index_dtype)), shape=(size, size))
    out.has_sorted_indices = True
    return out


def ainv_groups(grouped: GroupedPedigree, F: np.ndarray | None = None, ratio: float | None = None) -> sp.csc_matrix:
    """A*⁻¹ ((n+G) × (n+G), CSC, sorted rows; animals then groups) by Quaas' rules (module
    docstring), with inbreeding F (n,) of the ordinary pedigree (computed when None). `ratio`:
    r of random groups (I/r added to the group block); None for fixed groups. O(nnz)."""
    ped = grouped.ped
    if F is None:
        F = inbreeding(ped)
    b = mendelian_variances(ped, F)
    sire, dam = grouped.augmented()
    delta = np.concatenate([1.0 / b, np.zeros(grouped.n_groups)])
    indptr, indices, data = _ainv_csc(sire, dam, delta)
    size = grouped.n + grouped.n_groups
    out = _csc(indptr, indices, data, size)
    if ratio is not None:
        if not ratio > 0:
            raise ValueError("the variance ratio of random groups must be positive.")
        prior = np.concatenate([np.zeros(grouped.n), np.full(grouped.n_groups, 1.0 / ratio)])
        out = (out + sp.diags(prior, format="csc")).tocsc()
        out.sort_indices()
    return out


@numba.njit(cache=True)
def _contributions(sire: np.ndarray, dam: np.ndarray, n: int, g: np.ndarray) -> np.ndarray:
    """x = Q g (n × k) by x_i = (x or g of the sire)/2 + (x or g of the dam)/2, parents first."""
    k = g.shape[1]
    x = np.zeros((n, k))
    for i in range(n):
        for p in (sire[i], dam[i]):
            if p >= n:
                for c in range(k):
                    x[i, c] += 0.5 * g[p - n, c]
            elif p >= 0:
                for c in range(k):
                    x[i, c] += 0.5 * x[p, c]
    return x


def group_contributions(grouped: GroupedPedigree, g: np.ndarray) -> np.ndarray:
    """Q g: (n,) for g (G,), or (n, k) for g (G, k), by one pass over the pedigree (Q itself,
    n × G and dense, is never formed)."""
    g = np.asarray(g, dtype=float)
    flat = g.ndim == 1
    sire, dam = grouped.augmented()
    x = _contributions(sire, dam, grouped.n, np.ascontiguousarray(g.reshape(grouped.n_groups, -1)))
    return x[:, 0] if flat else x


def group_deviations(grouped: GroupedPedigree, s: np.ndarray) -> np.ndarray:
    """The animal deviations a = u* − Q g from QP solutions s = [u*; g] ((n+G,) or (n+G) × k),
    with zeros at the group rows: the random part of s."""
    s = np.asarray(s, dtype=float)
    n = grouped.n
    out = np.zeros_like(s)
    out[:n] = s[:n] - group_contributions(grouped, s[n:])
    return out
