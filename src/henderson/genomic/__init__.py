"""Genomic relationships: VanRaden's G, blending and tuning, A22 and A22⁻¹ from the pedigree
(Colleau's indirect method), single-step H⁻¹, APY and SNP effects back-solved from GEBV.

Inputs are plain arrays: genotype codes as an int8 matrix (n_genotyped × m; 0/1/2 copies of the
counted allele, −1 missing) with the genotyped IDs in row order; the pedigree as a sorted
:class:`henderson.pedigree.Pedigree` or the relationships stage's A⁻¹ + IDs
(:class:`henderson.stages.relationships.Relationships`).

Modules: `options` (`GenomicOptions`; G* = blend, tune, ridge), `vanraden` (p, G), `dense`
(Cholesky inverse and log-determinant; `blocked`: the same tile by tile for large matrices),
`pedigree_block` (A22, A22⁻¹), `apy` (G_APY⁻¹),
`singlestep` (H⁻¹, log|H|, diag(H)), `relationships` (the `Relationship` constructors),
`snp_effects`.

The dense n_g × n_g blocks of K⁻¹ (G*⁻¹; G*⁻¹ − A22⁻¹ for single step) are kept as
:class:`henderson.dense_block.DenseBlock` beside the sparse part of the relationship, never stored
in a sparse matrix unless an exact solver merges them.
"""

from henderson.genomic.apy import APYInverse, apy_core_size, apy_inverse, choose_core
from henderson.genomic.dense import cholesky_inverse, cholesky_logdet
from henderson.genomic.options import (
    GenomicOptions,
    TuneStats,
    adjust_g,
    tuning_coefficients,
)
from henderson.genomic.pedigree_block import PedigreeBlocks, pedigree_blocks
from henderson.genomic.relationships import (
    dense_as_csc,
    genomic_inverse,
    genomic_relationship,
    single_step_relationship,
    single_step_relationships,
)
from henderson.genomic.singlestep import SingleStep, h_inverse, single_step_parts
from henderson.genomic.snp_effects import snp_effects
from henderson.genomic.vanraden import (
    VanRaden,
    allele_frequencies,
    check_codes,
    vanraden_g,
)

__all__ = [
    "APYInverse",
    "GenomicOptions",
    "PedigreeBlocks",
    "SingleStep",
    "TuneStats",
    "VanRaden",
    "adjust_g",
    "allele_frequencies",
    "apy_core_size",
    "apy_inverse",
    "check_codes",
    "cholesky_inverse",
    "cholesky_logdet",
    "choose_core",
    "dense_as_csc",
    "genomic_inverse",
    "genomic_relationship",
    "h_inverse",
    "pedigree_blocks",
    "single_step_parts",
    "single_step_relationship",
    "single_step_relationships",
    "snp_effects",
    "tuning_coefficients",
    "vanraden_g",
]
