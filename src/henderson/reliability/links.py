"""Parents and Mendelian-sampling variances of a pedigree, read back from its A⁻¹.

A⁻¹ = L' D L with L = I − P unit lower triangular in pedigree order (row i: 1 at i, −½ at each
known parent, −1 at the one parent of a selfed individual) and D = diag(1/b) (Henderson 1976;
:mod:`henderson.pedigree`). Column by column from the youngest animal, A⁻¹ is peeled back into
its factors: with the contributions δ_o l_o l_o' of the animals o > i already removed, the
diagonal left at i is δ_i = 1/b_i and the entries left above it are δ_i L[i, j], so the parents
are the j with L[i, j] = −½ (or −1). Exact and O(nnz); the result is checked against the
inbreeding coefficients: b_i = 1 − ¼(1 + F_s) − ¼(1 + F_d) (terms of unknown parents left out).
The relationship of a model term carries A⁻¹ and diag(A) = 1 + F, not the parents; this reads
them back without another input.

With fixed unknown parent groups the animals' parents are those of the grouped pedigree the
relationship carries, a group standing for an unknown parent (:func:`term_links`); random
groups, metafounders and genomic relationships have no such links here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from henderson.errors import NumericalError
from henderson.relationship import Relationship

__all__ = ["PedigreeLinks", "is_genomic", "pedigree_links", "pilot_links", "term_links"]

# |L[i, j] − (0, −½ or −1)| above this: A⁻¹ is not a pedigree's inverse in parents-first order.
_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class PedigreeLinks:
    """sire, dam (q,) int64 (−1 unknown; equal for a selfed individual), b (q,) the
    Mendelian-sampling variance factors, f (q,) the inbreeding coefficients."""

    sire: np.ndarray
    dam: np.ndarray
    b: np.ndarray
    f: np.ndarray


@numba.njit(cache=True)
def _peel(indptr, indices, data, q, tol):  # pragma: no cover - compiled
    sire = np.full(q, -1, np.int64)
    dam = np.full(q, -1, np.int64)
    b = np.zeros(q)
    removed = np.zeros(q)  # Σ δ_o L[o, i]² of the animals o > i peeled so far
    head = np.full(q, -1, np.int64)  # corrections of entry (i, j), j < i, listed at i
    nxt = np.empty(q, np.int64)
    low = np.empty(q, np.int64)
    val = np.empty(q)
    used = 0
    work = np.zeros(q)
    cand = np.empty(2 * q + 2, np.int64)
    for i in range(q - 1, -1, -1):
        aii = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if j == i:
                aii += data[p]
            elif j < i:
                work[j] += data[p]
        e = head[i]
        while e >= 0:
            work[low[e]] -= val[e]
            e = nxt[e]
        delta = aii - removed[i]
        if not delta > 0:
            return sire, dam, b, i
        found = 0
        parents = np.full(2, -1, np.int64)
        bad = False
        # candidates: C's stored entries above i, and the corrected ones (an entry that cancels
        # to zero in A⁻¹, e.g. a parent also a mate, may be missing from the stored pattern)
        n_cand = 0
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] < i:
                cand[n_cand] = indices[p]
                n_cand += 1
        e = head[i]
        while e >= 0:
            cand[n_cand] = low[e]
            n_cand += 1
            e = nxt[e]
        for c in range(n_cand):
            j = cand[c]
            x = work[j] / delta
            work[j] = 0.0
            if abs(x) <= tol:
                continue
            if abs(x + 0.5) <= tol and found < 2:
                parents[found] = j
                found += 1
            elif abs(x + 1.0) <= tol and found == 0:
                parents[0] = j
                parents[1] = j
                found = 2
            else:
                bad = True
        if bad:
            return sire, dam, b, i
        b[i] = 1.0 / delta
        s, d = parents[0], parents[1]
        sire[i], dam[i] = s, d
        if s >= 0 and s == d:
            removed[s] += delta
        else:
            for x in (s, d):
                if x >= 0:
                    removed[x] += 0.25 * delta
            if s >= 0 and d >= 0:
                hi, lo = max(s, d), min(s, d)
                low[used], val[used], nxt[used] = lo, 0.25 * delta, head[hi]
                head[hi] = used
                used += 1
    return sire, dam, b, -1


def _mendelian(sire: np.ndarray, dam: np.ndarray, f: np.ndarray) -> np.ndarray:
    """b_i = 1 − ¼(1 + F_s) − ¼(1 + F_d), the terms of unknown parents (−1) left out."""
    fs = np.where(sire >= 0, 1.0 + f[np.maximum(sire, 0)], 0.0)
    fd = np.where(dam >= 0, 1.0 + f[np.maximum(dam, 0)], 0.0)
    return 1.0 - 0.25 * fs - 0.25 * fd


def pedigree_links(relationship: Relationship) -> PedigreeLinks:
    """Parents, b and F of a pedigree relationship (module docstring).

    Raises:
        NumericalError: K⁻¹ is not the inverse of a pedigree's A in parents-first order (e.g.
            a genomic or group-augmented relationship), or b disagrees with diag(A) = 1 + F.
    """
    if relationship.dense is not None:  # its sparse part alone may well be a pedigree's A⁻¹ (single step)
        raise NumericalError(
            f"the {relationship.kind} relationship is not a pedigree's A⁻¹ (its inverse has a dense genomic block); "
            "approximate and sampled reliabilities need a pedigree relationship."
        )
    kinv = relationship.kinv.tocsc()
    kinv.sort_indices()
    q = relationship.q
    sire, dam, b, failed = _peel(kinv.indptr.astype(np.int64), kinv.indices.astype(np.int64),
                                 kinv.data.astype(float), q, _TOL)
    label = relationship.levels[failed] if failed >= 0 else None
    if failed >= 0:
        raise NumericalError(
            f"the relationship matrix is not a pedigree's A⁻¹ in parents-first order (at level {label!r}); "
            "approximate and sampled reliabilities need a pedigree relationship."
        )
    f = relationship.diagonal - 1.0
    expected = _mendelian(sire, dam, f)
    off = np.flatnonzero(np.abs(b - expected) > 1e-6 * np.maximum(expected, 1e-12))
    if off.size:
        i = int(off[0])
        raise NumericalError(
            f"A⁻¹ and the inbreeding coefficients disagree at {relationship.levels[i]!r} (b = {b[i]:.6g} from A⁻¹, "
            f"{expected[i]:.6g} from F); rerun the relationships stage."
        )
    return PedigreeLinks(sire, dam, b, f)


def is_genomic(relationship: Relationship) -> bool:
    """Whether K is a genomic relationship (G*, H, either with APY): K⁻¹ is not a pedigree's,
    and its effects are drawn by :mod:`henderson.reliability.genomic_draws`."""
    return relationship.kind in ("genomic", "single_step") or relationship.dense is not None


def pilot_links(relationship: Relationship) -> PedigreeLinks:
    """Links of a genomic relationship for the pilot of the sampled reliabilities (a deterministic
    guess that only sets the weights of two unbiased estimators): single step's sparse part is
    the pedigree's A⁻¹, so its parents and b are read back from it as in :func:`pedigree_links`,
    with F taken as diag(H) − 1 (no check: H's diagonal is not A's); GBLUP, or a sparse part
    that is no pedigree's (metafounders), gives levels without parents, b = diag(K): their own
    records only."""
    q, diag = relationship.q, relationship.diagonal
    none = np.full(q, -1, np.int64)
    if relationship.kind == "single_step" and relationship.groups is None:
        kinv = relationship.kinv.tocsc()
        kinv.sort_indices()
        sire, dam, b, failed = _peel(kinv.indptr.astype(np.int64), kinv.indices.astype(np.int64),
                                     kinv.data.astype(float), q, _TOL)
        if failed < 0:
            return PedigreeLinks(sire, dam, b, np.maximum(diag - 1.0, 0.0))
    return PedigreeLinks(none, none, diag.copy(), diag - 1.0)


def term_links(relationship: Relationship) -> tuple[PedigreeLinks | None, np.ndarray | None]:
    """The links of a model term's relationship for the approximate and sampled reliabilities,
    and the levels that are unknown parent groups (bool (q,), or None): a pedigree's A⁻¹ →
    :func:`pedigree_links`; fixed groups → the animals' known parents in the grouped
    pedigree (a group is an unknown parent: A*⁻¹'s animal block is the A⁻¹ of that pedigree,
    Quaas 1988), b from F, the group levels without parents (b = 1, F = 0: the caller sets
    their values); an iid effect → (None, None).

    Raises:
        NumericalError: random groups, metafounders or a genomic relationship.
    """
    groups = relationship.groups
    if is_genomic(relationship):
        raise NumericalError(
            f"the {relationship.kind} relationship is genomic; approximate reliabilities follow a pedigree "
            "(use reliability: sampled, or solver: cholesky for exact ones)."
        )
    if groups is None:
        return (pedigree_links(relationship) if relationship.kind == "pedigree" else None), None
    if groups.kind != "fixed":
        raise NumericalError(
            f"approximate reliabilities are not available with {groups.kind} groups: the animals' solutions "
            "a + Qĝ carry the prediction error of the group effects, which the approximation leaves out (on 4,000 "
            "simulated animals with random groups it overstated the reliabilities by 0.15); use fixed groups, or "
            "solver: cholesky for exact reliabilities."
        )
    ped = groups.grouped.ped
    n, q = ped.n, relationship.q
    sire = np.full(q, -1, np.int64)
    dam = np.full(q, -1, np.int64)
    sire[:n], dam[:n] = ped.sire, ped.dam
    f = np.zeros(q)
    f[:n] = relationship.diagonal[:n] - 1.0
    b = _mendelian(sire, dam, f)
    is_group = np.zeros(q, dtype=bool)
    is_group[n:] = True
    b[is_group] = 1.0
    return PedigreeLinks(sire, dam, b, f), is_group
