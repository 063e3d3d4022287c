"""Rule report: the model's self-contained HTML report."""

import json

import pandas as pd

from henderson.report import render_report, write_report
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


with stage_logging(sm.log[0], f"report {sm.wildcards.model}"):
    has_pedigree = "pedigree" in sm.input.keys()
    html = render_report(
        model_name=sm.wildcards.model,
        model=sm.params.model,
        variances=sm.params.model["variances"],
        solutions=pd.read_parquet(sm.input.solutions),
        clean_summary=read_json(sm.input.clean_summary),
        rejected=pd.read_parquet(sm.input.rejected),
        relationships_summary=read_json(sm.input.relationships) if has_pedigree else None,
        inbreeding=pd.read_parquet(sm.input.inbreeding) if has_pedigree else None,
        pedigree=pd.read_parquet(sm.input.pedigree) if has_pedigree else None,
    )
    write_report(html, sm.output.html)
