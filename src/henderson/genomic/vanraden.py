"""Allele frequencies and VanRaden's (2008) first genomic relationship matrix.

Genotype codes M (n × m, int8): 0, 1, 2 copies of the counted allele, −1 = missing. With allele
frequencies p (m,) — from the data (missing codes excluded) or given — ::

    Z = M − 2p   (a missing code is set to its mean 2p, i.e. z = 0)
    G = Z Z' / s,     s = 2 Σ_j p_j (1 − p_j)

G is accumulated over blocks of SNP columns (``G += Z_b Z_b'``, lower triangle, by BLAS gemm one
tile column at a time: :func:`henderson.genomic.blocked.lower_rank_update`; then mirrored), so
memory is n² plus one n × block of centred codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from henderson.errors import InputError
from henderson.genomic.blocked import lower_rank_update
from henderson.genomic.dense import mirror_lower

__all__ = [
    "VanRaden",
    "allele_frequencies",
    "centred_block",
    "check_codes",
    "column_sums_z",
    "cross_g",
    "diagonal_g",
    "frequencies_for",
    "scale_of",
    "vanraden_g",
]


def check_codes(codes: np.ndarray, ids: np.ndarray | None = None, snps: np.ndarray | None = None) -> np.ndarray:
    """`codes` as a 2-D int8 array; codes outside {−1, 0, 1, 2} are an InputError naming the
    first animal and SNP."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise ValueError(f"genotype codes must be a 2-D matrix (animals × SNPs); got shape {arr.shape}.")
    if arr.dtype != np.int8:
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError("genotype codes must be integers 0, 1, 2 (−1 = missing).")
        arr = arr.astype(np.int8)
    bad = (arr < -1) | (arr > 2)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        who = ids[i] if ids is not None else f"row {i}"
        snp = snps[j] if snps is not None else f"column {j}"
        raise InputError(
            f"genotypes: animal {who}, SNP {snp} has code {int(np.asarray(codes)[i, j])}; codes must be 0, 1, 2 "
            f"or missing (−1). {int(bad.sum())} code(s) are out of range."
        )
    return arr


def allele_frequencies(codes: np.ndarray, *, block: int = 4096) -> np.ndarray:
    """p_j = Σ_i M_ij / (2 n_j) over the n_j non-missing codes of SNP j, shape (m,) float64; a
    SNP without any code gets p = 0 (it then contributes nothing to G)."""
    n, m = codes.shape
    total = np.zeros(m)
    count = np.zeros(m)
    for i in range(0, n, block):
        blk = codes[i : i + block]
        present = blk >= 0
        total += np.where(present, blk, 0).sum(axis=0, dtype=np.float64)
        count += present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(count > 0, total / (2.0 * np.maximum(count, 1)), 0.0)
    return p


def centred_block(codes: np.ndarray, p: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Z = M − 2p of a block of codes (rows × columns of M, p of those columns), missing → 0."""
    z = codes.astype(dtype)
    z -= (2.0 * p).astype(dtype)
    z[codes < 0] = 0.0
    return z


def scale_of(p: np.ndarray) -> float:
    """s = 2 Σ p(1 − p); an InputError when every SNP is monomorphic."""
    s = float(2.0 * np.sum(p * (1.0 - p)))
    if not s > 0.0:
        raise InputError("genotypes: every SNP is monomorphic (2Σpq = 0); G is not defined.")
    return s


def _columns_per_block(n: int, block_bytes: int, itemsize: int) -> int:
    return int(max(64, min(4096, block_bytes // max(1, itemsize * n))))


@dataclass(frozen=True, eq=False)
class VanRaden:
    """G (n × n, symmetric, both triangles), the frequencies p (m,) and s = 2Σpq."""

    g: np.ndarray
    frequencies: np.ndarray
    scale: float


def vanraden_g(
    codes: np.ndarray,
    frequencies: np.ndarray | None = None,
    *,
    block_bytes: int = 256 * 2**20,
    float32: bool = False,
) -> VanRaden:
    """VanRaden's G = Z Z' / (2Σpq) of int8 `codes` (n × m; module docstring). `frequencies`:
    given p (m,) in [0, 1], else from the data. float32: Z and G in single precision."""
    codes = check_codes(codes)
    n, m = codes.shape
    p = frequencies_for(codes, frequencies)
    s = scale_of(p)
    dtype = np.float32 if float32 else np.float64
    g = np.zeros((n, n), dtype=dtype, order="F")
    step = _columns_per_block(n, block_bytes, np.dtype(dtype).itemsize)
    for j in range(0, m, step):
        # Z_b' (b × n, C order, from a C-order copy of the int8 codes) is Z_b in Fortran order
        zt = centred_block(np.ascontiguousarray(codes[:, j : j + step].T), p[j : j + step, None], dtype)
        lower_rank_update(g, zt.T)  # by tile columns: OpenBLAS's threaded syrk crashes on large G
    mirror_lower(g)
    g /= dtype(s)
    return VanRaden(g=g, frequencies=p, scale=s)


def cross_g(
    codes: np.ndarray, rows: np.ndarray, cols: np.ndarray, p: np.ndarray, s: float, *, block_bytes: int = 256 * 2**20
) -> np.ndarray:
    """G[rows, cols] = Z_r Z_c' / s (n_r × n_c) by SNP blocks; only one block of each set of
    animals' codes is copied at a time."""
    out = np.zeros((rows.size, cols.size))
    step = _columns_per_block(rows.size + cols.size, block_bytes, 8)
    chunk = max(1, block_bytes // (8 * max(1, rows.size)))  # columns of `out` per product: no n_r × n_c temporary
    for j in range(0, codes.shape[1], step):
        blk = codes[:, j : j + step]
        zr = centred_block(blk[rows], p[j : j + step])
        zc = centred_block(blk[cols], p[j : j + step])
        for k in range(0, cols.size, chunk):
            out[:, k : k + chunk] += zr @ zc[k : k + chunk].T
    out /= s
    return out


def diagonal_g(codes: np.ndarray, p: np.ndarray, s: float, rows: np.ndarray | None = None, *, block: int = 2048) -> np.ndarray:
    """diag(G)_i = Σ_j z_ij² / s for the animals `rows` (default all), shape (n_r,)."""
    rows = np.arange(codes.shape[0]) if rows is None else np.asarray(rows)
    out = np.empty(rows.size)
    for i in range(0, rows.size, block):
        z = centred_block(codes[rows[i : i + block]], p)
        out[i : i + block] = np.einsum("ij,ij->i", z, z) / s
    return out


def column_sums_z(codes: np.ndarray, p: np.ndarray, *, block: int = 2048) -> np.ndarray:
    """Z'1 (m,): with it, mean(G) = |Z'1|² / (s n²) without forming G."""
    out = np.zeros(codes.shape[1])
    for i in range(0, codes.shape[0], block):
        out += centred_block(codes[i : i + block], p).sum(axis=0)
    return out


def frequencies_for(codes: np.ndarray, frequencies: np.ndarray | None) -> np.ndarray:
    """The given allele frequencies (checked: m values in [0, 1]) or those of the data."""
    return allele_frequencies(codes) if frequencies is None else _given(frequencies, codes.shape[1])


def _given(frequencies: np.ndarray, m: int) -> np.ndarray:
    p = np.asarray(frequencies, dtype=float)
    if p.shape != (m,):
        raise InputError(f"allele frequencies: {p.shape[0] if p.ndim == 1 else p.shape} given for {m} SNPs.")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        j = int(np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))[0])
        raise InputError(f"allele frequencies: SNP {j} has frequency {p[j]}; frequencies must lie in [0, 1].")
    return p
