"""Draws u ~ N(0, K) for the genomic relationships (GBLUP's G*, single step's H, either with
APY), from the K⁻¹ the relationship holds, for sampled reliabilities.

K⁻¹ = S + E'ME (:mod:`henderson.relationship`): S sparse over all q levels, M the dense block at
the n_b levels `positions` (block 2; the other levels are block 1). Written as a precision
matrix, K⁻¹ = [S11 S12; S21 S22 + M], so (Gaussian conditioning on block 2)::

    u₂ ~ N(0, P⁻¹),  P = S22 + M − S21 S11⁻¹ S12   (the marginal precision of block 2)
    u₁ | u₂ ~ N(−S11⁻¹ S12 u₂, S11⁻¹)

and u = (u₁, u₂) ~ N(0, K) exactly, whatever S and M are, as long as K⁻¹ is positive definite:

* GBLUP: S = 0, no block 1, P = M = G*⁻¹: u = R'⁻¹ z with G*⁻¹ = R R' (dense Cholesky).
* Single step: S = A⁻¹ (S11 = A¹¹, S12 = A¹²), M = D = τG*⁻¹ − ωA22⁻¹, so P = A22⁻¹ + D =
  τG*⁻¹ + (1 − ω)A22⁻¹ = H22⁻¹ (= G*⁻¹ for τ = ω = 1) and u₁ = A12A22⁻¹u₂ + ε with
  ε ~ N(0, A11 − A12A22⁻¹A21) = N(0, (A¹¹)⁻¹): the pedigree draw conditional on u₂ (A12A22⁻¹ =
  −(A¹¹)⁻¹A¹²). τ, ω ≠ 1 and metafounders (S = (A^Γ)⁻¹, the metafounders levels of block 1) are
  therefore exact: the draws follow the H (H^Γ) that the H⁻¹ in use implies.
* APY single step (M held as products, :class:`henderson.genomic.singlestep.SingleStepBlock`,
  τ = ω = 1): P = G_APY⁻¹, drawn from its factored form (:mod:`henderson.genomic.apy`): core
  u_c = R_c'⁻¹ z_c with Gcc⁻¹ = R_c R_c', non-core u_n = Gnc Gcc⁻¹ u_c + √m ∘ z_n.
* APY GBLUP (K⁻¹ = G_APY⁻¹ sparse, no dense block): all levels are block 1, u = S^{-½} z through
  the sparse Cholesky factor of S (CHOLMOD puts the dense core block last).

The single-step form is the pedigree draw conditioned on the genotyped animals: a ~ N(0, A),
u₁ = a₁ + A12A22⁻¹(u₂ − a₂) has the same distribution, but needs the same solve with A¹¹ and a
second pass; here one sparse Cholesky of S11 serves both the conditional mean (a solve) and the
noise (L'⁻¹z permuted back, :meth:`henderson.linalg.SparseCholesky.inverse_root_times`).

Memory: the relationship holds K⁻¹ only (the solver keeps applying its block M), so the factor
of P needs one n_b × n_b array of its own (formed and factored in place, kept for all draws);
with APY only an n_c × n_c copy of Gcc⁻¹. Forming P costs n_b solves with the factor of S11
(in blocks of columns), the draws two triangular solves per sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack, solve_triangular

from henderson.errors import NumericalError
from henderson.genomic.apy import APYInverse
from henderson.genomic.dense import SINGULAR
from henderson.genomic.singlestep import SingleStepBlock
from henderson.linalg import SparseCholesky
from henderson.relationship import Relationship

__all__ = ["GenomicDraws", "genomic_draws"]

_COLUMNS = 256  # of S12 solved at a time while forming P

_LOG = logging.getLogger("henderson.reliability")


@dataclass(frozen=True, eq=False)
class GenomicDraws:
    """u ~ N(0, K) for a relationship with K⁻¹ = S + E'ME (module docstring).

    q: levels; positions (n_b,): block 2; rest (n_1,): block 1 (increasing); s11: the sparse
    Cholesky of S11 (None when block 1 is empty); s12: S12 (n_1 × n_b, CSR); root: the lower
    Cholesky factor R of P (n_b × n_b), or None with `apy` (G_APY⁻¹ in factored form) and its
    core factor `core_root`."""

    q: int
    positions: np.ndarray
    rest: np.ndarray
    s11: SparseCholesky | None
    s12: sp.csr_matrix | None
    root: np.ndarray | None
    apy: APYInverse | None = None
    core_root: np.ndarray | None = None

    def _block(self, z: np.ndarray) -> np.ndarray:
        """u₂ ~ N(0, P⁻¹) from z (n_b, m)."""
        if self.apy is None:
            return solve_triangular(self.root, z, trans="T", lower=True, check_finite=False)
        apy = self.apy
        out = np.empty_like(z)
        uc = solve_triangular(self.core_root, z[apy.core], trans="T", lower=True, check_finite=False)
        out[apy.core] = uc
        out[apy.noncore] = apy.p.T @ uc + np.sqrt(apy.m)[:, None] * z[apy.noncore]
        return out

    def draw(self, z: np.ndarray) -> np.ndarray:
        """u (q, m) ~ N(0, K) column by column from z (q, m) ~ N(0, I); linear in z."""
        z = np.asarray(z, dtype=float)
        u = np.empty_like(z)
        u2 = self._block(z[self.positions]) if self.positions.size else np.zeros((0, z.shape[1]))
        u[self.positions] = u2
        if self.s11 is not None:
            u1 = self.s11.inverse_root_times(z[self.rest])
            if self.positions.size:
                u1 -= self.s11.solve(np.asarray(self.s12 @ u2))
            u[self.rest] = u1
        return u


def _cholesky(p: np.ndarray, what: str, kind: str) -> np.ndarray:
    """The lower Cholesky factor of P (n × n, Fortran order, overwritten)."""
    scale = float(np.max(np.abs(np.diagonal(p)))) if p.shape[0] else 1.0
    root, info = lapack.dpotrf(p, lower=1, overwrite_a=1, clean=1)
    pivots = np.diagonal(root) ** 2 if info == 0 else np.zeros(1)
    if info != 0 or np.any(pivots <= SINGULAR * scale):
        raise NumericalError(
            f"sampled reliabilities: {what} of the {kind} relationship is not positive definite, so its effects "
            "cannot be drawn; check the genomic options (ridge, blend, tau, omega)."
        )
    return root


def genomic_draws(relationship: Relationship) -> GenomicDraws:
    """The :class:`GenomicDraws` of a genomic or single-step relationship (module docstring):
    factors S11 (sparse) and P (dense, or the APY core block), once, for any number of draws.

    Raises:
        NumericalError: levels without a prior (fixed groups), or K⁻¹ not positive definite.
    """
    kind, q = relationship.kind, relationship.q
    if relationship.n_fixed:
        raise NumericalError(
            f"sampled reliabilities cannot draw the {kind} relationship's effects: it has levels without a prior "
            "(fixed groups)."
        )
    block = relationship.dense
    positions = np.zeros(0, np.int64) if block is None else np.asarray(block.positions, dtype=np.int64)
    inside = np.zeros(q, dtype=bool)
    inside[positions] = True
    rest = np.flatnonzero(~inside)
    dense = 0 if block is None else block.ginv.core.size if isinstance(block, SingleStepBlock) else positions.size
    _LOG.info("sampled reliabilities: the %s relationship's effects drawn through a sparse factor of %d levels and a "
              "dense factor of %d × %d (%.2f GiB)", kind, rest.size, dense, dense, 8 * dense**2 / 2**30)
    s = sp.csc_matrix(relationship.kinv)
    s11 = s12 = None
    if rest.size:
        rows = s[rest]
        a11 = sp.csc_matrix(rows[:, rest])
        s11 = SparseCholesky(a11).factorize(a11)
        if positions.size:
            s12 = sp.csr_matrix(rows[:, positions])
    if block is None:
        return GenomicDraws(q, positions, rest, s11, s12, None)
    if isinstance(block, SingleStepBlock):
        if block.tau != 1.0 or block.omega != 1.0:  # never built so: τ, ω ≠ 1 make D dense
            raise NumericalError("sampled reliabilities: an APY single-step block with tau or omega ≠ 1.")
        core = np.array(block.ginv.gcc_inv, dtype=float, order="F")
        return GenomicDraws(q, positions, rest, s11, s12, None, block.ginv,
                            _cholesky(core, "the APY core block Gcc⁻¹", kind))
    # P = M + S22 − S21 S11⁻¹ S12: one n_b × n_b array, factored in place
    p = np.array(block.matrix, dtype=float, order="F")
    s22 = sp.coo_matrix(s[positions][:, positions])
    np.add.at(p, (s22.row, s22.col), s22.data)
    if s11 is not None:
        s21 = sp.csr_matrix(s12.T)
        for j in range(0, positions.size, _COLUMNS):
            cols = s11.solve(np.asarray(s12[:, j : j + _COLUMNS].toarray()))
            p[:, j : j + _COLUMNS] -= np.asarray(s21 @ cols)
    return GenomicDraws(q, positions, rest, s11, s12, _cholesky(p, "the genotyped block of K⁻¹", kind))
