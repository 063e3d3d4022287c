"""Γ of metafounders estimated from genotypes (Legarra et al. 2015; Garcia-Baccino et al. 2017).

With genotypes coded 0/1/2 and centred at 1 (allele frequency 0.5 for every SNP, the scale on
which G and A^Γ agree), a base animal of metafounder k with base allele frequency p_jk at SNP j
has E[(x − 1)(x' − 1)] = (2p_jk − 1)(2p_jl − 1) with a base animal of metafounder l; averaged
over the m SNPs and divided by the scale m/2 of G::

    γ_kl = 8/m Σ_j (p_jk − ½)(p_jl − ½)         (Γ = 8/m (P − ½)'(P − ½), P m × G)

The base frequencies are estimated from the genotyped animals, whatever their generation: an
animal's expected allele count is E[x_i] = 2 Σ_k q_ik p_k, with q_ik the share of its genes
from metafounder k (Q = the group contributions of the pedigree, rows summing to 1 for an
animal whose unknown ancestors all lead to metafounders). Per SNP, least squares on the animals
genotyped there::

    p̂_j = (Q_j'Q_j)⁻¹ Q_j' x_j / 2,  clipped to [0, 1]

(Q_j: the rows of the animals with a genotype at SNP j; missing genotypes remove their rows
from Q'Q by a rank-one correction per missing value). The estimate of γ_kk is biased upward by
8 × the sampling variance of p̂_jk (about p(1 − p)/(2 × the gene equivalents of group k) for
unrelated animals); ``noise`` reports that bound from the residual variance of the fit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.pedigree.ainv_groups import GroupedPedigree, group_contributions
from henderson.pedigree.metafounders import check_gamma

__all__ = ["GammaEstimate", "base_frequencies", "estimate_gamma", "gamma_of_frequencies"]

log = logging.getLogger("henderson")

_COVERED = 1e-9  # an animal is used when its metafounder shares sum to 1 within this
NOISY = 0.05  # warn when the sampling bias of γ_kk exceeds this share of it
_SINGULAR = 1e-8  # Q_j'Q_j with a smallest eigenvalue below this × its largest is not solved


@dataclass(frozen=True, eq=False)
class GammaEstimate:
    """Γ (G × G) with the base allele frequencies P (m × G; NaN at SNPs that could not be
    estimated), the animals used, the SNPs used, the gene equivalents per metafounder (G,:
    Σ_i q_ik over the animals used) and ``noise`` (G,): 8 × the mean sampling variance of p̂_k,
    the upward bias of γ_kk (module docstring)."""

    gamma: np.ndarray
    frequencies: np.ndarray
    animals: int
    snps: int
    gene_equivalents: np.ndarray
    noise: np.ndarray
    left_out: int
    """Genotyped animals not used: outside the pedigree, or with ancestry not all in metafounders."""
    warnings: tuple[str, ...] = ()
    """Metafounders whose γ_kk is inflated by sampling by more than NOISY × γ_kk."""

    def summary(self, codes: Sequence[str]) -> dict:
        """The estimate for the metadata and the report."""
        return {
            "method": "base allele frequencies by least squares on metafounder contributions; Γ = 8/m (P − ½)'(P − ½)",
            "animals": self.animals,
            "snps": self.snps,
            "left_out": self.left_out,
            "gene_equivalents": {str(c): float(v) for c, v in zip(codes, self.gene_equivalents)},
            "noise": {str(c): float(v) for c, v in zip(codes, self.noise)},
            "warnings": list(self.warnings),
        }


def gamma_of_frequencies(frequencies: np.ndarray) -> np.ndarray:
    """Γ = 8/m (P − ½)'(P − ½) for base allele frequencies P (m × G); rows with NaN are skipped."""
    p = np.asarray(frequencies, dtype=float)
    p = p[~np.isnan(p).any(axis=1)]
    if p.shape[0] == 0:
        raise ValueError("no SNP with base allele frequencies for every metafounder")
    c = p - 0.5
    gamma = 8.0 * (c.T @ c) / p.shape[0]
    return 0.5 * (gamma + gamma.T)


def _solvable(qtq_j: np.ndarray, removed: np.ndarray, lowest: float, highest: float) -> np.ndarray:
    """(b,) bool: Q_j'Q_j (b × G × G) has a smallest eigenvalue above _SINGULAR × its largest.
    By Weyl's inequality λ_min(Q'Q − Q_m'Q_m) ≥ λ_min(Q'Q) − tr(Q_m'Q_m), with `removed` (b,) =
    tr(Q_m'Q_m) = Σ ||q_i||² over the animals missing at the SNP and λ_max(Q_j'Q_j) ≤ λ_max(Q'Q)
    (`lowest`, `highest`): SNPs that pass this bound need no eigenvalues."""
    ok = lowest - removed > _SINGULAR * highest
    check = ~ok
    if check.any():
        eig = np.linalg.eigvalsh(qtq_j[check])
        ok[check] = eig[:, 0] > _SINGULAR * np.maximum(eig[:, -1], 1e-300)
    return ok


def base_frequencies(q: np.ndarray, codes: np.ndarray, *, block_bytes: int = 256 * 2**20) -> tuple[np.ndarray, np.ndarray]:
    """(P̂ (m × G), residual variance (m,)) by least squares of x_j/2 on Q (n × G) per SNP over
    the animals genotyped there (module docstring); `codes` (n × m) int8 with −1 missing, taken
    in blocks of SNPs of about `block_bytes` doubles. SNPs whose Q_j'Q_j is singular get NaN."""
    q = np.asarray(q, dtype=float)
    n, g = q.shape
    m = codes.shape[1]
    p = np.full((m, g), np.nan)
    var = np.full(m, np.nan)
    qtq = q.T @ q
    eig = np.linalg.eigvalsh(qtq)
    outer = (q[:, :, None] * q[:, None, :]).reshape(n, g * g)
    norms = np.einsum("ig,ig->i", q, q)
    step = max(1, block_bytes // (8 * max(n, 1) * 3))
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        block = np.asarray(codes[:, lo:hi])
        missing = block < 0
        y = np.where(missing, 0.0, block / 2.0)
        qty = (q.T @ y).T  # b × G
        if missing.any():
            miss = sp.csc_matrix(missing.astype(np.float64))
            qtq_j = qtq[None] - np.asarray(miss.T @ outer).reshape(hi - lo, g, g)
            removed = miss.T @ norms
        else:
            qtq_j = np.broadcast_to(qtq, (hi - lo, g, g))
            removed = np.zeros(hi - lo)
        ok = _solvable(qtq_j, removed, eig[0], eig[-1])
        pb = np.full((hi - lo, g), np.nan)
        if ok.any():
            pb[ok] = np.linalg.solve(qtq_j[ok], qty[ok][:, :, None])[:, :, 0]
        # Σ residual² = y'y − 2 p'Q'y + p'Q'Q p over the observed animals of each SNP
        pz = np.nan_to_num(pb)
        fit = np.einsum("jg,jgh,jh->j", pz, qtq_j, pz)
        rss = np.einsum("ij,ij->j", y, y) - 2 * np.einsum("jg,jg->j", pz, qty) + fit
        dof = np.maximum((~missing).sum(axis=0) - g, 1)
        vb = np.maximum(rss, 0.0) / dof
        vb[~ok] = np.nan
        p[lo:hi] = pb
        var[lo:hi] = vb
    return np.clip(p, 0.0, 1.0), var


def estimate_gamma(grouped: GroupedPedigree, genotyped_ids: Sequence[str] | np.ndarray, codes: np.ndarray,
                   *, source: str = "genotypes") -> GammaEstimate:
    """Γ of the metafounders of `grouped` (its groups, in order) from the genotypes `codes`
    (n_g × m, int8, −1 missing) of the animals `genotyped_ids` (module docstring). Animals not
    in the pedigree, or with an unknown ancestor outside the metafounders, are left out (and
    logged). InputError when no animal is left, or a metafounder has no genotyped descendant,
    or the metafounders cannot be told apart (collinear contributions)."""
    names = list(grouped.groups)
    ids = np.asarray([str(i) for i in genotyped_ids], dtype=object)
    codes = np.asarray(codes)
    if codes.shape[0] != ids.size:
        raise ValueError(f"{ids.size} IDs for {codes.shape[0]} rows of genotype codes")
    index = {str(v): k for k, v in enumerate(grouped.ped.ids)}
    positions = np.array([index.get(i, -1) for i in ids], dtype=np.int64)
    inside = positions >= 0
    q_all = group_contributions(grouped, np.eye(grouped.n_groups))
    q = np.zeros((ids.size, grouped.n_groups))
    q[inside] = q_all[positions[inside]]
    covered = inside & (np.abs(q.sum(axis=1) - 1.0) <= _COVERED)
    left_out = int(ids.size - covered.sum())
    if left_out:
        log.warning("metafounders: %d of %d genotyped animals are left out of the estimate of Γ (not in the pedigree, "
                    "or with unknown ancestors outside the metafounders)", left_out, ids.size)
    if not covered.any():
        raise InputError(
            f"{source}: no genotyped animal descends from the metafounders only, so Γ cannot be estimated; give "
            "every unknown parent a group code, or give Γ (`groups.metafounders.gamma`)."
        )
    q = q[covered]
    equivalents = q.sum(axis=0)
    absent = [names[k] for k in np.flatnonzero(equivalents < 1e-9)]
    if absent:
        raise InputError(
            f"{source}: metafounder(s) {absent} have no genotyped descendant, so their row of Γ cannot be estimated; "
            "merge them with another group, or give Γ (`groups.metafounders.gamma`)."
        )
    qtq = q.T @ q
    eig = np.linalg.eigvalsh(qtq)
    if eig[0] <= _SINGULAR * eig[-1]:
        raise InputError(
            f"{source}: the genotyped animals descend from the metafounders {names} in proportions that cannot tell "
            "them apart (Q'Q is singular: e.g. every genotyped animal has the same mix of two groups); merge such "
            "groups, or give Γ (`groups.metafounders.gamma`)."
        )
    p, var = base_frequencies(q, codes[covered])
    used = ~np.isnan(p).any(axis=1)
    if not used.any():
        raise InputError(f"{source}: no SNP has genotypes on enough animals to estimate base allele frequencies.")
    gamma = gamma_of_frequencies(p)
    noise = 8.0 * np.nanmean(var) * np.diag(np.linalg.inv(qtq))
    warnings = tuple(
        f"Γ: metafounder {names[k]} rests on {equivalents[k]:.1f} gene equivalents of genotyped descendants; "
        f"sampling inflates its γ ({gamma[k, k]:.3f}) by about {noise[k]:.3f} ({100 * noise[k] / gamma[k, k]:.0f} %). "
        "Merge it with a neighbouring group (`min_size`, fewer intervals) or give Γ."
        for k in range(len(names)) if noise[k] > NOISY * gamma[k, k]
    )
    for warning in warnings:
        log.warning("metafounders: WARNING: %s", warning)
    estimate = GammaEstimate(gamma, p, int(covered.sum()), int(used.sum()), equivalents, noise, left_out, warnings)
    try:  # the checks of a given Γ; an all-zero Γ (phantom parents) is no estimate either
        check_gamma(gamma, len(names))
        if not np.any(gamma):
            raise ValueError("Γ is 0 (every base allele frequency ½)")
    except ValueError as error:
        raise InputError(
            f"{source}: the estimated Γ of metafounders {names} cannot be used: {error} Too few SNPs for "
            f"{len(names)} metafounders, identical base frequencies, or codes that are not 0/1/2 counts; merge "
            "groups, check the genotypes' coding, or give Γ."
        ) from None
    log.info("metafounders: Γ estimated from %d genotyped animals × %d SNPs; diagonal %s (upward bias about %s)",
             estimate.animals, estimate.snps, np.round(np.diag(gamma), 4).tolist(), np.round(noise, 5).tolist())
    return estimate
