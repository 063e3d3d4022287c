"""Rule relationships: inbreeding and A-inverse from the cleaned pedigree."""

import pandas as pd

from henderson.io import save_matrix, write_json, write_parquet
from henderson.rulelog import stage_logging
from henderson.stages.relationships import (
    relationships_meta,
    relationships_stage,
    relationships_table,
)

sm = snakemake  # noqa: F821 (injected by Snakemake)
with stage_logging(sm.log[0], "relationships"):
    rel = relationships_stage(pd.read_parquet(sm.input.pedigree))
    save_matrix(sm.output.ainv, rel.ainv, relationships_meta(rel, sm.input.pedigree))
    write_parquet(relationships_table(rel), sm.output.inbreeding)
    write_json(rel.summary, sm.output.summary)
