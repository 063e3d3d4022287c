"""Quantitative trait loci (QTL): true breeding values that follow the simulated genome.

With ``SimulationSpec.qtl = K > 0`` the gene dropping (:class:`~henderson.simulate.genotypes.
GeneDropping`) carries ``L = snps + K`` loci on the same chromosomes. ``K`` of them, chosen at
random among those that segregate in the base population, are the QTL; the written SNP panel is
the other ``snps`` loci, so it holds no QTL itself and captures them through linkage disequilibrium
(``ld``, and ``history`` for LD in the base population) and through the relationships it measures,
as a real chip does.

Effects: ``Z`` (K x q) with iid N(0, 1) entries, ``q`` genetic effects per animal (``t`` direct,
or ``2t``: ``[a_1..a_t, m_1..m_t]`` with a maternal effect), and with
``D = diag(2 p_k (1 - p_k))`` over the QTL's base-population frequencies p_k,
``S = Z' D Z = L_S L_S'`` and ``G0 = L_G L_G'`` (Cholesky)::

    alpha = Z L_S^-T L_G'        (K x q)

so that the base-population additive covariance ``sum_k 2 p_k q_k alpha_k alpha_k' = alpha' D alpha``
equals ``G0`` exactly (for one trait: ``2 sum p_k q_k alpha_k^2 = sigma2_a``), and the effects of the
traits (and of the direct and maternal effect) at one QTL are correlated as G0 says. This is the
genic covariance: with a historical population the base carries LD among the QTL as well, which
adds covariance terms of mean zero over the effect draws.

True values: ``u_i = sum_k (x_ik - 2 p_k) alpha_k`` (q,), ``x_ik`` the copies of the counted allele
animal i carries at QTL k; there is no polygenic part. An unknown dam is an unrecorded base animal:
its QTL genotype is the allele it gave its offspring plus one drawn with frequency p_k, which gives
the maternal value on that offspring's records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from henderson.errors import ConfigError


def qtl_names(k: int) -> np.ndarray:
    """``qtl00001``, ``qtl00002``, ... (at least 5 digits)."""
    width = max(5, len(str(k)))
    return np.array([f"qtl{j:0{width}d}" for j in range(1, k + 1)], dtype=object)


def qtl_values(codes: np.ndarray, frequencies: np.ndarray, effects: np.ndarray) -> np.ndarray:
    """True genetic values ``(x - 2p) alpha``: (n, q) from genotypes ``codes`` (n, K) 0/1/2,
    base frequencies ``frequencies`` (K,) and effects ``effects`` (K, q)."""
    return (np.asarray(codes, dtype=float) - 2.0 * np.asarray(frequencies)) @ np.asarray(effects)


@dataclass(frozen=True)
class QtlEffects:
    """The QTL of a simulation.

    Attributes:
        loci: (K,) sorted indices of the QTL among the genome's loci.
        frequencies: (K,) base-population frequency p_k of the counted allele.
        effects: (K, q) allele substitution effects alpha (module docstring), columns
            ``[a_1..a_t]`` or ``[a_1..a_t, m_1..m_t]``.
    """

    loci: np.ndarray
    frequencies: np.ndarray
    effects: np.ndarray

    def values(self, codes: np.ndarray) -> np.ndarray:
        """(n, q) true values of animals with QTL genotypes ``codes`` (n, K)."""
        return qtl_values(codes, self.frequencies, self.effects)

    def base_covariance(self) -> np.ndarray:
        """(q, q) ``sum_k 2 p_k (1 - p_k) alpha_k alpha_k'``: the additive covariance of the base."""
        d = 2.0 * self.frequencies * (1.0 - self.frequencies)
        return self.effects.T @ (d[:, None] * self.effects)

    def table(self, chromosome: np.ndarray, position: np.ndarray, trait_names: list[str]) -> pd.DataFrame:
        """One row per QTL: qtl (name), chromosome, position (bp), allele_frequency, then
        ``effect_<trait>`` (direct) and, with a maternal effect, ``meffect_<trait>``.
        ``chromosome``, ``position``: (K,) of the QTL."""
        t = len(trait_names)
        columns = {"qtl": qtl_names(self.loci.size), "chromosome": chromosome, "position": position,
                   "allele_frequency": self.frequencies}
        for j, name in enumerate(trait_names):
            columns[f"effect_{name}"] = self.effects[:, j]
        if self.effects.shape[1] > t:
            for j, name in enumerate(trait_names):
                columns[f"meffect_{name}"] = self.effects[:, t + j]
        return pd.DataFrame(columns)


def draw_qtl(frequencies: np.ndarray, k: int, g0: np.ndarray, rng: np.random.Generator) -> QtlEffects:
    """Choose ``k`` QTL at random among the loci that segregate (0 < p < 1) at base frequencies
    ``frequencies`` (L,) and draw their effects (module docstring) so that their base covariance
    is ``g0`` (q x q).

    Raises:
        ConfigError: fewer QTL than genetic effects (``k < q``: the effects cannot span G0), or
            fewer segregating loci than QTL.
    """
    q = g0.shape[0]
    if k < q:
        raise ConfigError(
            f"SimulationSpec.qtl: {k} QTL cannot carry {q} correlated genetic effects; use at least {q}."
        )
    segregating = np.flatnonzero((frequencies > 0.0) & (frequencies < 1.0))
    if segregating.size < k:
        raise ConfigError(
            f"SimulationSpec.qtl: only {segregating.size} of the {frequencies.size} loci segregate in the base "
            f"population, fewer than the {k} QTL asked for; use fewer QTL or a shorter history."
        )
    loci = np.sort(segregating[rng.choice(segregating.size, k, replace=False)])
    p = frequencies[loci]
    z = rng.standard_normal((k, q))
    d = 2.0 * p * (1.0 - p)
    chol_s = np.linalg.cholesky(z.T @ (d[:, None] * z))
    # alpha = Z L_S^-T L_G': alpha' D alpha = L_G L_S^-1 S L_S^-T L_G' = G0
    alpha = np.linalg.solve(chol_s, z.T).T @ np.linalg.cholesky(g0).T
    return QtlEffects(loci=loci, frequencies=p, effects=alpha)
