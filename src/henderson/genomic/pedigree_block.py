"""The pedigree relationships of the genotyped animals: A22 and A22⁻¹, never forming A.

Animals split into the genotyped (block 2, n_g) and the others (block 1). With ``A = T B T'``
(``T = (I − P)⁻¹``, B the Mendelian-sampling variances; see :mod:`henderson.pedigree`):

* ``A22 X`` (X n_g × k) by Colleau's (2002) indirect method: put X at the genotyped positions of
  an n × k zero matrix, apply ``T'`` (one backward pass, offspring before parents), ``B`` and
  ``T`` (one forward pass), read the genotyped rows back. O(n k), no matrix of A. Only the
  genotyped animals and their ancestors take part (A22 does not depend on the others). Given
  only A⁻¹ and IDs (:class:`henderson.stages.relationships.Relationships`), ``A [0; X]`` is a
  solve with the sparse Cholesky factor of A⁻¹ instead.
* ``A22⁻¹ = A²² − A²¹ (A¹¹)⁻¹ A¹²`` (the Schur complement in A⁻¹ = [A¹¹ A¹²; A²¹ A²²]), from the
  sparse Cholesky of A¹¹ and solves in column blocks: A22 is never formed nor inverted.
  ``log|A22| = log|A| + log|A¹¹|`` from the same factor (|A⁻¹| = |A¹¹| |A22⁻¹|).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numba
import numpy as np
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.genomic.dense import mirror_lower
from henderson.linalg import SparseCholesky
from henderson.pedigree import Pedigree, ainv, inbreeding, mendelian_variances
from henderson.relationship import Relationship

if TYPE_CHECKING:
    from henderson.stages.relationships import Relationships

__all__ = ["A22Inverse", "PedigreeBlocks", "pedigree_blocks"]


@numba.njit(cache=True)
def _colleau(sire: np.ndarray, dam: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A X = T B T' X for a sorted pedigree; X (n × k), C order. Returns a new array."""
    n, k = x.shape
    y = x.copy()
    for i in range(n - 1, -1, -1):  # T'X: (I − P)' Y = X, offspring before parents
        s, d = sire[i], dam[i]
        if s >= 0:
            for c in range(k):
                y[s, c] += 0.5 * y[i, c]
        if d >= 0:
            for c in range(k):
                y[d, c] += 0.5 * y[i, c]
    for i in range(n):  # B, then T: (I − P) A X = B Y, parents before offspring
        s, d = sire[i], dam[i]
        for c in range(k):
            v = b[i] * y[i, c]
            if s >= 0:
                v += 0.5 * y[s, c]
            if d >= 0:
                v += 0.5 * y[d, c]
            y[i, c] = v
    return y


@numba.njit(cache=True)
def _ancestors(sire: np.ndarray, dam: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """`marked` extended to every ancestor (in place; a sorted pedigree: one backward pass)."""
    for i in range(sire.size - 1, -1, -1):
        if marked[i]:
            if sire[i] >= 0:
                marked[sire[i]] = True
            if dam[i] >= 0:
                marked[dam[i]] = True
    return marked


@dataclass(frozen=True, eq=False)
class PedigreeBlocks:
    """A over the pedigree split into the genotyped animals and the others (module docstring).

    ids (n,): pedigree order; genotyped (n_g,): positions of the genotyped animals in it, in the
    order of the genotyped IDs given; ainv: A⁻¹ (n × n CSC); logdet_a: log|A| = Σ log b;
    diagonal_a: diag(A) = 1 + F (n,). Private: the (possibly pruned) pedigree used for A22.
    """

    ids: np.ndarray
    genotyped: np.ndarray
    ainv: sp.csc_matrix
    logdet_a: float
    diagonal_a: np.ndarray
    block_bytes: int
    _sire: np.ndarray | None  # pruned pedigree (genotyped + ancestors), or None: use A⁻¹
    _dam: np.ndarray | None
    _b: np.ndarray | None
    _positions: np.ndarray  # genotyped positions in the pruned pedigree (or in ids)
    _ainv_sub: sp.csc_matrix  # A⁻¹ of the pruned pedigree (or the full one)
    _logdet_sub: float

    @property
    def n_genotyped(self) -> int:
        return int(self.genotyped.size)

    @property
    def pruned_size(self) -> int:
        """Animals that enter A22: the genotyped and their ancestors (all, given only A⁻¹)."""
        return int(self._ainv_sub.shape[0])

    @property
    def ungenotyped(self) -> np.ndarray:
        """Positions (in pedigree order) of the animals without genotypes, increasing."""
        mask = np.ones(self.ids.size, dtype=bool)
        mask[self.genotyped] = False
        return np.flatnonzero(mask)

    def _columns(self, n: int, k: int) -> int:
        return int(max(16, min(self.n_genotyped, self.block_bytes // max(1, 8 * n * 2), k)))

    @cached_property
    def _a_factor(self) -> SparseCholesky:
        return SparseCholesky(self._ainv_sub).factorize(self._ainv_sub)

    def a22_times(self, x: np.ndarray) -> np.ndarray:
        """A22 X for X (n_g × k) or (n_g,), same shape out (module docstring)."""
        x = np.asarray(x, dtype=float)
        vector = x.ndim == 1
        x2 = x.reshape(self.n_genotyped, -1)
        n = self._ainv_sub.shape[0]
        out = np.empty_like(x2)
        step = self._columns(n, x2.shape[1])
        for j in range(0, x2.shape[1], step):
            full = np.zeros((n, min(step, x2.shape[1] - j)))
            full[self._positions] = x2[:, j : j + step]
            if self._sire is not None:
                ax = _colleau(self._sire, self._dam, self._b, full)
            else:
                ax = self._a_factor.solve(full)
            out[:, j : j + step] = ax[self._positions]
        return out[:, 0] if vector else out

    def a22(self, columns: np.ndarray | None = None) -> np.ndarray:
        """A22 (n_g × n_g), or its columns A22[:, columns] (indices into the genotyped order)."""
        cols = np.arange(self.n_genotyped) if columns is None else np.asarray(columns, dtype=np.int64)
        n = self._ainv_sub.shape[0]
        out = np.empty((self.n_genotyped, cols.size))
        step = self._columns(n, cols.size)
        for j in range(0, cols.size, step):
            blk = cols[j : j + step]
            e = np.zeros((self.n_genotyped, blk.size))
            e[blk, np.arange(blk.size)] = 1.0
            out[:, j : j + blk.size] = self.a22_times(e)
        return out

    def a22_mean(self) -> float:
        """mean of all elements of A22 = 1'A22 1 / n_g² (one product)."""
        return float(self.a22_times(np.ones(self.n_genotyped)).sum()) / self.n_genotyped**2

    def a22_diagonal(self) -> np.ndarray:
        """diag(A22) = 1 + F of the genotyped animals."""
        return self.diagonal_a[self.genotyped]

    def a22_inverse(self) -> tuple[np.ndarray, float]:
        """(A22⁻¹ dense n_g × n_g, log|A22|) by the Schur complement (module docstring)."""
        out = np.zeros((self.n_genotyped, self.n_genotyped))
        op = self.add_a22_inverse(out, 1.0)
        mirror_lower(out)  # exactly symmetric (the solves leave rounding differences)
        return out, op.logdet_a22

    def add_a22_inverse(self, out: np.ndarray, scale: float, operator: A22Inverse | None = None, *,
                        also: Sequence[tuple[np.ndarray, float]] = ()) -> A22Inverse:
        """out += scale A22⁻¹ in place (out n_g × n_g, genotyped order), a block of columns of
        A22⁻¹ at a time (``block_bytes`` of solves): no second n_g × n_g array; each (o, s) of
        `also` gets o += s A22⁻¹ from the same solves. The solves leave A22⁻¹'s columns symmetric
        only to rounding: mirror one triangle of `out` where exact symmetry matters. Returns the
        :class:`A22Inverse` used (`operator`, or a new one: pass it back to reuse the factor of
        A¹¹)."""
        op = self.a22_inverse_operator() if operator is None else operator
        op.add_to(out, scale, step=self._columns(max(op.rest, 1), self.n_genotyped), also=also)
        return op

    def a22_inverse_operator(self) -> A22Inverse:
        """A22⁻¹ as products (:class:`A22Inverse`): the Schur complement from the sparse
        Cholesky factor of A¹¹, never a dense n_g × n_g matrix."""
        a = self._ainv_sub
        geno = self._positions
        rest = np.setdiff1d(np.arange(a.shape[0]), geno, assume_unique=False)
        a22 = sp.csc_matrix(a[geno][:, geno])
        if rest.size == 0:
            return A22Inverse(a22, None, None, None, self._logdet_sub)
        a11 = sp.csc_matrix(a[rest][:, rest])
        a12 = sp.csc_matrix(a[rest][:, geno])
        chol = SparseCholesky(a11).factorize(a11)
        return A22Inverse(a22, a12, sp.csr_matrix(a12.T), chol, self._logdet_sub + chol.logdet())


@dataclass(frozen=True, eq=False)
class A22Inverse:
    """A22⁻¹ = A²² − A²¹ (A¹¹)⁻¹ A¹² (module docstring) as products: A²² (n_g × n_g, sparse),
    A¹² (n_1 × n_g) and A²¹, the factor of A¹¹ (None when every animal is genotyped) and
    log|A22| = log|A| + log|A¹¹|. Each product costs sparse products and one solve with the
    factor of A¹¹."""

    a22: sp.csc_matrix
    a12: sp.csc_matrix | None
    a21: sp.csr_matrix | None
    factor: SparseCholesky | None
    logdet_a22: float

    @property
    def rest(self) -> int:
        """Animals of block 1 (not genotyped)."""
        return 0 if self.a12 is None else int(self.a12.shape[0])

    def times(self, x: np.ndarray) -> np.ndarray:
        """A22⁻¹ x for x (n_g,) or (n_g, m)."""
        x = np.asarray(x, dtype=float)
        out = np.asarray(self.a22 @ x, dtype=float)
        if self.factor is not None:
            out -= self.a21 @ self.factor.solve(np.asarray(self.a12 @ x, dtype=float))
        return out

    def add_to(self, out: np.ndarray, scale: float, *, step: int = 1024,
               also: Sequence[tuple[np.ndarray, float]] = ()) -> np.ndarray:
        """out += scale A22⁻¹ for a dense out (n_g × n_g), `step` columns of A22⁻¹ at a time, and
        o += s A22⁻¹ for each (o, s) of `also` from the same columns; returns out."""
        n = out.shape[1]
        for start in range(0, n, step):
            stop = min(n, start + step)
            cols = self.a22[:, start:stop].toarray()
            if self.factor is not None:
                cols -= self.a21 @ self.factor.solve(self.a12[:, start:stop].toarray())
            for other, factor in also:
                other[:, start:stop] += factor * cols
            if scale != 1.0:
                cols *= scale
            out[:, start:stop] += cols
        return out

    def upper_diagonal(self) -> np.ndarray:
        """diag(A²²) (n_g,): an upper bound of diag(A22⁻¹) (A22⁻¹ = A²² less a positive
        semi-definite matrix), exact for animals with no ungenotyped relative in A⁻¹."""
        return self.a22.diagonal().astype(float)


def pedigree_blocks(
    source: Pedigree | Relationships | Relationship,
    genotyped_ids: Sequence[str] | np.ndarray,
    *,
    block_bytes: int = 256 * 2**20,
    what: str = "genotypes",
) -> PedigreeBlocks:
    """:class:`PedigreeBlocks` of a sorted :class:`~henderson.pedigree.Pedigree` (Colleau's
    method on the genotyped animals and their ancestors) or of the relationships stage's
    A⁻¹ + IDs (solves with the Cholesky factor of A⁻¹), or of a pedigree
    :class:`~henderson.relationship.Relationship` with a positive definite K⁻¹ over its levels
    (A^Γ of metafounders: the metafounders are levels of block 1, and "A" below is K). Genotyped
    IDs not in the pedigree, or repeated, are an InputError."""
    if isinstance(source, Relationship):
        if source.n_fixed or source.logdet is None:
            raise ValueError("pedigree blocks need a positive definite K (metafounders with Γ, not fixed groups)")
        ids = np.asarray(source.levels, dtype=object)
    else:
        ids = np.asarray(source.ids, dtype=object)
    geno_ids = np.asarray([str(i) for i in genotyped_ids], dtype=object)
    index = {str(v): k for k, v in enumerate(ids)}
    positions = np.array([index.get(g, -1) for g in geno_ids], dtype=np.int64)
    missing = geno_ids[positions < 0]
    if missing.size:
        shown = ", ".join(str(m) for m in missing[:10]) + (f" and {missing.size - 10} more" if missing.size > 10 else "")
        raise InputError(
            f"{what}: {missing.size} genotyped animal(s) are not in the pedigree ({shown}); add them to the "
            "pedigree (with unknown parents if need be) or remove their genotypes."
        )
    uniq, counts = np.unique(positions, return_counts=True)
    if np.any(counts > 1):
        raise InputError(f"{what}: animal(s) {list(ids[uniq[counts > 1]][:10])} are genotyped more than once; keep one row each.")
    if isinstance(source, Pedigree):
        f = inbreeding(source)
        b = mendelian_variances(source, f)
        full_ainv = ainv(source, f)
        marked = np.zeros(source.n, dtype=bool)
        marked[positions] = True
        sub = np.flatnonzero(_ancestors(source.sire, source.dam, marked))
        new = np.full(source.n + 1, -1, dtype=np.int64)
        new[sub] = np.arange(sub.size)
        sire, dam = new[source.sire[sub]], new[source.dam[sub]]
        pruned = Pedigree(ids[sub], sire, dam)
        return PedigreeBlocks(
            ids, positions, full_ainv, float(np.sum(np.log(b))), 1.0 + f, block_bytes,
            sire, dam, b[sub], new[positions], ainv(pruned, f[sub]), float(np.sum(np.log(b[sub]))),
        )
    if isinstance(source, Relationship):
        matrix, logdet, diagonal = source.kinv, float(source.logdet), np.asarray(source.diagonal, dtype=float)
    else:
        matrix = sp.csc_matrix(source.ainv)
        logdet = float(np.sum(np.log(source.mendelian)))
        diagonal = 1.0 + np.asarray(source.inbreeding, dtype=float)
    return PedigreeBlocks(ids, positions, matrix, logdet, diagonal, block_bytes, None, None, None, positions, matrix,
                          logdet)
