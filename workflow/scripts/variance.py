"""Rule variance: REML variance components (or the given values) for one model."""

from henderson.io import write_json, write_parquet
from henderson.pipeline import load_model, variance_stage
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"variance {sm.wildcards.model}"):
    spec, model = load_model(
        sm.wildcards.model,
        sm.params.model,
        id_column=sm.params.id_column,
        unknown_parent=sm.params.unknown_parent,
        phenotypes_path=sm.input.phenotypes,
        ainv_path=sm.input.get("ainv"),
        inbreeding_path=sm.input.get("inbreeding"),
        source=sm.params.phenotypes_file,
    )
    components, trace = variance_stage(spec, model)
    write_json(components, sm.output.components)
    write_parquet(trace, sm.output.trace)
