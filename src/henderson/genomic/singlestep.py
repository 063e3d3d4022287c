"""Single-step relationships: H⁻¹, log|H| and diag(H) (Legarra et al. 2009; Aguilar et al. 2010).

With the pedigree split into the others (1) and the genotyped animals (2)::

    H⁻¹ = A⁻¹ + [0 0; 0 D],   D = τ G*⁻¹ − ω A22⁻¹            (n × n, sparse; D dense n_g × n_g)

kept as A⁻¹ and D apart (:class:`henderson.dense_block.DenseBlock`): an iterative solver applies D
as a product; the exact solvers merge it (n_g² stored entries).

log|H|. Write A⁻¹ = [A¹¹ A¹²; A²¹ A²²]. Eliminating block 1, |H⁻¹| = |A¹¹| |A²² + D − A²¹(A¹¹)⁻¹A¹²|
= |A¹¹| |A22⁻¹ + D| and |A⁻¹| = |A¹¹| |A22⁻¹|, so::

    log|H| = log|A| − log|A22| − log|τ G*⁻¹ + (1 − ω) A22⁻¹|

which for τ = ω = 1 is log|A| − log|A22| + log|G*|. (For τ, ω ≠ 1 "log|H|" is the
log-determinant of (H⁻¹)⁻¹; the last term then needs a dense Cholesky of n_g × n_g.)

diag(H). The genotyped block of H is H22 = (τ G*⁻¹ + (1 − ω) A22⁻¹)⁻¹ (= G* for τ = ω = 1,
exact from G*). For the others, H11 = A11 + A12 A22⁻¹ (H22 − A22) A22⁻¹ A21; its diagonal is
taken from the selected inverse of H⁻¹ (sparse Cholesky, Takahashi recurrences), which is exact
and costs about what factoring the mixed model equations costs. When the predicted factor has
more than ``max_factor_entries`` entries, the documented fallback diag(H11) ≈ diag(A11) = 1 + F is
used (it ignores the genomic information flowing to ungenotyped relatives) and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from henderson.dense_block import BlockProducts, DenseBlock, merge
from henderson.genomic.apy import APYInverse
from henderson.genomic.dense import cholesky_inverse, mirror_lower
from henderson.genomic.pedigree_block import A22Inverse, PedigreeBlocks
from henderson.linalg import SparseCholesky

__all__ = ["GenomicInverseOf", "SingleStep", "SingleStepBlock", "h_inverse", "single_step_parts"]

log = logging.getLogger("henderson")


@dataclass(frozen=True, eq=False)
class SingleStepBlock(BlockProducts):
    """D = τ G*⁻¹ − ω A22⁻¹ at the genotyped `positions` held as products, for G*⁻¹ in APY form
    (:class:`henderson.genomic.apy.APYInverse`) and A22⁻¹ from the sparse factor of A¹¹
    (:class:`henderson.genomic.pedigree_block.A22Inverse`): the interface of
    :class:`henderson.dense_block.DenseBlock` without an n_g × n_g array, so that memory stays
    linear in the non-core animals (storage n_c² + n_c n_n for G_APY⁻¹ plus the factor).
    ``preconditioner_diagonal`` is τ diag(G_APY⁻¹) − ω diag(A²²), a lower bound of diag(D)
    (diag(A22⁻¹) ≤ diag(A²²)); ``matrix`` forms D densely, only when an exact solver merges it."""

    positions: np.ndarray
    ginv: APYInverse
    a22inv: A22Inverse
    tau: float = 1.0
    omega: float = 1.0

    def times(self, x: np.ndarray) -> np.ndarray:
        """D x for x (n_g,) or (n_g, m) in the order of `positions`."""
        x = np.asarray(x, dtype=float)
        return self.tau * self.ginv.matvec(x) - self.omega * self.a22inv.times(x)

    def preconditioner_diagonal(self) -> np.ndarray:
        """τ diag(G_APY⁻¹) − ω diag(A²²) (n_g,): see the class docstring."""
        return self.tau * self.ginv.diagonal_inverse() - self.omega * self.a22inv.upper_diagonal()

    @property
    def matrix(self) -> np.ndarray:
        """D dense (n_g × n_g), formed anew at each call (never kept): for merging into K⁻¹ when an
        exact solver needs one matrix."""
        d = self.ginv.to_dense()
        d *= self.tau
        self.a22inv.add_to(d, -self.omega)
        mirror_lower(d)  # exactly symmetric, in place (no second n_g × n_g array)
        return d


class GenomicInverseOf(BlockProducts):
    """G*⁻¹ = (D + ω A22⁻¹)/τ recovered from the single-step block D (``DenseBlock`` or
    :class:`SingleStepBlock`, rows in the genotyped order) and the pedigree blocks, as products:
    the genomic relationship of the genotyped animals (e.g. for SNP effects) without keeping a
    second n_g × n_g array. The interface of :class:`henderson.dense_block.DenseBlock` over
    positions 0..n_g − 1; the factor of A¹¹ is made at the first product."""

    def __init__(self, d, blocks: PedigreeBlocks, tau: float = 1.0, omega: float = 1.0) -> None:
        self.d, self.blocks, self.tau, self.omega = d, blocks, float(tau), float(omega)
        self.positions = np.arange(d.size, dtype=np.int64)
        self._a22inv: A22Inverse | None = None

    def _a22(self) -> A22Inverse:
        if self._a22inv is None:
            self._a22inv = self.blocks.a22_inverse_operator()
        return self._a22inv

    def times(self, x: np.ndarray) -> np.ndarray:
        """G*⁻¹ x for x (n_g,) or (n_g, m) in the genotyped order."""
        x = np.asarray(x, dtype=float)
        return (self.d.times(x) + self.omega * self._a22().times(x)) / self.tau

    def preconditioner_diagonal(self) -> np.ndarray:
        """(diag D + ω diag(A²²))/τ: an upper bound of diag(G*⁻¹), for a preconditioner."""
        return (self.d.preconditioner_diagonal() + self.omega * self._a22().upper_diagonal()) / self.tau

    @property
    def matrix(self) -> np.ndarray:
        """G*⁻¹ dense (n_g × n_g), formed anew at each call."""
        out = self._a22().add_to(np.array(self.d.matrix, dtype=float), self.omega)
        out /= self.tau
        mirror_lower(out)  # exactly symmetric, in place
        return out


def h_inverse(ainv: sp.spmatrix, genotyped: np.ndarray, d: np.ndarray) -> sp.csc_matrix:
    """A⁻¹ (n × n) + D (n_g × n_g, rows/columns in the order of `genotyped`, positions in A⁻¹)
    as one CSC matrix with sorted indices; the genotyped block is stored dense
    (:func:`henderson.dense_block.merge`)."""
    return merge(ainv, DenseBlock(genotyped, d))


@dataclass(frozen=True, eq=False)
class SingleStep:
    """H⁻¹ = A⁻¹ + E'DE kept in two parts: A⁻¹ (n × n CSC) and the dense block D at the genotyped
    positions; log|H|, diag(H) (n,) and whether diag(H11) is exact."""

    ainv: sp.csc_matrix
    block: DenseBlock
    logdet: float
    diagonal: np.ndarray
    diagonal_exact: bool

    @property
    def hinv(self) -> sp.csc_matrix:
        """H⁻¹ as one sparse matrix (the n_g² entries of D stored in it)."""
        return merge(self.ainv, self.block)


def single_step_parts(
    blocks: PedigreeBlocks,
    ginv: np.ndarray,
    logdet_g: float,
    diag_g: np.ndarray,
    *,
    tau: float = 1.0,
    omega: float = 1.0,
    max_factor_entries: int = 200_000_000,
) -> SingleStep:
    """H⁻¹, log|H| and diag(H) (module docstring) from the pedigree blocks, G*⁻¹ (n_g × n_g in
    the genotyped order; OVERWRITTEN with D — or G_APY⁻¹ in APY form with τ = ω = 1, then D is
    held as products, :class:`SingleStepBlock`), log|G*| and diag(G*)."""
    if isinstance(ginv, APYInverse):
        if tau != 1.0 or omega != 1.0:
            raise ValueError("single step with APY holds D as products for tau = omega = 1 only")
        a22op = blocks.a22_inverse_operator()
        block = SingleStepBlock(blocks.genotyped, ginv, a22op)
        return _with_diagonal(blocks, block, blocks.logdet_a - a22op.logdet_a22 + logdet_g,
                              np.asarray(diag_g, dtype=float), max_factor_entries)
    # D in place on G*⁻¹, A22⁻¹ added a block of columns at a time: no second n_g × n_g array
    d = ginv
    if tau != 1.0:
        d *= tau
    # with tau, omega != 1 a second n_g × n_g array m = τG*⁻¹ + (1 − ω)A22⁻¹ = H22⁻¹ for log|H|
    # and diag(H), from the same solves of A22⁻¹ as D
    m = None if tau == 1.0 and omega == 1.0 else np.array(d, order="F")
    a22op = blocks.add_a22_inverse(d, -omega, also=() if m is None else ((m, 1.0 - omega),))
    mirror_lower(d)  # exactly symmetric (the solves leave rounding differences)
    logdet_a22 = a22op.logdet_a22
    if m is None:
        logdet = blocks.logdet_a - logdet_a22 + logdet_g
        h22_diag = np.asarray(diag_g, dtype=float)
    else:  # the Cholesky reads m's lower triangle only
        h22, logdet_m = cholesky_inverse(
            m, what="τ G*⁻¹ + (1 − ω) A22⁻¹", remedy="H⁻¹ is not positive definite for these tau and omega; "
            "use values nearer 1.", overwrite=True)
        logdet = blocks.logdet_a - logdet_a22 - logdet_m
        h22_diag = np.diagonal(h22).copy()
        del m, h22
    return _with_diagonal(blocks, DenseBlock(blocks.genotyped, d), logdet, h22_diag, max_factor_entries)


def _with_diagonal(blocks: PedigreeBlocks, block, logdet: float, h22_diag: np.ndarray,
                   max_factor_entries: int) -> SingleStep:
    """The :class:`SingleStep` with diag(H): diag(H22) given, the others from the selected
    inverse of H⁻¹ when its factor is small enough, else 1 + F (logged)."""
    diagonal = blocks.diagonal_a.copy()
    diagonal[blocks.genotyped] = h22_diag
    exact = blocks.genotyped.size == blocks.ids.size
    if not exact:
        # the dense genotyped block alone puts n_g (n_g + 1) / 2 entries in the factor
        ng = blocks.genotyped.size
        hinv = merge(blocks.ainv, block) if ng * (ng + 1) // 2 <= max_factor_entries else None
        chol = SparseCholesky(hinv) if hinv is not None else None
        predicted = chol.predicted_factor_nnz() if chol is not None else ng * (ng + 1) // 2
        if chol is not None and predicted <= max_factor_entries:
            chol.factorize(hinv)
            inverse_diag = chol.inverse_diagonal()
            rest = blocks.ungenotyped
            diagonal[rest] = inverse_diag[rest]
            exact = True
        del hinv, chol
        if not exact:
            log.warning(
                "single step: the factor of H⁻¹ would hold at least %d entries (> %d); diag(H) of the %d ungenotyped "
                "animals is approximated by diag(A) = 1 + F (the genomic information reaching them through "
                "genotyped relatives is ignored in their reliabilities).", predicted, max_factor_entries, blocks.ids.size - blocks.genotyped.size,
            )
    return SingleStep(blocks.ainv, block, float(logdet), diagonal, exact)
