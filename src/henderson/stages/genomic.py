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
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from henderson.config import ModelSpec
from henderson.errors import InputError
from henderson.genomic import (
    GenomicOptions,
    genomic_relationship,
    single_step_relationships,
    snp_effects,
)
from henderson.genotypes import Genotypes, load_genotypes
from henderson.relationship import Relationship

__all__ = ["GenomicKinship", "genomic_kinship", "genomic_options", "model_snp_effects", "read_genotypes"]

log = logging.getLogger("henderson")


@dataclass(frozen=True, eq=False)
class GenomicKinship:
    """The model's K (G* or H), G* of the genotyped animals and their genotypes."""

    kinship: Relationship
    genomic: Relationship
    genotypes: Genotypes


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
    if spec.relationship == "single_step":
        kinship, genomic = single_step_relationships(relationships, ids, codes, options)
    else:
        genomic = genomic_relationship(ids, codes, options, pedigree=relationships if options.needs_a22 else None)
        kinship = genomic
    log.info(
        "model %s: %s relationship of %d levels (%d genotyped animals × %d SNPs; blend %g, tune %s, ridge %g%s) "
        "in %.2f s", spec.name, kinship.kind, kinship.q, len(ids), codes.shape[1], options.blend, options.tune,
        options.ridge, ", APY" if options.use_apy(len(ids)) else "", time.perf_counter() - start,
    )
    return GenomicKinship(kinship, genomic, genotypes)


def genotyped_records(spec: ModelSpec, records: pd.DataFrame, id_column: str, levels: np.ndarray) -> pd.DataFrame:
    """GBLUP: the records of genotyped animals only. The others are left out with a warning
    naming how many and the first IDs; none left is an InputError."""
    known = records[id_column].astype(str).isin(set(np.asarray(levels, dtype=str)))
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
    log.warning(
        "model %s: WARNING: %d of %d records are of animals without genotypes (%s%s) and are left out of the "
        "GBLUP model; `relationship: single_step` uses them through the pedigree.",
        spec.name, int((~known).sum()), len(records), shown, " …" if left.nunique() > 10 else "",
    )
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
                            snp_names=np.asarray(genotypes.snps, dtype=str))
        table.insert(1, "trait", trait)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
