"""Rule clean_genotypes: genotype QC; the kept int8 matrix, what was removed, the summary."""

from henderson.genotypes import save_genotypes
from henderson.io import write_json, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.genotypes import clean_genotypes_stage, genotypes_meta

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], "clean_genotypes"):
    result = clean_genotypes_stage(
        sm.params.genotypes,
        qc=sm.params.qc,
        pedigree_path=sm.input.get("pedigree"),
        id_column=sm.params.id_column,
    )
    prefix = sm.output.matrix.removesuffix(".npy")
    save_genotypes(prefix, result.genotypes, genotypes_meta(sm.params.genotypes))
    write_parquet(result.rejected, sm.output.rejected)
    write_json(result.summary, sm.output.summary)
