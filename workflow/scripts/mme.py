"""Rule mme: solve one model's mixed model equations; write solutions with se and reliability."""

import json

from henderson.io import write_json, write_parquet
from henderson.pipeline import load_model, mme_stage, variances_from_json
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"mme {sm.wildcards.model}"):
    _, model = load_model(
        sm.wildcards.model,
        sm.params.model,
        id_column=sm.params.id_column,
        unknown_parent=sm.params.unknown_parent,
        phenotypes_path=sm.input.phenotypes,
        ainv_path=sm.input.get("ainv"),
        inbreeding_path=sm.input.get("inbreeding"),
        source=sm.params.phenotypes_file,
    )
    with open(sm.input.components, encoding="utf-8") as handle:
        variances = variances_from_json(json.load(handle))
    table, summary = mme_stage(model, variances, name=sm.wildcards.model)
    write_parquet(table, sm.output.solutions)
    write_json(summary, sm.output.summary)
