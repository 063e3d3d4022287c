"""Duplicate genotypes: two IDs whose genotypes agree at (nearly) every SNP called in both.

Concordance of animals i and k: #{j: x_ij = x_kj, both called} / #{j: both called}. Comparing
every pair costs n² m; instead candidate pairs are found by banding (locality-sensitive
hashing) and then verified exactly on every SNP:

- a pool of up to ``POOL`` SNPs with the highest call rate × minor allele frequency is taken,
- each of ``BANDS`` bands is a random draw of ``BAND_SNPS`` SNPs of the pool (fixed seed),
- animals with identical codes (all called) in a band are candidates.

A pair with concordance c and joint call rate q on the pool matches a band with probability
about (c q)^r (r = ``BAND_SNPS``), so it is missed with probability (1 − (c q)^r)^B: for
c = 0.99 and q = 0.95 (r = 16, B = 64) about 10⁻¹¹. Unrelated animals match a band of
SNPs of allele frequency near ½ with probability about 0.375^r ≈ 10⁻⁷, relatives more often;
they are candidates, never duplicates, because every candidate is verified on all SNPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from henderson.genotypes.matrix import BLOCK_BYTES, count

POOL = 2048
BANDS = 64
BAND_SNPS = 16
SEED = 20080101


@dataclass(frozen=True)
class DuplicatePairs:
    """Pairs of rows (first < second) with concordance at or above the threshold.

    first, second: (k,) int64 row indices; concordance: (k,) share of equal calls among the
    SNPs called in both; called: (k,) those SNPs; candidates: pairs verified."""

    first: np.ndarray
    second: np.ndarray
    concordance: np.ndarray
    called: np.ndarray
    candidates: int


def concordance(codes: np.ndarray, first: np.ndarray, second: np.ndarray, columns: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(concordance, called) of the row pairs (first[k], second[k]) at SNPs ``columns``."""
    k, m = first.size, columns.size
    same = np.zeros(k, dtype=np.int64)
    called = np.zeros(k, dtype=np.int64)
    step = max(1, BLOCK_BYTES // (4 * max(1, m)))
    for start in range(0, k, step):
        stop = min(k, start + step)
        a = codes[first[start:stop]][:, columns]
        b = codes[second[start:stop]][:, columns]
        both = (a >= 0) & (b >= 0)
        called[start:stop] = both.sum(axis=1)
        same[start:stop] = (both & (a == b)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(called > 0, same / called, np.nan), called


def _candidates(pool_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Candidate pairs (2, c) of rows with equal codes in at least one band, first < second."""
    width = pool_codes.shape[1]
    r = min(BAND_SNPS, width)
    powers = 3 ** np.arange(r, dtype=np.int64)
    found = []
    for _ in range(BANDS):
        band = pool_codes[:, rng.choice(width, r, replace=False)]
        complete = np.flatnonzero((band >= 0).all(axis=1))
        if complete.size < 2:
            continue
        keys = band[complete].astype(np.int64) @ powers
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], complete[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        sizes = np.diff(np.r_[starts, keys.size])
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            group = rows[start:start + size]
            i, k = np.triu_indices(size, 1)
            found.append(np.stack([group[i], group[k]]))
    if not found:
        return np.empty((2, 0), dtype=np.int64)
    pairs = np.concatenate(found, axis=1)
    pairs = np.sort(pairs, axis=0)
    return np.unique(pairs, axis=1)


def find_duplicates(codes: np.ndarray, rows: np.ndarray, columns: np.ndarray, threshold: float
                    ) -> DuplicatePairs:
    """Pairs among ``rows`` (integer indices into ``codes``, n × m int8, -1 missing) whose
    concordance over ``columns`` is at least ``threshold`` (see module doc); returned as rows
    of ``codes``, sorted by (first, second)."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    if rows.size < 2 or columns.size == 0:
        return DuplicatePairs(empty, empty, np.empty(0), empty, 0)
    mask_rows = np.zeros(codes.shape[0], dtype=bool)
    mask_rows[rows] = True
    mask_cols = np.zeros(codes.shape[1], dtype=bool)
    mask_cols[columns] = True
    stats = count(codes, mask_rows, mask_cols)
    score = stats.call_rate_snp * np.nan_to_num(stats.minor_allele_frequency)
    pool = columns[np.argsort(-score, kind="stable")[:POOL]]
    pool_codes = np.empty((rows.size, pool.size), dtype=np.int8)
    step = max(1, BLOCK_BYTES // max(1, codes.shape[1]))
    for start in range(0, rows.size, step):
        pool_codes[start:start + step] = codes[rows[start:start + step]][:, pool]
    local = _candidates(pool_codes, np.random.default_rng(SEED))
    first = np.minimum(rows[local[0]], rows[local[1]])
    second = np.maximum(rows[local[0]], rows[local[1]])
    share, called = concordance(codes, first, second, columns)
    keep = share >= threshold
    order = np.lexsort((second[keep], first[keep]))
    return DuplicatePairs(
        first[keep][order], second[keep][order], share[keep][order], called[keep][order],
        int(first.size),
    )
