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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from henderson.errors import ConfigError

__all__ = ["GenomicOptions", "TuneStats", "adjust_g", "tuning_coefficients"]

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


def adjust_g(g: np.ndarray, a22: np.ndarray | None, options: GenomicOptions) -> np.ndarray:
    """G* from G (n × n) and A22 (n × n, or None without blending and tuning), IN PLACE on `g`
    (module docstring for the order). Returns `g`."""
    if options.needs_a22:
        if a22 is None:
            raise ConfigError("genomic: blend > 0 or tune = mean need A22: give a pedigree (or set blend: 0, tune: none).")
        if a22.shape != g.shape:
            raise ValueError(f"A22 is {a22.shape}; G is {g.shape}.")
    rows = 4096
    if options.blend > 0.0:
        for i in range(0, g.shape[0], rows):
            blk = g[i : i + rows]
            blk *= 1.0 - options.blend
            blk += options.blend * a22[i : i + rows]
    if options.tune == "mean":
        assert a22 is not None
        a, b = tuning_coefficients(TuneStats.of(g), TuneStats.of(a22))
        for i in range(0, g.shape[0], rows):
            blk = g[i : i + rows]
            blk *= b
            blk += a
    if options.ridge > 0.0:
        g[np.diag_indices_from(g)] += options.ridge
    return g
