"""Rule variance: variance components (REML or the given values) and the solutions at them.

A PCG solve leaves its solutions in `results/<model>/.warm_start.parquet` (not a declared output,
so a rerun finds it) as the starting point of the next run."""

from pathlib import Path

from henderson.io import write_json, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.evaluate import (
    evaluate_stage,
    load_model,
    read_warm_start,
    write_warm_start,
)

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"variance {sm.wildcards.model}"):
    genotypes = sm.input.get("genotypes")
    spec, model, genomic = load_model(
        sm.wildcards.model,
        sm.params.model,
        id_column=sm.params.id_column,
        unknown_parent=sm.params.unknown_parent,
        phenotypes_path=sm.input.phenotypes,
        ainv_path=sm.input.get("ainv"),
        inbreeding_path=sm.input.get("inbreeding"),
        source=sm.params.phenotypes_file,
        groups_ainv_path=sm.input.get("ainv_groups"),
        group_pedigree_path=sm.input.get("group_pedigree"),
        genotypes_prefix=genotypes.removesuffix(".npy") if genotypes else None,
    )
    folder = Path(sm.output.solutions).parent
    result = evaluate_stage(spec, model, memory_mb=sm.resources.get("mem_mb"), previous=read_warm_start(folder),
                            genomic=genomic)
    write_json(result.components_json, sm.output.components)
    write_parquet(result.trace, sm.output.trace)
    write_parquet(result.solutions, sm.output.solutions)
    write_json(result.summary, sm.output.summary)
    if sm.output.get("snp_effects"):
        write_parquet(result.snp_effects, sm.output.snp_effects)
    write_warm_start(folder, result)
