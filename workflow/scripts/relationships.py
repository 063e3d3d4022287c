"""Rule relationships: inbreeding and A-inverse from the cleaned pedigree; with `groups:` also
the unknown parent groups and K-inverse over the animals and groups."""

from pathlib import Path

import pandas as pd

from henderson.io import save_matrix, write_json, write_parquet
from henderson.pedigree.groups import groups_spec, without_group_codes
from henderson.rulelog import stage_logging
from henderson.stages.clean import read_pedigree
from henderson.stages.groups import groups_meta, groups_stage, pedigree_with_columns
from henderson.stages.relationships import (
    relationships_meta,
    relationships_stage,
    relationships_table,
)

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], "relationships"):
    cleaned = pd.read_parquet(sm.input.pedigree)
    spec = groups_spec(sm.params.groups)
    if spec is not None:  # check the groups (codes that are animals, empty groups) before any work
        raw = None
        if spec.columns:
            raw, names = read_pedigree(sm.input.raw_pedigree, sm.params.pedigree_columns)
            raw = raw.rename(columns={names["id"]: "id"})
        source = Path(sm.input.get("raw_pedigree", sm.input.pedigree)).name
        genotypes = None
        if spec.estimate_gamma:
            from henderson.genotypes import load_genotypes

            genotypes = load_genotypes(sm.input.genotypes.removesuffix(".npy"), mmap=True)
        groups = groups_stage(pedigree_with_columns(cleaned, raw, spec.columns, source), spec, source=source,
                              genotypes=genotypes)
    rel = relationships_stage(without_group_codes(cleaned, spec))
    meta = relationships_meta(rel, sm.input.pedigree)
    save_matrix(sm.output.ainv, rel.ainv, meta)
    write_parquet(relationships_table(rel), sm.output.inbreeding)
    write_json(rel.summary, sm.output.summary)
    if spec is not None:
        extra = {k: meta[k] for k in ("input", "input_sha256", "henderson_version")}
        save_matrix(sm.output.ainv_groups, groups.kinv, groups_meta(groups, extra))
        write_parquet(groups.table, sm.output.group_pedigree)
        write_parquet(groups.groups, sm.output.groups)
