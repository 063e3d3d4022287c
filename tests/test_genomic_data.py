"""Test data for the genomic tests: simulated pedigrees with inbreeding, genotypes dropped
through them (founder haplotypes inherited in blocks of linked SNPs), and dense oracles of G*
and H built by hand from their definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from henderson.pedigree import (
    Pedigree,
    inbreeding,
    relationship_matrix_dense,
    sort_pedigree,
)
from henderson.simulate import simulate_pedigree

# Mrode (2014) chapter 11 data (source and printed values in its README.md)
MRODE = Path(__file__).resolve().parent / "data" / "mrode_11_3_gblup"


def pedigree_from_frame(frame: pd.DataFrame) -> Pedigree:
    unknown = {"0", "", None}
    parents = [[None if v in unknown else str(v) for v in frame[c]] for c in ("sire", "dam")]
    return sort_pedigree([str(i) for i in frame["id"]], *parents)


def simulated_pedigree(n: int, seed: int, **kw) -> Pedigree:
    """A simulated pedigree (overlapping generations, few sires: inbreeding accrues)."""
    return pedigree_from_frame(simulate_pedigree(n, seed, **kw))


def gene_drop(ped: Pedigree, m: int, seed: int, *, blocks: int = 40, missing: float = 0.0) -> np.ndarray:
    """Codes (n × m, int8) dropped through `ped`: founders draw two haplotypes from allele
    frequencies ~ U(0.05, 0.95); each gamete takes, per block of m/blocks linked SNPs, one of its
    parent's two haplotypes. `missing`: fraction of codes set to −1."""
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0.05, 0.95, m)
    block_of = np.minimum(np.arange(m) * blocks // m, blocks - 1)
    hap = np.zeros((ped.n, 2, m), dtype=np.int8)
    for i in range(ped.n):
        for side, parent in enumerate((ped.sire[i], ped.dam[i])):
            if parent < 0:
                hap[i, side] = rng.random(m) < p0
            else:
                pick = rng.integers(0, 2, blocks)[block_of]
                hap[i, side] = hap[parent, pick, np.arange(m)]
    codes = hap.sum(axis=1).astype(np.int8)
    if missing:
        codes[rng.random(codes.shape) < missing] = -1
    return codes


def vanraden_oracle(codes: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """G = Z Z' / 2Σpq written out: p from the non-missing codes, missing codes at 2p."""
    m = codes.astype(float)
    m[codes < 0] = np.nan
    if p is None:
        p = np.nanmean(m, axis=0) / 2.0
    z = np.where(np.isnan(m), 0.0, m - 2.0 * p)
    return z @ z.T / (2.0 * np.sum(p * (1.0 - p)))


def gstar_oracle(g: np.ndarray, a22: np.ndarray | None, blend: float, tune: str, ridge: float) -> np.ndarray:
    """G* by hand: blend, then tune (mean diagonal and mean to A22's), then ridge."""
    gb = (1 - blend) * g + blend * a22 if blend else g.copy()
    if tune == "mean":
        b = (np.mean(np.diag(a22)) - np.mean(a22)) / (np.mean(np.diag(gb)) - np.mean(gb))
        gb = np.mean(a22) - b * np.mean(gb) + b * gb
    return gb + ridge * np.eye(g.shape[0])


def h_oracle(a: np.ndarray, geno: np.ndarray, gstar: np.ndarray) -> np.ndarray:
    """H (Legarra et al. 2009) built densely: H11 = A11 + A12 A22⁻¹ (G − A22) A22⁻¹ A21,
    H12 = A12 A22⁻¹ G, H22 = G."""
    n = a.shape[0]
    rest = np.setdiff1d(np.arange(n), geno)
    a22inv = np.linalg.inv(a[np.ix_(geno, geno)])
    r = a[np.ix_(rest, geno)] @ a22inv
    h = np.empty_like(a)
    h[np.ix_(rest, rest)] = a[np.ix_(rest, rest)] + r @ (gstar - a[np.ix_(geno, geno)]) @ r.T
    h[np.ix_(rest, geno)] = r @ gstar
    h[np.ix_(geno, rest)] = (r @ gstar).T
    h[np.ix_(geno, geno)] = gstar
    return h


def test_simulated_pedigree_is_inbred_and_genotypes_are_codes():
    ped = simulated_pedigree(300, 3, max_sires=3, sire_fraction=0.01)
    assert inbreeding(ped).max() > 0.05
    codes = gene_drop(ped, 200, 1, missing=0.02)
    assert set(np.unique(codes)) <= {-1, 0, 1, 2}
    # relationships realised in the genotypes follow the pedigree: parent-offspring G ≈ 0.5 on average
    g = vanraden_oracle(codes)
    a = relationship_matrix_dense(ped)
    assert np.corrcoef(g[np.triu_indices(300, 1)], a[np.triu_indices(300, 1)])[0, 1] > 0.5
