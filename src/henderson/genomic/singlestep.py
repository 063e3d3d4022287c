"""Single-step relationships: H⁻¹, log|H| and diag(H) (Legarra et al. 2009; Aguilar et al. 2010).

With the pedigree split into the others (1) and the genotyped animals (2)::

    H⁻¹ = A⁻¹ + [0 0; 0 D],   D = τ G*⁻¹ − ω A22⁻¹            (n × n, sparse; D dense n_g × n_g)

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

import numba
import numpy as np
import scipy.sparse as sp

from henderson.genomic.dense import cholesky_inverse
from henderson.genomic.pedigree_block import PedigreeBlocks
from henderson.linalg import SparseCholesky

__all__ = ["SingleStep", "h_inverse", "single_step_parts"]

log = logging.getLogger("henderson")


@numba.njit(cache=True)
def _merge_count(indptr, indices, is_geno, ng):
    """Column pointers of A⁻¹ + D embedded at the genotyped positions."""
    n = indptr.size - 1
    count = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        if not is_geno[j]:
            count[j + 1] = count[j] + indptr[j + 1] - indptr[j]
            continue
        extra = 0
        for p in range(indptr[j], indptr[j + 1]):
            if not is_geno[indices[p]]:
                extra += 1
        count[j + 1] = count[j] + ng + extra
    return count


@numba.njit(cache=True)
def _merge_fill(indptr, indices, data, is_geno, rank, order, sorted_pos, block, count, out_idx, out_val):
    """Fill the CSC of A⁻¹ + D (both with sorted row indices); `block` holds the rows of D."""
    n = indptr.size - 1
    ng = sorted_pos.size
    for j in range(n):
        q = count[j]
        if not is_geno[j]:
            for p in range(indptr[j], indptr[j + 1]):
                out_idx[q] = indices[p]
                out_val[q] = data[p]
                q += 1
            continue
        row = block[order[rank[j]]]  # D[:, j] = D[j, :] (symmetric), in the genotyped order
        p = indptr[j]
        end = indptr[j + 1]
        for r in range(ng):
            pos = sorted_pos[r]
            while p < end and indices[p] < pos:
                out_idx[q] = indices[p]
                out_val[q] = data[p]
                q += 1
                p += 1
            v = row[order[r]]
            if p < end and indices[p] == pos:
                v += data[p]
                p += 1
            out_idx[q] = pos
            out_val[q] = v
            q += 1
        while p < end:
            out_idx[q] = indices[p]
            out_val[q] = data[p]
            q += 1
            p += 1


def h_inverse(ainv: sp.spmatrix, genotyped: np.ndarray, d: np.ndarray) -> sp.csc_matrix:
    """A⁻¹ (n × n) + D (n_g × n_g, rows/columns in the order of `genotyped`, positions in A⁻¹)
    as one CSC matrix with sorted indices; the genotyped block is stored dense."""
    a = sp.csc_matrix(ainv)
    a.sort_indices()
    genotyped = np.asarray(genotyped, dtype=np.int64)
    order = np.argsort(genotyped, kind="stable")
    sorted_pos = genotyped[order]
    is_geno = np.zeros(a.shape[0], dtype=np.bool_)
    is_geno[genotyped] = True
    rank = np.full(a.shape[0], -1, dtype=np.int64)
    rank[sorted_pos] = np.arange(sorted_pos.size)
    block = d if d.flags.c_contiguous else np.ascontiguousarray(d.T)  # rows of D (symmetric)
    indptr = _merge_count(a.indptr, a.indices, is_geno, sorted_pos.size)
    index_dtype = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    indices = np.empty(indptr[-1], dtype=index_dtype)
    values = np.empty(indptr[-1])
    _merge_fill(a.indptr, a.indices, a.data, is_geno, rank, order, sorted_pos, block, indptr, indices, values)
    out = sp.csc_matrix((values, indices, indptr.astype(index_dtype)), shape=a.shape)
    out.has_sorted_indices = True
    return out


@dataclass(frozen=True, eq=False)
class SingleStep:
    """H⁻¹ (n × n CSC), log|H|, diag(H) (n,) and whether diag(H11) is exact."""

    hinv: sp.csc_matrix
    logdet: float
    diagonal: np.ndarray
    diagonal_exact: bool


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
    the genotyped order; OVERWRITTEN with D), log|G*| and diag(G*)."""
    a22inv, logdet_a22 = blocks.a22_inverse()
    d = ginv
    d *= tau
    d -= omega * a22inv
    if tau == 1.0 and omega == 1.0:
        logdet = blocks.logdet_a - logdet_a22 + logdet_g
        h22_diag = np.asarray(diag_g, dtype=float)
    else:
        m = d + a22inv
        h22, logdet_m = cholesky_inverse(
            m, what="τ G*⁻¹ + (1 − ω) A22⁻¹", remedy="H⁻¹ is not positive definite for these tau and omega; "
            "use values nearer 1.", overwrite=True)
        logdet = blocks.logdet_a - logdet_a22 - logdet_m
        h22_diag = np.diagonal(h22).copy()
        del m, h22
    del a22inv
    hinv = h_inverse(blocks.ainv, blocks.genotyped, d)
    diagonal = blocks.diagonal_a.copy()
    diagonal[blocks.genotyped] = h22_diag
    exact = blocks.genotyped.size == blocks.ids.size
    if not exact:
        # the dense genotyped block alone puts n_g (n_g + 1) / 2 entries in the factor
        ng = blocks.genotyped.size
        chol = SparseCholesky(hinv) if ng * (ng + 1) // 2 <= max_factor_entries else None
        predicted = chol.predicted_factor_nnz() if chol is not None else ng * (ng + 1) // 2
        if chol is not None and predicted <= max_factor_entries:
            chol.factorize(hinv)
            inverse_diag = chol.inverse_diagonal()
            rest = blocks.ungenotyped
            diagonal[rest] = inverse_diag[rest]
            exact = True
        else:
            log.warning(
                "single step: the factor of H⁻¹ would hold at least %d entries (> %d); diag(H) of the %d ungenotyped "
                "animals is approximated by diag(A) = 1 + F (the genomic information reaching them through "
                "genotyped relatives is ignored in their reliabilities).", predicted, max_factor_entries, blocks.ids.size - blocks.genotyped.size,
            )
    return SingleStep(hinv, float(logdet), diagonal, exact)
