"""`GenomicOptions` and the adjustment of G: blending, tuning and a ridge, in that order.

With G the VanRaden matrix and A22 the pedigree relationships among the genotyped animals::

    G_b = (1 − blend) G + blend A22                      (blending)
    G_t = a + b G_b       (tune = "mean": Chen et al. 2011, Vitezica et al. 2011, a added to every
                           element) with b, a such that mean(diag G_t) = mean(diag A22) and
                           mean(G_t) = mean(A22) (mean over all n² elements):
                           b = (d_A − m_A) / (d_b − m_b),  a = m_A − b m_b
                           (d = mean diagonal, m = mean of all elements)
    G*  = G_t + ridge I                                  (a ridge on the diagonal)

``tune = "none"`` leaves G_b as it is (a = 0, b = 1). Blending and tuning need A22 (a pedigree);
the ridge does not.

G* is made in place on G without an n × n A22 beside it: the tuning statistics of G_b are linear
in those of G and A22 (d_b = (1 − blend) d_G + blend d_A, m_b likewise), and d_A = mean(1 + F),
m_A = 1'A22 1 / n² need only the inbreeding and one product A22 1; then A22 is made a block of
columns at a time (Colleau's method, :mod:`henderson.genomic.pedigree_block`) and each block of
G is blended and tuned at once: G[:, J] ← a + b ((1 − blend) G[:, J] + blend A22[:, J]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from henderson.errors import ConfigError

__all__ = ["A22Columns", "DenseA22", "GenomicOptions", "TuneStats", "adjust_g", "blend_coefficients",
           "tuning_coefficients"]

Tune = Literal["none", "mean"]


@dataclass(frozen=True)
class GenomicOptions:
    """Settings of G* and H⁻¹.

    blend: weight α of A22 in G_b = (1 − α) G + α A22, 0 ≤ α < 1 (default 0.05).
    tune: "none" or "mean" (module docstring).
    ridge: λ ≥ 0 added to the diagonal of G* (default 0).
    tau, omega: H⁻¹ = A⁻¹ + [0 0; 0 τ G*⁻¹ − ω A22⁻¹] (both default 1).
    apy: "never", "always" or "auto" (APY when there are more than ``apy_threshold`` genotyped
        animals).
    apy_core: core size (None: the number of eigenvalues of G* explaining ``apy_fraction`` of
        its trace); apy_fraction: default 0.98; apy_seed: seed of the random choice of core
        animals; apy_core_ids: the core animals' IDs instead (then size and seed are unused).
    block_bytes: memory of one block of centred genotypes or pedigree columns (default 256 MiB).
    float32: form the product Z Z' in single precision (about twice the speed, relative error
        ~1e-6); G is then converted to double for blending and the inverse (peak 12 n² bytes
        instead of 8 n²).
    max_factor_entries: single-step diag(H) of the ungenotyped animals is exact (selected
        inverse of H⁻¹) when the predicted sparse Cholesky factor of H⁻¹ has at most this many
        entries; else diag(A11) = 1 + F (the documented fallback, logged).
    """

    blend: float = 0.05
    tune: Tune = "none"
    ridge: float = 0.0
    tau: float = 1.0
    omega: float = 1.0
    apy: Literal["never", "always", "auto"] = "never"
    apy_threshold: int = 50_000
    apy_core: int | None = None
    apy_fraction: float = 0.98
    apy_seed: int = 0
    apy_core_ids: tuple[str, ...] | None = None
    block_bytes: int = 256 * 2**20
    float32: bool = False
    max_factor_entries: int = 200_000_000

    def __post_init__(self) -> None:
        if not 0.0 <= self.blend < 1.0:
            raise ConfigError(f"genomic: blend must be in [0, 1); got {self.blend}.")
        if self.tune not in ("none", "mean"):
            raise ConfigError(f"genomic: tune must be 'none' or 'mean'; got {self.tune!r}.")
        if not self.ridge >= 0.0:
            raise ConfigError(f"genomic: ridge must be ≥ 0; got {self.ridge}.")
        if not self.tau > 0.0 or not self.omega >= 0.0:
            raise ConfigError(f"genomic: tau must be > 0 and omega ≥ 0; got tau={self.tau}, omega={self.omega}.")
        if self.apy not in ("never", "always", "auto"):
            raise ConfigError(f"genomic: apy must be 'never', 'always' or 'auto'; got {self.apy!r}.")
        if self.apy_core is not None and self.apy_core < 1:
            raise ConfigError(f"genomic: apy_core must be a positive count; got {self.apy_core}.")
        if not 0.0 < self.apy_fraction <= 1.0:
            raise ConfigError(f"genomic: apy_fraction must be in (0, 1]; got {self.apy_fraction}.")

    @property
    def needs_a22(self) -> bool:
        """Blending or tuning use A22 (a pedigree is required)."""
        return self.blend > 0.0 or self.tune != "none"

    def use_apy(self, n_genotyped: int) -> bool:
        return self.apy == "always" or (self.apy == "auto" and n_genotyped > self.apy_threshold)


@dataclass(frozen=True)
class TuneStats:
    """Mean diagonal and mean of all elements of a symmetric n × n matrix."""

    mean_diagonal: float
    mean: float

    @classmethod
    def of(cls, matrix: np.ndarray) -> TuneStats:
        n = matrix.shape[0]
        return cls(float(np.mean(np.diagonal(matrix))), float(_sum(matrix)) / n**2)


def _sum(matrix: np.ndarray, rows: int = 4096) -> float:
    """Σ of all elements in float64, row block by row block (no n² temporary)."""
    return float(sum(np.sum(matrix[i : i + rows], dtype=np.float64) for i in range(0, matrix.shape[0], rows)))


def tuning_coefficients(g: TuneStats, a22: TuneStats) -> tuple[float, float]:
    """(a, b) of G_t = a + b G with mean diag and mean of G_t equal to those of A22."""
    spread = g.mean_diagonal - g.mean
    if not spread > 0.0:
        raise ConfigError("genomic: tune = mean needs mean(diag G) > mean(G); G has no spread (too few animals?).")
    b = (a22.mean_diagonal - a22.mean) / spread
    return a22.mean - b * g.mean, b


class A22Columns(Protocol):
    """A22 (n × n) by blocks of columns, its diagonal and the mean of its elements, never as a
    whole (:class:`henderson.genomic.pedigree_block.PedigreeBlocks` by Colleau's method;
    :class:`DenseA22` for a matrix at hand)."""

    @property
    def n_genotyped(self) -> int: ...

    def a22(self, columns: np.ndarray | None = None) -> np.ndarray:
        """A22[:, columns] (n × k) as a new array (the caller may overwrite it)."""
        ...

    def a22_diagonal(self) -> np.ndarray: ...

    def a22_mean(self) -> float: ...


@dataclass(frozen=True, eq=False)
class DenseA22:
    """:class:`A22Columns` of a dense symmetric A22 (n × n) already in memory."""

    matrix: np.ndarray

    @property
    def n_genotyped(self) -> int:
        return int(self.matrix.shape[0])

    def a22(self, columns: np.ndarray | None = None) -> np.ndarray:
        return np.array(self.matrix if columns is None else self.matrix[:, columns], dtype=float)

    def a22_diagonal(self) -> np.ndarray:
        return np.diagonal(self.matrix).astype(float)

    def a22_mean(self) -> float:
        return _sum(self.matrix) / self.n_genotyped**2


def blend_coefficients(g: TuneStats, a22: TuneStats, options: GenomicOptions) -> tuple[float, float]:
    """(a, b) with G* − ridge I = a + b ((1 − blend) G + blend A22) elementwise, from the tuning
    statistics of G and A22 (a = 0, b = 1 unless ``tune = "mean"``): those of G_b are
    ((1 − blend) d_G + blend d_A, (1 − blend) m_G + blend m_A)."""
    if options.tune != "mean":
        return 0.0, 1.0
    w = options.blend
    blended = TuneStats((1.0 - w) * g.mean_diagonal + w * a22.mean_diagonal, (1.0 - w) * g.mean + w * a22.mean)
    return tuning_coefficients(blended, a22)


def adjust_g(g: np.ndarray, a22: np.ndarray | A22Columns | None, options: GenomicOptions) -> np.ndarray:
    """G* from G (n × n) IN PLACE on `g` (module docstring for the order and the method); returns
    `g`. `a22`: A22 by columns (:class:`A22Columns`, e.g. the pedigree blocks of the genotyped
    animals in the order of G's rows), or a dense n × n A22, or None without blending and tuning.
    Besides G it holds one block of ``options.block_bytes`` of A22's columns (at least 16)."""
    if options.needs_a22:
        if a22 is None:
            raise ConfigError("genomic: blend > 0 or tune = mean need A22: give a pedigree (or set blend: 0, tune: none).")
        source = DenseA22(a22) if isinstance(a22, np.ndarray) else a22
        n = g.shape[0]
        if source.n_genotyped != n or g.shape != (n, n):
            raise ValueError(f"A22 is {source.n_genotyped} × {source.n_genotyped}; G is {g.shape}.")
        a, b = 0.0, 1.0
        if options.tune == "mean":  # before any block: G's statistics and A22's from 1 + F and A22 1
            stats_a = TuneStats(float(np.mean(source.a22_diagonal())), source.a22_mean())
            a, b = blend_coefficients(TuneStats.of(g), stats_a, options)
        w = options.blend
        # G and A22 are symmetric: a C-order G is blended through its transpose, by contiguous columns
        cols = g.T if g.flags.c_contiguous and not g.flags.f_contiguous else g
        step = int(max(16, options.block_bytes // (8 * max(1, n))))
        for j in range(0, n, step):
            blk = cols[:, j : j + step]
            if w > 0.0:
                acol = np.asarray(source.a22(np.arange(j, min(n, j + step))), dtype=float)
                acol *= w
                blk *= 1.0 - w
                blk += acol
                del acol
            if b != 1.0:
                blk *= b
            if a != 0.0:
                blk += a
    if options.ridge > 0.0:
        g[np.diag_indices_from(g)] += options.ridge
    return g
