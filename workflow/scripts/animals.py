"""Rule animals: the per-animal table (Parquet and CSV) and a CSV copy of the solutions."""

from henderson.io import write_csv, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.animals import animals_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], f"animals {sm.wildcards.model}"):
    animals, solutions = animals_stage(
        sm.wildcards.model,
        sm.params.model,
        id_column=sm.params.id_column,
        solutions_path=sm.input.solutions,
        phenotypes_path=sm.input.phenotypes,
        pedigree_path=sm.input.get("pedigree"),
        inbreeding_path=sm.input.get("inbreeding"),
        source=sm.params.phenotypes_file,
    )
    write_parquet(animals, sm.output.animals)
    write_csv(animals, sm.output.animals_csv)
    write_csv(solutions, sm.output.solutions_csv)
