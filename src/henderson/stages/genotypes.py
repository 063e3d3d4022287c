"""The clean_genotypes stage: read the genotype file, run the QC against the cleaned pedigree,
and return the kept matrix, what was removed and the summary (see :mod:`henderson.genotypes.qc`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from henderson.genotypes import (
    QCResult,
    QCSettings,
    genotype_source,
    qc_genotypes,
    read_genotypes,
)
from henderson.io import file_digest

log = logging.getLogger("henderson")


def clean_genotypes_stage(
    genotypes_path: str | Path,
    *,
    qc: QCSettings | Mapping[str, Any] | None = None,
    pedigree_path: str | Path | None = None,
    id_column: str = "id",
) -> QCResult:
    """Read ``genotypes_path`` (CSV/Parquet with the ID column ``qc.id_column`` or else
    ``id_column``, or PLINK) and run the genotype QC with the cleaned pedigree
    (``pedigree_path``, results/clean/pedigree.parquet) when there is one. Logs counts in and
    out per reason, timings and every warning."""
    settings = qc if isinstance(qc, QCSettings) else QCSettings.from_config(qc)
    source = genotype_source(genotypes_path)
    start = time.perf_counter()
    genotypes = read_genotypes(
        genotypes_path, id_column=settings.id_column or id_column, missing_codes=settings.missing_codes
    )
    n, m = genotypes.shape
    log.info("genotypes: %d animals × %d SNPs read from %s (%s, %.1f s)", n, m, source.name, source.kind,
             time.perf_counter() - start)
    pedigree = None if pedigree_path is None else pd.read_parquet(pedigree_path, columns=["id", "sire", "dam"])
    start = time.perf_counter()
    result = qc_genotypes(genotypes, settings, pedigree=pedigree, source=source.name)
    removed = result.summary["removed"]
    for kind in ("snp", "animal"):
        for reason, count in removed[kind].items():
            log.info("genotype QC: %d %s(s) removed: %s", count, "SNP" if kind == "snp" else "animal", reason)
    kept = result.summary["kept"]
    log.info("genotype QC: kept %d of %d animals and %d of %d SNPs (%.1f s)", kept["animals"], n, kept["snps"], m,
             time.perf_counter() - start)
    for warning in result.summary["warnings"]:
        log.warning("%s", warning)
    if kept["animals"] == 0 or kept["snps"] == 0:
        log.warning("genotype QC left no %s; see results/clean/genotypes_rejected.parquet",
                    "animals" if kept["animals"] == 0 else "SNPs")
    return result


def genotypes_meta(genotypes_path: str | Path) -> dict[str, Any]:
    """Sidecar metadata of the kept matrix: the input files and their SHA-256 digests."""
    source = genotype_source(genotypes_path)
    return {"input": str(genotypes_path), "format": source.kind,
            "input_digest": {Path(f).name: file_digest(f) for f in source.files}}
