"""The evaluation's stages as public functions: each workflow rule calls one of them.

    clean_pedigree_stage → clean_phenotypes_stage → relationships_stage → mme_stage → report_stage

Each takes paths and plain parameters, returns what the rule writes, and is usable without
Snakemake (see `run_evaluation` for the composition used in tests and notebooks).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson import __version__
from henderson.clean import (
    CleanedPedigree,
    CleanedPhenotypes,
    ModelColumns,
    check_model_columns,
    clean_pedigree,
    clean_phenotypes,
    clean_summary,
    combine_rejected,
    model_records,
)
from henderson.design import additive_design, fixed_design, iid_design
from henderson.errors import InputError
from henderson.io import file_digest, read_table
from henderson.mme import MMESolution, build_mixed_model, solutions_table, solve_mme
from henderson.model import ModelSpec
from henderson.pedigree import ainv, inbreeding, pedigree_summary, sort_pedigree

log = logging.getLogger("henderson")


def _columns(models: Mapping[str, Mapping]) -> dict[str, ModelColumns]:
    return {
        name: ModelColumns(
            traits=tuple(c["traits"]), classes=tuple(c["classes"]), covariates=tuple(c["covariates"])
        )
        for name, c in models.items()
    }


def model_columns_params(models: Mapping[str, ModelSpec]) -> dict[str, dict[str, list[str]]]:
    """The columns each model reads, as plain data (a rule param of the clean stage)."""
    return {
        name: {
            "traits": list(spec.columns.traits),
            "classes": list(spec.columns.classes),
            "covariates": list(spec.columns.covariates),
        }
        for name, spec in models.items()
    }


def clean_pedigree_stage(
    pedigree_path: str | Path,
    phenotypes_path: str | Path,
    *,
    id_column: str,
    unknown_parent: tuple[str, ...] | list[str],
) -> CleanedPedigree:
    """Check the pedigree; add parents and phenotyped animals missing from it as founders."""
    start = time.perf_counter()
    raw = read_table(pedigree_path)
    phen = read_table(phenotypes_path)
    if id_column not in phen.columns:
        raise InputError(
            f"{phenotypes_path}: no id column '{id_column}'; columns are {list(phen.columns)}. "
            "Set `id_column:` in the config."
        )
    ids = phen[id_column]
    result = clean_pedigree(
        raw, source=Path(pedigree_path).name, unknown_parent=list(unknown_parent), phenotype_ids=ids[ids != ""]
    )
    log.info("pedigree: %d animals after cleaning (%.2f s)", len(result.table), time.perf_counter() - start)
    return result


def clean_phenotypes_stage(
    phenotypes_path: str | Path, *, id_column: str, models: Mapping[str, Mapping]
) -> CleanedPhenotypes:
    """Check the phenotype table against every model's columns; find each model's rejected rows."""
    raw = read_table(phenotypes_path)
    columns = _columns(models)
    source = Path(phenotypes_path).name
    check_model_columns(list(raw.columns), source=source, id_column=id_column, models=columns)
    result = clean_phenotypes(raw, source=source, id_column=id_column, models=columns)
    log.info("phenotypes: %d rows read, %d kept", len(raw), len(result.table))
    return result


def summarise_clean(
    pedigree: tuple[pd.DataFrame, dict] | None, phenotypes: CleanedPhenotypes
) -> tuple[pd.DataFrame, dict]:
    """All rejected rows (pedigree and phenotypes) and the clean stage's summary."""
    if pedigree is None:
        rejected = combine_rejected(phenotypes.rejected)
        return rejected, clean_summary(None, phenotypes)
    ped_rejected, ped_summary = pedigree
    cleaned = CleanedPedigree(table=pd.DataFrame(), rejected=ped_rejected, summary=ped_summary)
    return combine_rejected(ped_rejected, phenotypes.rejected), clean_summary(cleaned, phenotypes)


@dataclass(frozen=True)
class Relationships:
    """A⁻¹ (n × n, in `ids` order: parents before offspring), inbreeding (n,), pedigree summary."""

    ids: np.ndarray
    ainv: sp.csc_matrix
    inbreeding: np.ndarray
    summary: dict


def relationships_stage(pedigree: pd.DataFrame) -> Relationships:
    """Sort the cleaned pedigree, compute inbreeding and build A⁻¹ directly (never inverting A)."""
    start = time.perf_counter()
    sires = pedigree["sire"].where(pedigree["sire"].notna(), None)
    dams = pedigree["dam"].where(pedigree["dam"].notna(), None)
    ped = sort_pedigree(pedigree["id"].astype(str).to_numpy(), sires.to_numpy(), dams.to_numpy())
    f = inbreeding(ped)
    log.info("inbreeding: %d animals, mean F %.4f (%.2f s)", len(f), float(np.mean(f)) if len(f) else 0.0, time.perf_counter() - start)
    matrix = ainv(ped, f)
    log.info("A-inverse: %d nonzeros (%.2f s)", matrix.nnz, time.perf_counter() - start)
    return Relationships(ids=ped.ids, ainv=matrix, inbreeding=f, summary=pedigree_summary(ped, f))


def relationships_meta(rel: Relationships, pedigree_path: str | Path) -> dict:
    """Sidecar metadata for A⁻¹: ID order, input digest, package version."""
    return {
        "ids": [str(i) for i in rel.ids],
        "input": str(pedigree_path),
        "input_sha256": file_digest(pedigree_path),
        "henderson_version": __version__,
    }


def load_relationships(ainv_path: str | Path, inbreeding_path: str | Path) -> Relationships:
    """Reload A⁻¹ and inbreeding written by the relationships stage; check their ID orders agree."""
    from henderson.io import load_matrix

    matrix, meta = load_matrix(ainv_path)
    table = pd.read_parquet(inbreeding_path)
    ids = np.asarray(meta["ids"], dtype=object)
    if list(table["id"].astype(str)) != list(ids):
        raise InputError(f"{inbreeding_path}: ID order differs from {ainv_path}; rerun the relationships stage.")
    return Relationships(ids=ids, ainv=matrix, inbreeding=table["F"].to_numpy(dtype=float), summary={})


def mme_stage(
    spec: ModelSpec,
    phenotypes: pd.DataFrame,
    *,
    id_column: str,
    relationships: Relationships | None = None,
    source: str = "phenotypes",
) -> tuple[pd.DataFrame, dict]:
    """Solve the model's MME for its given variances.

    Returns the solutions table (trait, effect, level, estimate, se, reliability) and a summary
    (records, unknowns, seconds).
    """
    start = time.perf_counter()
    records, _ = model_records(phenotypes, spec.columns, source=source, model=spec.name, id_column=id_column)
    if len(records) == 0:
        raise InputError(f"model {spec.name}: no records left after cleaning; see results/clean/rejected.parquet.")
    trait = spec.traits[0]
    fixed = fixed_design(records, spec.fixed, spec.covariates)
    random = []
    for effect in spec.random:
        if effect.type == "additive":
            if relationships is None:
                raise InputError(f"model {spec.name}: the additive effect {effect.name} needs a pedigree.")
            random.append(
                additive_design(effect.name, records[id_column], relationships.ids, relationships.ainv, relationships.inbreeding)
            )
        else:
            random.append(iid_design(effect.name, records[effect.column]))
    model = build_mixed_model(trait, records[trait].to_numpy(dtype=float), fixed, tuple(random))
    design_seconds = time.perf_counter() - start
    log.info("model %s: %d records, %d unknowns", spec.name, model.n_records, model.n_unknowns)
    solution: MMESolution = solve_mme(model, spec.variances)
    table = solutions_table(model, spec.variances, solution)
    summary = {
        "model": spec.name,
        "records": model.n_records,
        "unknowns": model.n_unknowns,
        "variances": dict(spec.variances),
        "seconds": round(time.perf_counter() - start, 3),
        "step_seconds": {"records_and_design": round(design_seconds, 3), **{k: round(v, 3) for k, v in solution.seconds.items()}},
    }
    log.info("model %s solved in %.2f s", spec.name, summary["seconds"])
    return table, summary
