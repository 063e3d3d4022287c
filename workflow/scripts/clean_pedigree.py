"""Rule clean_pedigree: check the pedigree, add missing parents and phenotyped animals."""

from henderson.io import write_json, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.clean import clean_pedigree_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], "clean_pedigree"):
    result = clean_pedigree_stage(
        sm.input.pedigree,
        sm.input.phenotypes,
        id_column=sm.params.id_column,
        unknown_parent=sm.params.unknown_parent,
        sexes=sm.params.sexes,
        group_codes=sm.params.group_codes,
        **sm.params.reading,
    )
    write_parquet(result.table, sm.output.pedigree)
    write_parquet(result.rejected, sm.output.rejected)
    write_json(result.summary, sm.output.summary)
