"""The relationship of an additive effect with unknown parent groups or metafounders, and the
constraint that makes fixed groups estimable in a model.

Levels: the n animals, then the groups. The animal solutions are the QP-transformed effects
a + Q g (fixed or random groups) or the additive effects relative to the metafounders; the
group solutions are ĝ.

* fixed groups: K⁻¹ = A*⁻¹ (:func:`henderson.pedigree.ainv_groups.ainv_groups`), the group levels
  are fixed (`Relationship.fixed`): log|K| = log|A| over the animals, and REML counts the group
  levels among the fixed effects. Since every row of Q sums to 1 for an animal whose unknown
  ancestors are all grouped, Z Q 1 = 1 is the intercept of X when every record is such an
  animal: then one group (the reference: the largest, the first in order on a tie) is set to
  0, and the group solutions and the EBVs are relative to it (contrasts between groups and
  between EBVs do not depend on the choice). A group without a recorded descendant is not
  estimable and is set to 0 too (a warning names it).
* random groups: K⁻¹ = A*⁻¹ + diag(0, I/r), log|K| = log|A| + G log r, diag(K) = 1 + F for the
  animals (reliabilities of the deviation a) and r for the groups.
* metafounders: K = A^Γ (:mod:`henderson.pedigree.metafounders`), diag(K) = 1 + F (with Γ) and
  γ_kk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numba
import numpy as np
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.pedigree.ainv_groups import (
    GroupedPedigree,
    ainv_groups,
    group_contributions,
    group_deviations,
)
from henderson.relationship import Relationship

log = logging.getLogger("henderson")

__all__ = ["GroupLevels", "constrain_effects", "constrain_fixed_groups", "fixed_groups_relationship", "group_relationship"]


@dataclass(frozen=True, eq=False)
class GroupLevels:
    """The groups among a relationship's levels: the grouped pedigree, the kind (fixed, random,
    metafounders), the groups kept as levels (indices into `grouped.groups`, in level order after
    the n animals) and the codes set to zero (reference and groups without data)."""

    grouped: GroupedPedigree
    kind: str
    kept: np.ndarray
    zero: tuple[str, ...] = ()
    reference: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.grouped.groups[k] for k in self.kept)

    def deviations(self, u: np.ndarray) -> np.ndarray:
        """a = u* − Q g for solutions u ((n + kept) × k), the zeroed groups at 0."""
        n, g = self.grouped.n, self.grouped.n_groups
        full = np.zeros((n + g,) + u.shape[1:])
        full[:n] = u[:n]
        full[n + self.kept] = u[n:]
        out = group_deviations(self.grouped, full)
        return np.concatenate([out[:n], np.zeros((len(self.kept),) + u.shape[1:])])


def group_relationship(
    grouped: GroupedPedigree,
    kind: str,
    kinv: sp.spmatrix,
    inbreeding: np.ndarray,
    mendelian: np.ndarray,
    *,
    ratio: float | None = None,
    gamma: np.ndarray | None = None,
) -> Relationship:
    """K of an additive effect over the animals and groups (module docstring) from K⁻¹
    ((n + G) × (n + G)), the animals' F and b (n,) (with Γ for metafounders)."""
    n, g = grouped.n, grouped.n_groups
    logdet = float(np.sum(np.log(mendelian)))
    group_diag = np.zeros(g)
    fixed = None
    if kind == "fixed":
        fixed = np.r_[np.zeros(n, dtype=bool), np.ones(g, dtype=bool)]
        group_diag[:] = np.nan
    elif kind == "random":
        logdet += g * float(np.log(ratio))
        group_diag[:] = ratio
    elif kind == "metafounders":
        gamma = np.asarray(gamma, dtype=float)
        if np.any(gamma != 0):
            logdet += float(np.linalg.slogdet(gamma)[1])
        group_diag[:] = np.diag(gamma)
    else:
        raise ValueError(f"unknown kind of groups {kind!r}")
    return Relationship(
        kind="pedigree_groups",
        levels=np.r_[np.asarray(grouped.ped.ids, dtype=object), np.asarray(grouped.groups, dtype=object)],
        kinv=sp.csc_matrix(kinv),
        logdet=logdet,
        diagonal=np.r_[1.0 + np.asarray(inbreeding, dtype=float), group_diag],
        fixed=fixed,
        groups=GroupLevels(grouped, kind, np.arange(g)),
    )


def fixed_groups_relationship(grouped: GroupedPedigree, inbreeding: np.ndarray, mendelian: np.ndarray) -> Relationship:
    """Fixed groups: K⁻¹ = A*⁻¹ built here (convenience for tests and scripts)."""
    return group_relationship(grouped, "fixed", ainv_groups(grouped, inbreeding), inbreeding, mendelian)


def constrain_fixed_groups(relationship: Relationship, incidences: Sequence[sp.spmatrix],
                           names: Sequence[str] | None = None) -> tuple[Relationship, list[sp.csr_matrix]]:
    """Fixed groups made estimable for records with incidence `incidences` (each records × q,
    the effects sharing `relationship`, named `names`): groups without a recorded descendant and,
    when the groups of every effect add up to the intercept (Z Q 1 = 1 on every record: all
    records have the effect and all its unknown ancestry is in groups), one reference group are
    set to 0 and removed from the levels. When they add up to the intercept for one effect and
    not for another (e.g. a maternal effect and records without a dam), no one constraint serves
    both: an InputError says what to do. Other relationships pass unchanged."""
    info = relationship.groups
    if info is None or info.kind != "fixed":
        return relationship, [sp.csr_matrix(z) for z in incidences]
    grouped = info.grouped
    n, g = grouped.n, grouped.n_groups
    names = list(names) if names is not None else [f"effect {k + 1}" for k in range(len(incidences))]
    weight = np.zeros(n)
    direct = np.zeros(g, dtype=bool)
    confounded, without = [], []
    for z in incidences:
        z = sp.csr_matrix(z)
        animals, groups = z[:, :n], z[:, n:]
        weight += np.asarray(abs(animals).sum(axis=0)).ravel()
        direct |= np.asarray(abs(groups).sum(axis=0)).ravel() > 0  # a record on a group level itself
        rows = np.asarray(abs(z).sum(axis=1)).ravel() > 0
        share = animals @ group_contributions(grouped, np.ones(g)) + np.asarray(groups.sum(axis=1)).ravel()
        total = np.asarray(z.sum(axis=1)).ravel()
        confounded.append(bool(rows.all() and np.allclose(share / np.where(rows, total, 1.0), 1.0, rtol=0, atol=1e-9)))
        without.append(int((~rows).sum()))
    reached = _reached_groups(grouped, weight > 0) | direct
    zero = [grouped.groups[k] for k in range(g) if not reached[k]]
    if zero:
        log.warning("groups %s have no recorded descendant: not estimable, set to 0 (remove or merge them)",
                    ", ".join(zero))
    if any(confounded) and not all(confounded):
        yes = [nm for nm, c in zip(names, confounded) if c]
        no = [f"{nm} ({w} records without it)" if w else nm for nm, c, w in zip(names, confounded, without) if not c]
        raise InputError(
            f"fixed groups: the groups of {', '.join(yes)} add up to the intercept on every record, those of "
            f"{', '.join(no)} do not, so no one reference group can make both estimable. Keep only records "
            "that have every genetic effect (e.g. `missing: drop` on the maternal effect), or use random "
            "groups (`type: random` with a `ratio`) or metafounders."
        )
    reference = None
    candidates = np.flatnonzero(reached)
    if candidates.size and confounded and all(confounded):
        sizes = grouped.group_sizes()
        best = candidates[np.argmax(sizes[candidates])]
        reference = grouped.groups[best]
        reached[best] = False
        log.info("groups: every record's unknown ancestry is in groups, so the groups are confounded with the "
                 "intercept; group %s (the largest) is the reference, set to 0: group solutions and EBVs are "
                 "relative to it", reference)
    kept = np.flatnonzero(reached)
    keep = np.r_[np.arange(n), n + kept]
    kinv = sp.csc_matrix(relationship.kinv)[keep][:, keep].tocsc()
    kinv.sort_indices()
    out = replace(
        relationship,
        levels=relationship.levels[keep],
        kinv=kinv,
        diagonal=relationship.diagonal[keep],
        fixed=relationship.fixed[keep],
        groups=GroupLevels(grouped, "fixed", kept, tuple(zero) + ((reference,) if reference else ()), reference),
    )
    return out, [sp.csr_matrix(sp.csr_matrix(z)[:, keep]) for z in incidences]


@numba.njit(cache=True)
def _mark_ancestors(sire: np.ndarray, dam: np.ndarray, mark: np.ndarray, n: int) -> None:
    for i in range(n - 1, -1, -1):  # offspring after parents: walk backwards
        if mark[i]:
            if sire[i] >= 0:
                mark[sire[i]] = True
            if dam[i] >= 0:
                mark[dam[i]] = True


def _reached_groups(grouped: GroupedPedigree, recorded: np.ndarray) -> np.ndarray:
    """(G,) bool: the group is an ancestor of a recorded animal (offspring to parents)."""
    n, g = grouped.n, grouped.n_groups
    sire, dam = grouped.augmented()
    mark = np.r_[recorded.astype(bool), np.zeros(g, dtype=bool)]
    _mark_ancestors(sire, dam, mark, n)
    return mark[n:]


def constrain_effects(effects: Sequence) -> list:
    """The random effects of one term (:class:`henderson.design.RandomEffect`, sharing one
    relationship) with fixed groups constrained (:func:`constrain_fixed_groups`)."""
    from henderson.design import RandomEffect

    effects = list(effects)
    rel = effects[0].relationship if effects else None
    if rel is None or rel.groups is None or rel.groups.kind != "fixed":
        return effects
    new, incidences = constrain_fixed_groups(rel, [e.incidence for e in effects], [e.name for e in effects])
    return [RandomEffect(e.name, e.type, z, new) for e, z in zip(effects, incidences)]
