"""The genotype matrix: `Genotypes` and per-SNP / per-animal counts computed in row blocks.

Codes are allele counts in int8: 0, 1, 2 copies of the counted allele (PLINK: allele 1 of the
.bim file; CSV/Parquet: as written), and -1 for a missing genotype. Statistics are computed in
one pass (numba) or over blocks of rows, so that no temporary array of the matrix's size is made (a 10k × 50k matrix is
500 MB as int8; one boolean temporary of it would be as large again).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np

MISSING = -1
"""The code of a missing genotype in `Genotypes.codes`."""

BLOCK_BYTES = 64 << 20
"""Bytes of the matrix handled at a time by the block-wise statistics."""


@dataclass(frozen=True)
class Genotypes:
    """Genotypes of n animals at m SNPs.

    ids: (n,) object array of str, the animals in row order. snps: (m,) str array, SNP names in
    column order. codes: (n, m) int8, C order: 0/1/2 copies of the counted allele, -1 missing.
    chromosome: (m,) str array or None; position: (m,) int64 array (base pairs) or None.
    """

    ids: np.ndarray
    snps: np.ndarray
    codes: np.ndarray
    chromosome: np.ndarray | None = None
    position: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, m = len(self.ids), len(self.snps)
        if self.codes.shape != (n, m) or self.codes.dtype != np.int8:
            raise ValueError(
                f"Genotypes: codes must be int8 of shape ({n}, {m}), got {self.codes.dtype} "
                f"{self.codes.shape}"
            )
        for name in ("chromosome", "position"):
            value = getattr(self, name)
            if value is not None and len(value) != m:
                raise ValueError(f"Genotypes: {name} has {len(value)} entries for {m} SNPs")

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def subset(self, rows: np.ndarray | None = None, columns: np.ndarray | None = None) -> Genotypes:
        """The genotypes of animals ``rows`` at SNPs ``columns`` (integer indices or boolean
        masks; None keeps all), as a new C-ordered matrix."""
        rows = np.arange(self.shape[0]) if rows is None else _index(rows)
        columns = np.arange(self.shape[1]) if columns is None else _index(columns)
        codes = np.empty((rows.size, columns.size), dtype=np.int8)
        step = _rows_per_block(max(1, self.shape[1]))
        for start in range(0, rows.size, step):
            codes[start:start + step] = self.codes[rows[start:start + step]][:, columns]
        return Genotypes(
            ids=self.ids[rows], snps=self.snps[columns], codes=codes,
            chromosome=None if self.chromosome is None else self.chromosome[columns],
            position=None if self.position is None else self.position[columns],
        )


def _index(selection: np.ndarray) -> np.ndarray:
    selection = np.asarray(selection)
    return np.flatnonzero(selection) if selection.dtype == bool else selection.astype(np.int64)


def _rows_per_block(m: int) -> int:
    return max(1, BLOCK_BYTES // max(1, m))


def row_blocks(n: int, m: int) -> Iterator[slice]:
    """Slices of rows covering ``range(n)``, each about `BLOCK_BYTES` of an n × m int8 matrix."""
    step = _rows_per_block(m)
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


@dataclass(frozen=True)
class Counts:
    """Per-SNP and per-animal counts of an n × m code matrix.

    called_snp: (m,) animals with a call; alleles: (m,) sum of the calls (counted alleles);
    genotype_counts: (3, m) animals with code 0, 1, 2; called_animal: (n,) SNPs with a call.
    """

    called_snp: np.ndarray
    alleles: np.ndarray
    genotype_counts: np.ndarray
    called_animal: np.ndarray

    @property
    def call_rate_snp(self) -> np.ndarray:
        """(m,) share of animals with a call (0 for no animal)."""
        n = self.called_animal.size
        return self.called_snp / n if n else np.zeros(self.called_snp.size)

    @property
    def call_rate_animal(self) -> np.ndarray:
        """(n,) share of SNPs with a call (0 for no SNP)."""
        m = self.called_snp.size
        return self.called_animal / m if m else np.zeros(self.called_animal.size)

    @property
    def allele_frequency(self) -> np.ndarray:
        """(m,) frequency p of the counted allele among the calls: Σ codes / (2 · calls); NaN
        for a SNP without calls."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.called_snp > 0, self.alleles / (2.0 * self.called_snp), np.nan)

    @property
    def minor_allele_frequency(self) -> np.ndarray:
        """(m,) min(p, 1 − p); NaN for a SNP without calls."""
        p = self.allele_frequency
        return np.minimum(p, 1.0 - p)


@numba.njit(cache=True)
def _count_codes(codes, rows, cols, genotype_counts, called_animal):  # pragma: no cover (numba)
    """One pass over codes[rows][:, cols]: genotype_counts[g, k] += [code == g],
    called_animal[a] = number of calls of row a."""
    for a in range(rows.size):
        r = rows[a]
        called = 0
        for k in range(cols.size):
            value = codes[r, cols[k]]
            if value >= 0:
                genotype_counts[value, k] += 1
                called += 1
        called_animal[a] = called


def count(codes: np.ndarray, rows: np.ndarray | None = None, columns: np.ndarray | None = None) -> Counts:
    """Counts of ``codes[rows][:, columns]`` (boolean masks or None for all) in one pass
    (a numba loop: no temporary array of the matrix's size)."""
    n, m = codes.shape
    row_index = np.arange(n) if rows is None else np.flatnonzero(rows)
    col_index = np.arange(m) if columns is None else np.flatnonzero(columns)
    genotype_counts = np.zeros((3, col_index.size), dtype=np.int64)
    called_animal = np.zeros(row_index.size, dtype=np.int64)
    _count_codes(codes, row_index.astype(np.int64), col_index.astype(np.int64), genotype_counts, called_animal)
    called_snp = genotype_counts.sum(axis=0)
    alleles = genotype_counts[1] + 2 * genotype_counts[2]
    return Counts(called_snp, alleles, genotype_counts, called_animal)
