"""Parent–offspring Mendelian conflicts: opposite homozygotes (0 in one, 2 in the other).

A parent transmits one of its alleles, so an offspring homozygous for one allele cannot have a
parent homozygous for the other. For a pair (offspring o, parent p) over the SNPs called in
both, the conflict rate is #{j: {x_oj, x_pj} = {0, 2}} / #{j: both called}. A wrong parent shows
a rate near 2 p² q² summed over SNPs / m (about 0.1–0.15 for common SNPs); a true pair shows
only genotyping errors (typically < 0.5 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from henderson.genotypes.matrix import BLOCK_BYTES


@dataclass(frozen=True)
class ParentPairs:
    """Genotyped parent–offspring pairs as row indices into the genotype matrix.

    offspring, parent: (k,) int64 rows; role: (k,) object array, "sire" or "dam"."""

    offspring: np.ndarray
    parent: np.ndarray
    role: np.ndarray

    def __len__(self) -> int:
        return int(self.offspring.size)


def parent_pairs(ids: np.ndarray, pedigree: pd.DataFrame) -> ParentPairs:
    """Pairs of the cleaned pedigree (columns id, sire, dam) whose both animals are among
    ``ids`` (the rows of the genotype matrix); unknown parents (not an ID) never match."""
    row = pd.Series(np.arange(len(ids), dtype=np.int64), index=pd.Index(ids, dtype=object))
    table = pedigree[["id", "sire", "dam"]].astype(object)
    table = table[table["id"].isin(row.index)]
    parts = []
    for role in ("sire", "dam"):
        known = table[table[role].isin(row.index)]
        parts.append(pd.DataFrame({
            "offspring": row[known["id"].to_numpy()].to_numpy(),
            "parent": row[known[role].to_numpy()].to_numpy(),
            "role": role,
        }))
    both = pd.concat(parts, ignore_index=True).sort_values(["offspring", "role"], kind="stable")
    return ParentPairs(
        both["offspring"].to_numpy(np.int64), both["parent"].to_numpy(np.int64),
        both["role"].to_numpy(object),
    )


@dataclass(frozen=True)
class Conflicts:
    """Opposite homozygotes per pair and per SNP.

    pair_conflicts, pair_called: (k,) conflicts and SNPs called in both, per pair;
    snp_conflicts, snp_pairs: (m,) conflicts and pairs called in both, per SNP."""

    pair_conflicts: np.ndarray
    pair_called: np.ndarray
    snp_conflicts: np.ndarray
    snp_pairs: np.ndarray

    @property
    def pair_rate(self) -> np.ndarray:
        """(k,) conflicts / SNPs called in both (NaN without a common call)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.pair_called > 0, self.pair_conflicts / self.pair_called, np.nan)


def count_conflicts(codes: np.ndarray, pairs: ParentPairs, columns: np.ndarray) -> Conflicts:
    """Opposite homozygotes of ``pairs`` at the SNPs ``columns`` (integer indices) of the
    n × m int8 ``codes`` (-1 missing), pairs taken in blocks."""
    k, m = len(pairs), columns.size
    pair_conflicts = np.zeros(k, dtype=np.int64)
    pair_called = np.zeros(k, dtype=np.int64)
    snp_conflicts = np.zeros(m, dtype=np.int64)
    snp_pairs = np.zeros(m, dtype=np.int64)
    step = max(1, BLOCK_BYTES // (4 * max(1, m)))
    for start in range(0, k, step):
        stop = min(k, start + step)
        a = codes[pairs.offspring[start:stop]][:, columns]
        b = codes[pairs.parent[start:stop]][:, columns]
        called = (a >= 0) & (b >= 0)
        # opposite homozygotes: one 0 and the other 2, i.e. |a − b| = 2 with both called
        opposite = called & (np.abs(a.astype(np.int16) - b) == 2)
        pair_conflicts[start:stop] = opposite.sum(axis=1)
        pair_called[start:stop] = called.sum(axis=1)
        snp_conflicts += opposite.sum(axis=0)
        snp_pairs += called.sum(axis=0)
    return Conflicts(pair_conflicts, pair_called, snp_conflicts, snp_pairs)
