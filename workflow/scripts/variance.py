"""Rule variance: REML variance components (or the given values) for one model."""

import pandas as pd

from henderson.io import write_json, write_parquet
from henderson.model import model_from_dict
from henderson.pipeline import build_model, load_relationships, variance_stage
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"variance {sm.wildcards.model}"):
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
    components, trace = variance_stage(spec, model)
    write_json(components, sm.output.components)
    write_parquet(trace, sm.output.trace)
