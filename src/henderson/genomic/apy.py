"""The algorithm for proven and young animals (APY; Misztal et al. 2014).

Split the genotyped animals into core (c) and non-core (n). APY keeps G's core block and models
each non-core animal as a regression on the core plus an independent residual::

    G_APY⁻¹ = [Gcc⁻¹ 0; 0 0] + [−Gcc⁻¹ Gcn; I] M⁻¹ [−Gnc Gcc⁻¹  I],
    M = diag(m_i),  m_i = g_ii − g_ic Gcc⁻¹ g_ci

so diag(G_APY) = diag(G) and ``log|G_APY| = log|Gcc| + Σ log m_i``. Storage is n_c² + n_c n_n +
n_n: linear in the non-core animals, never the dense inverse of all n_g animals.

Core size: a given count, or the number of the largest eigenvalues of G whose sum reaches a
fraction (default 0.98) of its trace (which needs the full G, so only for moderate n_g). Core
animals: given, or drawn at random with a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from henderson.errors import ConfigError
from henderson.genomic.dense import cholesky_inverse

__all__ = ["APYInverse", "apy_core_size", "apy_inverse", "choose_core"]


@numba.njit(cache=True)
def _apy_csc(core, noncore, cc, pm, minv):
    """CSC arrays of G_APY⁻¹ (module docstring) for sorted `core` and `noncore` positions."""
    nc, nn = core.size, noncore.size
    n = nc + nn
    is_core = np.zeros(n, dtype=np.bool_)
    rank = np.empty(n, dtype=np.int64)
    for a in range(nc):
        is_core[core[a]] = True
        rank[core[a]] = a
    for b in range(nn):
        rank[noncore[b]] = b
    indptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        indptr[j + 1] = indptr[j] + (n if is_core[j] else nc + 1)
    indices = np.empty(indptr[n], dtype=np.int64)
    data = np.empty(indptr[n])
    for j in range(n):
        q = indptr[j]
        if is_core[j]:
            a = rank[j]
            for r in range(n):  # every row: core rows from cc, non-core rows −pm
                indices[q] = r
                data[q] = cc[rank[r], a] if is_core[r] else -pm[a, rank[r]]
                q += 1
        else:
            b = rank[j]
            placed = False
            for a in range(nc):  # the core rows, with the diagonal entry slotted in by position
                if not placed and core[a] > j:
                    indices[q] = j
                    data[q] = minv[b]
                    q += 1
                    placed = True
                indices[q] = core[a]
                data[q] = -pm[a, b]
                q += 1
            if not placed:
                indices[q] = j
                data[q] = minv[b]
    return indptr, indices, data


def apy_core_size(g: np.ndarray, fraction: float = 0.98) -> int:
    """Smallest k such that the k largest eigenvalues of G (n × n) sum to ≥ fraction · tr(G)."""
    w = np.linalg.eigvalsh(g)[::-1]
    w = np.clip(w, 0.0, None)
    share = np.cumsum(w) / np.sum(w)
    return int(min(g.shape[0], np.searchsorted(share, fraction - 1e-12) + 1))


def choose_core(n: int, size: int, seed: int = 0) -> np.ndarray:
    """`size` of n animals at random (seeded), as sorted positions."""
    if not 1 <= size <= n:
        raise ConfigError(f"genomic: the APY core must have between 1 and {n} animals; got {size}.")
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


@dataclass(frozen=True, eq=False)
class APYInverse:
    """G_APY⁻¹ in factored form (module docstring).

    core (n_c,), noncore (n_n,): positions in the genotyped order; gcc_inv: Gcc⁻¹ (n_c × n_c);
    p: Gcc⁻¹ Gcn (n_c × n_n); m (n_n,); logdet: log|G_APY|."""

    core: np.ndarray
    noncore: np.ndarray
    gcc_inv: np.ndarray
    p: np.ndarray
    m: np.ndarray
    logdet: float

    @property
    def n(self) -> int:
        return int(self.core.size + self.noncore.size)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """G_APY⁻¹ x, x (n_g,) or (n_g, k) in the genotyped order."""
        x = np.asarray(x, dtype=float)
        xc, xn = x[self.core], x[self.noncore]
        t = ((xn.T if x.ndim > 1 else xn) - (xc.T if x.ndim > 1 else xc) @ self.p).T / (
            self.m[:, None] if x.ndim > 1 else self.m)
        out = np.empty_like(x)
        out[self.core] = self.gcc_inv @ xc - self.p @ t
        out[self.noncore] = t
        return out

    def to_sparse(self) -> sp.csc_matrix:
        """G_APY⁻¹ (n_g × n_g CSC, both triangles, sorted indices): dense core and core–non-core
        blocks, diagonal non-core block: n_c n_g + n_n (n_c + 1) stored entries."""
        pm = self.p / self.m  # Gcc⁻¹ Gcn M⁻¹ (n_c × n_n)
        cc = self.gcc_inv + pm @ self.p.T
        indptr, indices, data = _apy_csc(self.core, self.noncore, cc, pm, 1.0 / self.m)
        small = indptr[-1] < np.iinfo(np.int32).max
        out = sp.csc_matrix(
            (data, indices.astype(np.int32) if small else indices, indptr.astype(np.int32) if small else indptr),
            shape=(self.n, self.n),
        )
        out.has_sorted_indices = True
        return out

    def to_dense(self) -> np.ndarray:
        """G_APY⁻¹ as a dense n_g × n_g array: only for single step, whose genotyped block of H⁻¹
        is dense anyway (A22⁻¹)."""
        pm = self.p / self.m
        out = np.zeros((self.n, self.n))
        out[np.ix_(self.core, self.core)] = self.gcc_inv + pm @ self.p.T
        out[np.ix_(self.core, self.noncore)] = -pm
        out[np.ix_(self.noncore, self.core)] = -pm.T
        out[self.noncore, self.noncore] = 1.0 / self.m
        return out

    def diagonal_inverse(self) -> np.ndarray:
        """diag(G_APY⁻¹) (n_g,)."""
        out = np.empty(self.n)
        out[self.core] = np.diagonal(self.gcc_inv) + np.einsum("ij,ij->i", self.p / self.m, self.p)
        out[self.noncore] = 1.0 / self.m
        return out


def apy_inverse(gcc: np.ndarray, gcn: np.ndarray, gnn_diagonal: np.ndarray, core: np.ndarray, noncore: np.ndarray) -> APYInverse:
    """G_APY⁻¹ from Gcc (n_c × n_c), Gcn (n_c × n_n) and diag(Gnn) (n_n,) (module docstring);
    `gcc` is overwritten by its inverse and `gcn` by Gcc⁻¹ Gcn (column block by column block, so
    memory stays n_c² + n_c n_n)."""
    gcc_inv, logdet_cc = cholesky_inverse(
        gcc, what="the APY core block Gcc", remedy="Use a smaller core (fewer animals than the rank of G), "
        "or add a ridge or blend A22 (genomic: ridge / blend).", overwrite=True)
    p = gcn
    m = np.array(gnn_diagonal, dtype=float)
    step = max(1, (64 * 2**20) // (8 * max(1, gcn.shape[0])))
    for j in range(0, gcn.shape[1], step):
        blk = gcc_inv @ gcn[:, j : j + step]
        m[j : j + step] -= np.einsum("ij,ij->j", gcn[:, j : j + step], blk)
        p[:, j : j + step] = blk
    if np.any(~(m > 0)):
        bad = int(noncore[np.flatnonzero(~(m > 0))[0]])
        raise ConfigError(
            f"genomic: APY leaves animal {bad} (genotyped position) no residual variance (m ≤ 0): G is singular "
            "on the core plus that animal. Add a ridge or blend A22 (genomic: ridge / blend)."
        )
    return APYInverse(np.asarray(core), np.asarray(noncore), gcc_inv, p, m, float(logdet_cc + np.sum(np.log(m))))
