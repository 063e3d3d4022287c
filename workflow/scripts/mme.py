"""Rule mme: solve one model's mixed model equations; write solutions with se and reliability."""

import pandas as pd

from henderson.io import write_json, write_parquet
from henderson.model import model_from_dict
from henderson.pipeline import load_relationships, mme_stage
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"mme {sm.wildcards.model}"):
    spec = model_from_dict(sm.wildcards.model, sm.params.model, id_column=sm.params.id_column)
    relationships = None
    if "ainv" in sm.input.keys():
        relationships = load_relationships(sm.input.ainv, sm.input.inbreeding)
    table, summary = mme_stage(
        spec,
        pd.read_parquet(sm.input.phenotypes),
        id_column=sm.params.id_column,
        relationships=relationships,
        source=sm.params.phenotypes_file,
    )
    write_parquet(table, sm.output.solutions)
    write_json(summary, sm.output.summary)
