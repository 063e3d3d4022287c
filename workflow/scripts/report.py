"""Rule report: the model's self-contained HTML report."""

import json

import pandas as pd

from henderson.pipeline import variances_from_json
from henderson.report import render_report, write_report
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


with stage_logging(sm.log[0], f"report {sm.wildcards.model}"):
    has_pedigree = "pedigree" in sm.input.keys()
    components = read_json(sm.input.components)
    estimated = components["method"] != "none"
    html = render_report(
        model_name=sm.wildcards.model,
        model=sm.params.model,
        variances=variances_from_json(components),
        solutions=pd.read_parquet(sm.input.solutions),
        clean_summary=read_json(sm.input.clean_summary),
        rejected=pd.read_parquet(sm.input.rejected),
        relationships_summary=read_json(sm.input.relationships) if has_pedigree else None,
        inbreeding=pd.read_parquet(sm.input.inbreeding) if has_pedigree else None,
        pedigree=pd.read_parquet(sm.input.pedigree) if has_pedigree else None,
        variance_components=components if estimated else None,
        trace=pd.read_parquet(sm.input.trace) if estimated else None,
    )
    write_report(html, sm.output.html)
