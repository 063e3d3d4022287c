"""Relationship matrices K of random terms: Var(u) = G0 ⊗ K.

A `Relationship` carries what the mixed model equations and REML need of K, and nothing that
grows like q²:

* ``levels`` (q,): the level labels (animal IDs, class labels), in the order of K;
* ``kinv`` (q × q, sparse, both triangles): K⁻¹, the block that enters the MME — or, with
  ``dense``, its sparse part S;
* ``dense``: None, or a dense symmetric block M at some levels (:mod:`henderson.dense_block`):
  K⁻¹ = S + E'ME. Genomic relationships keep their dense n_g × n_g block apart so that an
  iterative solver applies it as a product (``kinv_times``) and never stores it in a sparse
  matrix; ``kinv_matrix()`` merges it for the exact solvers;
* ``logdet``: log|K|, for the REML log-likelihood (None where no cheap value exists);
* ``diagonal`` (q,): diag(K), the prior variance factor of each level (reliabilities), and
  ``diagonal_exact``: False where part of it is approximated;
* ``fixed`` (q,) bool or None: levels that carry no prior (genetic groups as fixed effects in
  the QP-transformed equations, :mod:`henderson.relationship_groups`); their rows of K⁻¹ still
  enter the equations, but they count as fixed effects in REML (log|K| and the prior's rank are
  over the other levels) and the random part of a solution excludes them (``random_part``);
* ``groups``: unknown parent groups or metafounders among the levels (the last levels), or None.

For the additive relationship A = T B T' (B the Mendelian-sampling variances b_i of the pedigree),
``log|A| = Σ_i log b_i`` and ``diag(A) = 1 + F``: both come free with the pedigree, no
factorisation of A⁻¹ is needed. The identity (iid levels) has log|I| = 0 and unit diagonal.
The genomic kinds are built in :mod:`henderson.genomic` (``genomic_relationship``,
``single_step_relationship``); their K⁻¹ holds a dense block of the genotyped animals, kept in
``dense``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from henderson.dense_block import BlockProducts, merge

if TYPE_CHECKING:
    from henderson.pedigree import Pedigree

__all__ = ["Relationship", "identity_relationship", "pedigree_relationship", "pedigree_relationship_from"]


@dataclass(frozen=True, eq=False)
class Relationship:
    """K of one random term (see module docstring). ``kind`` names it in outputs and messages:
    ``"pedigree"`` (A), ``"identity"`` (I), ``"genomic"`` (G* of the genotyped animals) and
    ``"single_step"`` (H over the pedigree): see :mod:`henderson.genomic`."""

    kind: str
    levels: np.ndarray
    kinv: sp.csc_matrix
    logdet: float | None
    diagonal: np.ndarray
    fixed: np.ndarray | None = None
    groups: Any = None
    """:class:`henderson.relationship_groups.GroupLevels` when the last levels are groups."""
    notes: tuple[str, ...] = ()
    """What a reader of the results must know about K (e.g. an approximated diagonal); the
    evaluation passes them to its summary and the report's warnings."""
    dense: BlockProducts | None = None
    """A dense block of K⁻¹ kept apart from the sparse `kinv` (module docstring), or None."""
    diagonal_exact: bool = True
    """False when `diagonal` is approximated (single step too large for the selected inverse of
    H⁻¹: 1 + F for the ungenotyped animals); sampled reliabilities then do not estimate PEV
    from it (:mod:`henderson.reliability.sampled`)."""

    def __post_init__(self) -> None:
        q = len(self.levels)
        if self.kinv.shape != (q, q):
            raise ValueError(f"K⁻¹ is {self.kinv.shape}; {q} levels need {q} × {q}.")
        if np.shape(self.diagonal) != (q,):
            raise ValueError(f"diag(K) has shape {np.shape(self.diagonal)}; expected ({q},).")
        object.__setattr__(self, "levels", np.asarray(self.levels, dtype=object))
        object.__setattr__(self, "kinv", sp.csc_matrix(self.kinv))
        object.__setattr__(self, "diagonal", np.asarray(self.diagonal, dtype=float))
        if self.dense is not None and np.any((self.dense.positions < 0) | (self.dense.positions >= q)):
            raise ValueError(f"the dense block of K⁻¹ has positions outside the {q} levels.")

    def kinv_matrix(self) -> sp.csc_matrix:
        """K⁻¹ as one sparse matrix (q × q): `kinv`, with the dense block merged into it
        (n_b² stored entries) when there is one."""
        return self.kinv if self.dense is None else merge(self.kinv, self.dense)

    def kinv_times(self, x: np.ndarray) -> np.ndarray:
        """K⁻¹ x for x (q,) or (q, m), without merging a dense block."""
        return self.kinv @ x if self.dense is None else self.dense.apply(self.kinv, x)

    @property
    def q(self) -> int:
        """Number of levels."""
        return len(self.levels)

    @property
    def is_identity(self) -> bool:
        return self.kind == "identity"

    @property
    def n_fixed(self) -> int:
        """Number of levels without a prior (fixed groups)."""
        return 0 if self.fixed is None else int(np.count_nonzero(self.fixed))

    def random_part(self, u: np.ndarray) -> np.ndarray:
        """The random effects of solutions u (q × k): u itself, or with fixed groups the animal
        deviations a = u − Q g (and 0 at the group levels)."""
        if self.groups is None or self.n_fixed == 0:
            return u
        return self.groups.deviations(u)


def identity_relationship(levels: np.ndarray) -> Relationship:
    """K = I over `levels` (independent levels: litters, herds, permanent environment)."""
    q = len(levels)
    return Relationship(
        kind="identity",
        levels=np.asarray(levels, dtype=object),
        kinv=sp.identity(q, format="csc"),
        logdet=0.0,
        diagonal=np.ones(q),
    )


def pedigree_relationship_from(ped: Pedigree, inbreeding: np.ndarray | None = None) -> Relationship:
    """K = A of a sorted pedigree (:class:`henderson.pedigree.Pedigree`): A⁻¹ by Henderson's rules,
    log|A| and diag(A) from the inbreeding coefficients (computed when not given)."""
    from henderson.pedigree import ainv, mendelian_variances
    from henderson.pedigree import inbreeding as compute_inbreeding

    f = compute_inbreeding(ped) if inbreeding is None else np.asarray(inbreeding, dtype=float)
    return pedigree_relationship(ped.ids, ainv(ped, f), f, mendelian_variances(ped, f))


def pedigree_relationship(
    ids: np.ndarray, ainv: sp.spmatrix, inbreeding: np.ndarray, mendelian: np.ndarray
) -> Relationship:
    """K = A from the pedigree: A⁻¹ (q × q, pedigree order), inbreeding F (q,) and the
    Mendelian-sampling variance factors b (q,) (:func:`henderson.pedigree.mendelian_variances`):
    log|A| = Σ log b_i, diag(A) = 1 + F."""
    mendelian = np.asarray(mendelian, dtype=float)
    if np.any(mendelian <= 0):
        raise ValueError("Mendelian-sampling variances must be positive.")
    return Relationship(
        kind="pedigree",
        levels=np.asarray(ids, dtype=object),
        kinv=sp.csc_matrix(ainv),
        logdet=float(np.sum(np.log(mendelian))),
        diagonal=1.0 + np.asarray(inbreeding, dtype=float),
    )
