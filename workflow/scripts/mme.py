"""Rule mme: solve one model's mixed model equations; write solutions with se and reliability."""

import json

import pandas as pd

from henderson.io import write_json, write_parquet
from henderson.model import model_from_dict
from henderson.pipeline import build_model, load_relationships, mme_stage, variances_from_json
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"mme {sm.wildcards.model}"):
    spec = model_from_dict(sm.wildcards.model, sm.params.model, id_column=sm.params.id_column)
    relationships = load_relationships(sm.input.ainv, sm.input.inbreeding) if "ainv" in sm.input.keys() else None
    model = build_model(
        spec,
        pd.read_parquet(sm.input.phenotypes),
        id_column=sm.params.id_column,
        relationships=relationships,
        unknown_parent=sm.params.unknown_parent,
        source=sm.params.phenotypes_file,
    )
    with open(sm.input.components, encoding="utf-8") as handle:
        variances = variances_from_json(json.load(handle))
    table, summary = mme_stage(model, variances, name=sm.wildcards.model)
    write_parquet(table, sm.output.solutions)
    write_json(summary, sm.output.summary)
