"""Genomic and single-step relationships of a model from the clean genotypes, and the SNP effects
back-solved from its GEBV.

A model whose additive effect has ``relationship: genomic`` (GBLUP) gets K = G* over the
genotyped animals; ``relationship: single_step`` (ssGBLUP) gets K = H over the pedigree
(:mod:`henderson.genomic`). Both keep G* of the genotyped animals for the SNP effects
ĝ = (1/(2Σpq)) Z' G*⁻¹ â (â: the GEBV of the genotyped animals; Wang et al. 2012 for single
step), written to ``results/<model>/snp_effects.parquet``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from henderson.config import ModelSpec
from henderson.errors import InputError
from henderson.genomic import (
    GenomicOptions,
    allele_frequencies,
    genomic_relationship,
    pedigree_blocks,
    single_step_relationships,
    snp_effects,
)
from henderson.genomic.relationships import centring_frequencies
from henderson.genomic.vanraden import cross_g, scale_of
from henderson.genotypes import Genotypes, load_genotypes
from henderson.relationship import Relationship

__all__ = [
    "GenomicKinship",
    "g_against_a22",
    "genomic_kinship",
    "genomic_options",
    "model_snp_effects",
    "read_genotypes",
]

log = logging.getLogger("henderson")


@dataclass(frozen=True, eq=False)
class GenomicKinship:
    """The model's K (G* or H), G* of the genotyped animals, their genotypes and the pedigree."""

    kinship: Relationship
    genomic: Relationship
    genotypes: Genotypes
    pedigree: object | None = None
    """The relationships stage's result (A⁻¹ and IDs) when there is a pedigree."""
    warnings: list[str] = field(default_factory=list)
    """What the model building found (e.g. records left out of GBLUP), for the summary and report."""
    frequencies: np.ndarray | None = None
    """The allele frequencies that centre G when not the data's (½ with metafounders)."""


def genomic_options(spec: ModelSpec) -> GenomicOptions:
    """:class:`GenomicOptions` from the model's `genomic` block (unset keys: the defaults)."""
    names = {f.name for f in fields(GenomicOptions)}
    return GenomicOptions(**{k: v for k, v in spec.genomic.items() if k in names})


def read_genotypes(prefix: str | Path) -> Genotypes:
    """The clean stage's genotypes (``<prefix>.npy`` and its tables), memory-mapped."""
    return load_genotypes(prefix, mmap=True)


def genomic_kinship(spec: ModelSpec, genotypes: Genotypes, relationships=None) -> GenomicKinship:
    """K of the model's additive effect: G* (``genomic``) or H (``single_step``, needs the
    relationships stage's result `relationships`). Every genotyped animal must be in the
    pedigree for single step; for GBLUP with blending or tuning, too."""
    options = genomic_options(spec)
    start = time.perf_counter()
    codes = np.asarray(genotypes.codes)
    ids = np.asarray(genotypes.ids, dtype=object).astype(str)
    frequencies = None
    if spec.relationship == "single_step":
        frequencies = centring_frequencies(relationships, codes.shape[1])
        kinship, genomic = single_step_relationships(relationships, ids, codes, options, frequencies=frequencies)
    else:
        genomic = genomic_relationship(ids, codes, options, pedigree=relationships if options.needs_a22 else None)
        kinship = genomic
    log.info(
        "model %s: %s relationship of %d levels (%d genotyped animals × %d SNPs; blend %g, tune %s, ridge %g%s) "
        "in %.2f s", spec.name, kinship.kind, kinship.q, len(ids), codes.shape[1], options.blend, options.tune,
        options.ridge, ", APY" if options.use_apy(len(ids)) else "", time.perf_counter() - start,
    )
    if frequencies is not None:
        log.info("model %s: metafounders: G centred at allele frequency 0.5 for every SNP (on the scale of A^Γ)",
                 spec.name)
    return GenomicKinship(kinship, genomic, genotypes, relationships, frequencies=frequencies)


def genotyped_records(spec: ModelSpec, records: pd.DataFrame, id_column: str, genomic: GenomicKinship) -> pd.DataFrame:
    """GBLUP: the records of genotyped animals only. The others are left out with a warning
    naming how many and the first IDs (in the log and in ``genomic.warnings``); none left is an
    InputError."""
    known = records[id_column].astype(str).isin(set(np.asarray(genomic.kinship.levels, dtype=str)))
    if known.all():
        return records
    left = records.loc[~known, id_column].astype(str)
    shown = ", ".join(f"'{i}'" for i in pd.unique(left)[:10])
    if not known.any():
        raise InputError(
            f"model {spec.name}: none of the {len(records)} records is of a genotyped animal, and a genomic "
            "relationship (GBLUP) covers the genotyped animals only. Check the ID columns of the phenotypes and "
            "the genotypes (results/clean/genotypes_rejected.parquet lists removed animals), or use "
            "`relationship: single_step`."
        )
    message = (
        f"{int((~known).sum()):,} of {len(records):,} records are of animals without genotypes ({shown}"
        f"{' …' if left.nunique() > 10 else ''}) and are left out of the GBLUP model; `relationship: single_step` "
        "uses them through the pedigree."
    )
    log.warning("model %s: WARNING: %s", spec.name, message)
    genomic.warnings.append(message)
    return records.loc[known]


def model_snp_effects(effect: str, solutions: pd.DataFrame, kinship: GenomicKinship) -> pd.DataFrame:
    """SNP effects (snp, trait, estimate) back-solved from the GEBV of the genotyped animals in
    the solutions table (effect `effect`), one set per trait."""
    genotypes = kinship.genotypes
    levels = kinship.genomic.levels.astype(str)
    frames = []
    for trait, rows in solutions[solutions["effect"] == effect].groupby("trait", sort=False):
        gebv = pd.Series(rows["estimate"].to_numpy(dtype=float), index=rows["level"].astype(str))
        table = snp_effects(np.asarray(genotypes.codes), gebv.reindex(levels), kinship.genomic,
                            frequencies=kinship.frequencies,
                            snp_names=np.asarray(genotypes.snps, dtype=str))
        table.insert(1, "trait", trait)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def g_against_a22(codes: np.ndarray, ids: np.ndarray, relationships, *, sample: int = 2000, seed: int = 0) -> dict:
    """VanRaden's G (before blending, tuning and ridge) against A22 over at most `sample`
    genotyped animals drawn at random (all when fewer): means of the diagonals and of the
    off-diagonal elements, the regression G_ij = a + b A22_ij + e over the off-diagonal pairs,
    and the correlations of the diagonals and of the off-diagonals. Costs a `sample`² block of
    each, not the n_g² matrices. Genotyped animals outside the pedigree are left out. With
    metafounders G is centred at ½ and compared with A^Γ22 (``"metafounders": True``)."""
    centre = centring_frequencies(relationships, np.shape(codes)[1])
    source = relationships if centre is None else relationships.grouped
    inside = np.flatnonzero(pd.Index(np.asarray(relationships.ids, dtype=str)).get_indexer(np.asarray(ids, dtype=str)) >= 0)
    n = inside.size
    if n < 2:
        return {"animals": int(n), "sampled": False}
    rows = inside if n <= sample else np.sort(np.random.default_rng(seed).choice(inside, sample, replace=False))
    p = allele_frequencies(codes) if centre is None else centre
    g = cross_g(codes, rows, rows, p, scale_of(p))
    a = pedigree_blocks(source, np.asarray(ids, dtype=object)[rows]).a22()
    off = ~np.eye(rows.size, dtype=bool)
    go, ao = g[off], a[off]
    slope = float(np.cov(ao, go, bias=True)[0, 1] / np.var(ao)) if rows.size > 1 and np.var(ao) > 0 else float("nan")

    def corr(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.corrcoef(x, y)[0, 1]) if x.size > 1 and np.std(x) > 0 and np.std(y) > 0 else float("nan")

    return {
        "animals": int(rows.size),
        "sampled": bool(rows.size < len(ids)),
        "metafounders": centre is not None,
        "mean_diagonal_g": float(np.mean(np.diagonal(g))),
        "mean_diagonal_a22": float(np.mean(np.diagonal(a))),
        "mean_offdiagonal_g": float(go.mean()) if go.size else float("nan"),
        "mean_offdiagonal_a22": float(ao.mean()) if ao.size else float("nan"),
        "regression_slope": slope,
        "regression_intercept": float(go.mean() - slope * ao.mean()) if go.size else float("nan"),
        "correlation_diagonal": corr(np.diagonal(a), np.diagonal(g)),
        "correlation_offdiagonal": corr(ao, go),
    }
