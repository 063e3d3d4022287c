"""Rule report: the model's self-contained HTML report."""

import json

import pandas as pd

from henderson.config import model_from_dict
from henderson.reml_record import read_components
from henderson.report import collect_run_info, render_report, write_report
from henderson.rulelog import stage_logging

sm = snakemake  # noqa: F821 (injected by Snakemake)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


with stage_logging(sm.log[0], f"report {sm.wildcards.model}"):
    has_pedigree = sm.input.get("pedigree") is not None
    spec = model_from_dict(
        sm.wildcards.model, sm.params.model, id_column=sm.params.id_column, has_pedigree=has_pedigree
    )
    record = read_components(spec.layout(), read_json(sm.input.components))
    # date, input checksums and package versions, collected here so that rendering is deterministic
    run_info = collect_run_info(
        {"pedigree": sm.input.get("pedigree_file") or None, "phenotypes": sm.input.phenotypes_file}
    )
    html = render_report(
        model_name=sm.wildcards.model,
        spec=spec,
        record=record,
        solutions=pd.read_parquet(sm.input.solutions),
        clean_summary=read_json(sm.input.clean_summary),
        rejected=pd.read_parquet(sm.input.rejected),
        relationships_summary=read_json(sm.input.relationships) if has_pedigree else None,
        inbreeding=pd.read_parquet(sm.input.inbreeding) if has_pedigree else None,
        pedigree=pd.read_parquet(sm.input.pedigree) if has_pedigree else None,
        trace=pd.read_parquet(sm.input.trace) if record.estimated else None,
        phenotypes=pd.read_parquet(sm.input.phenotypes),
        id_column=sm.params.id_column,
        run_info=run_info,
        solver=read_json(sm.input.mme_summary).get("solver"),
        groups=pd.read_parquet(sm.input.groups) if sm.input.get("groups") else None,
        gamma=read_json(sm.input.groups_meta).get("gamma") if sm.input.get("groups_meta") else None,
        gamma_estimate=read_json(sm.input.groups_meta).get("gamma_estimate") if sm.input.get("groups_meta") else None,
        genomic={
            "relationship": read_json(sm.input.mme_summary).get("relationship"),
            "genotype_qc": read_json(sm.input.genotype_qc) if sm.input.get("genotype_qc") else None,
            "effect": spec.additive.name if spec.additive is not None else None,
            "pedigree_solutions": (pd.read_parquet(sm.input.pedigree_solutions)
                                   if sm.input.get("pedigree_solutions") else None),
            "pedigree_model": sm.params.pedigree_model or None,
            "genotyped": (set(pd.read_parquet(sm.input.genotype_ids)["id"].astype(str))
                          if sm.input.get("genotype_ids") else None),
        },
    )
    write_report(html, sm.output.html)
