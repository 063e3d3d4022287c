"""Rule clean_phenotypes: check the phenotype table for every model, compare its dams and sexes
with the cleaned pedigree; gather all rejected rows."""

import json

import pandas as pd

from henderson.io import write_csv, write_json, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.clean import clean_phenotypes_stage, summarise_clean

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], "clean_phenotypes"):
    # a named input list tests membership on file names, so `"pedigree" in sm.input` is False
    pedigree_path = sm.input.get("pedigree")
    result = clean_phenotypes_stage(
        sm.input.phenotypes,
        id_column=sm.params.id_column,
        models=sm.params.models,
        phenotype_columns=sm.params.phenotype_columns,
        pedigree_path=pedigree_path,
        pedigree_file=sm.params.pedigree_file,
        unknown_parent=sm.params.unknown_parent,
        sex_column=sm.params.sex_column,
        sex_codes=sm.params.sex_codes,
    )
    pedigree = None
    if pedigree_path is not None:
        with open(sm.input.pedigree_summary, encoding="utf-8") as handle:
            pedigree = (pd.read_parquet(sm.input.pedigree_rejected), json.load(handle))
    rejected, summary = summarise_clean(pedigree, result)
    write_parquet(result.table, sm.output.phenotypes)
    write_parquet(rejected, sm.output.rejected)
    write_csv(rejected, sm.output.rejected_csv)
    write_json(summary, sm.output.summary)
