"""Genotypes: reading (CSV/Parquet matrix or PLINK), quality control, and the saved matrix.

`read_genotypes` → `qc_genotypes` (with `QCSettings`) → `save_genotypes` / `load_genotypes`.
A `Genotypes` holds IDs, SNP names and an int8 n × m matrix of 0/1/2 allele counts (-1 missing).
"""

from henderson.genotypes.matrix import MISSING, Counts, Genotypes, count
from henderson.genotypes.qc import REJECTED_COLUMNS, QCResult, QCSettings, qc_genotypes
from henderson.genotypes.read import GenotypeSource, genotype_source, read_genotypes
from henderson.genotypes.store import (
    genotype_paths,
    load_genotypes,
    save_genotypes,
    snp_table,
)

__all__ = [
    "MISSING",
    "REJECTED_COLUMNS",
    "Counts",
    "GenotypeSource",
    "Genotypes",
    "QCResult",
    "QCSettings",
    "count",
    "genotype_paths",
    "genotype_source",
    "load_genotypes",
    "qc_genotypes",
    "read_genotypes",
    "save_genotypes",
    "snp_table",
]
