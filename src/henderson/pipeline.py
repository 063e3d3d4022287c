"""The evaluation's stages as public functions: each workflow rule calls one of them.

    clean_pedigree_stage → clean_phenotypes_stage → relationships_stage
        → build_model → variance_stage → mme_stage → (report: henderson.report.render_report)

Each takes paths, tables or plain parameters and returns what the rule writes; none needs
Snakemake.
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
from henderson.design import additive_design, fixed_design, iid_design, maternal_design
from henderson.errors import InputError, NumericalError
from henderson.io import file_digest, read_table
from henderson.mme import MixedModel, build_mixed_model, solve_with_boundary
from henderson import multitrait
from henderson.model import ModelSpec
from henderson.multitrait import MultiTraitModel
from henderson.pedigree import ainv, inbreeding, pedigree_summary, sort_pedigree
from henderson.reml import (
    ConvergenceCriteria,
    default_start,
    fit_reml,
    parameter_names,
    reml_loglik,
    variance_components_json,
    variance_ratios,
)

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
    cleaned = None
    if pedigree is not None:
        cleaned = CleanedPedigree(table=pd.DataFrame(), rejected=pedigree[0], summary=pedigree[1])
    rejected = combine_rejected(cleaned.rejected if cleaned else None, phenotypes.rejected)
    return rejected, clean_summary(cleaned, phenotypes)


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


def build_model(
    spec: ModelSpec,
    phenotypes: pd.DataFrame,
    *,
    id_column: str,
    relationships: Relationships | None = None,
    unknown_parent: tuple[str, ...] | list[str] = ("0",),
    source: str = "phenotypes",
) -> MixedModel:
    """The model's records (as the clean stage selected them), X, Z and W'W: a `MixedModel`.

    A maternal effect's column holds the dam of each record; a dam coded as unknown
    (`unknown_parent`) gives the record no maternal effect.
    """
    records, _ = model_records(phenotypes, spec.columns, source=source, model=spec.name, id_column=id_column)
    if len(records) == 0:
        raise InputError(f"model {spec.name}: no records left after cleaning; see results/clean/rejected.parquet.")
    random = []
    for effect in spec.random:
        if effect.type in ("additive", "maternal") and relationships is None:
            raise InputError(f"model {spec.name}: the {effect.type} effect {effect.name} needs a pedigree.")
        if effect.type == "additive":
            random.append(
                additive_design(effect.name, records[id_column], relationships.ids, relationships.ainv, relationships.inbreeding)
            )
        elif effect.type == "maternal":
            dams = records[effect.column].astype(object)
            dams = dams.where(~dams.astype(str).isin(list(unknown_parent)), None)
            random.append(
                maternal_design(effect.name, dams, relationships.ids, relationships.ainv, relationships.inbreeding)
            )
        else:
            random.append(iid_design(effect.name, records[effect.column]))
    if spec.multitrait:
        fixed_by_trait = {t: (spec.trait_fixed[t], spec.trait_covariates[t]) for t in spec.traits}
        model = multitrait.build_multitrait_model(spec.traits, records, fixed_by_trait, tuple(random))
        log.info(
            "model %s: %d records, %d observed values of %d traits, %d unknowns",
            spec.name, model.n_records, model.n_observed, model.n_traits, model.n_unknowns,
        )
        return model
    trait = spec.traits[0]
    fixed = fixed_design(records, spec.fixed, spec.covariates)
    groups = []
    for k, effect in enumerate(spec.random):
        if effect.type == "maternal":
            groups[-1] = groups[-1] + (k,)
        else:
            groups.append((k,))
    model = build_mixed_model(trait, records[trait].to_numpy(dtype=float), fixed, tuple(random), tuple(groups))
    log.info("model %s: %d records, %d unknowns", spec.name, model.n_records, model.n_unknowns)
    return model


def load_model(
    name: str,
    block: Mapping,
    *,
    id_column: str,
    unknown_parent: tuple[str, ...] | list[str],
    phenotypes_path: str | Path,
    ainv_path: str | Path | None = None,
    inbreeding_path: str | Path | None = None,
    source: str = "phenotypes",
) -> tuple[ModelSpec, MixedModel]:
    """Validate a model's config block and build its `MixedModel` from the clean stage's
    phenotypes and (for pedigree models) the relationships stage's A⁻¹ and inbreeding."""
    from henderson.model import model_from_dict

    spec = model_from_dict(name, block, id_column=id_column)
    relationships = load_relationships(ainv_path, inbreeding_path) if ainv_path is not None else None
    model = build_model(
        spec,
        pd.read_parquet(phenotypes_path),
        id_column=id_column,
        relationships=relationships,
        unknown_parent=unknown_parent,
        source=source,
    )
    return spec, model


def variance_stage(spec: ModelSpec, model: MixedModel | MultiTraitModel) -> tuple[dict, pd.DataFrame]:
    """Variance components for the model: REML (`spec.estimate` = "ai" or "em") from the given or
    default starting values, or the given values (`"none"`) with their log-likelihood.

    Returns the `variance_components.json` content and the iteration trace.
    """
    if isinstance(model, MultiTraitModel):
        return _multitrait_variances(spec, model)
    if spec.estimate == "none":
        return given_variances(model, spec.variances), pd.DataFrame(
            {"iteration": pd.Series(dtype="int64"), "step": pd.Series(dtype="str"), "log_likelihood": pd.Series(dtype=float)}
        )
    start = default_start(model)
    start.update(spec.variances)
    criteria = ConvergenceCriteria(**spec.reml)
    fit = fit_reml(model, start, method=spec.estimate, criteria=criteria, logger=log)
    for message in fit.messages:
        log.warning("%s", message)
    return variance_components_json(fit), fit.trace


def _multitrait_variances(spec: ModelSpec, model: MultiTraitModel) -> tuple[dict, pd.DataFrame]:
    """Multi-trait counterpart of `variance_stage`: G0 per random effect and R0 as matrices."""
    names = [r.name for r in model.random]
    given = {k: np.asarray(v, dtype=float) for k, v in spec.variances.items()}
    if spec.estimate == "none":
        g0 = {k: given[k] for k in names}
        value = multitrait.loglik(model, g0, given["residual"]).value
        ratios = multitrait.variance_ratios(model, g0, given["residual"])
        components = {
            "method": "none",
            "converged": None,
            "iterations": 0,
            "log_likelihood": value,
            "traits": list(model.traits),
            "variances": {k: v.tolist() for k, v in given.items()},
            "se": {},
            "ratios": {
                label: {key: {"estimate": v["estimate"], "se": None} for key, v in entry.items()}
                for label, entry in ratios.items()
            },
            "boundary": [],
            "messages": [],
        }
        return components, pd.DataFrame({"iteration": pd.Series(dtype="int64")})
    criteria = ConvergenceCriteria(**spec.reml)
    if all(k in given for k in names + ["residual"]):
        start_g0, start_r0 = {k: given[k] for k in names}, given["residual"]
    else:
        log.info("model %s: starting values from univariate REML fits of each trait", spec.name)
        start_g0, start_r0 = multitrait.univariate_start(model, criteria)
        start_g0.update({k: given[k] for k in names if k in given})
        start_r0 = given.get("residual", start_r0)
    fit = multitrait.fit(model, start_g0, start_r0, method=spec.estimate, criteria=criteria, logger=log)
    for message in fit.messages:
        log.warning("%s", message)
    return multitrait.components_json(fit), fit.trace


def given_variances(model: MixedModel, variances: Mapping[str, float]) -> dict:
    """`variance_components.json` content for variances used as given: no estimation, no SEs."""
    names = parameter_names(model)
    value = reml_loglik(model, variances).value
    theta = np.array([float(variances.get(n, 0.0)) for n in names])
    ratios = variance_ratios(model, theta, None)
    return {
        "method": "none",
        "converged": None,
        "iterations": 0,
        "log_likelihood": value,
        "variances": {n: float(variances[n]) for n in names if "." not in n},
        "covariances": {n: float(variances.get(n, 0.0)) for n in names if "." in n},
        "se": {},
        "ratios": {k: {"estimate": v["estimate"], "se": None} for k, v in ratios.items()},
        "boundary": [],
        "messages": [],
    }


def variances_from_json(components: Mapping) -> dict:
    """The flat `{effect: σ², "a.b": σ_ab, "residual": σ²_e}` mapping the MME take (matrices as
    nested lists for a multi-trait model)."""
    if len(components.get("traits", [])) > 1:
        return {k: [[float(x) for x in row] for row in v] for k, v in components["variances"].items()}
    out = {k: float(v) for k, v in components["variances"].items()}
    out.update({k: float(v) for k, v in components.get("covariances", {}).items()})
    return out


def mme_stage(
    model: MixedModel | MultiTraitModel, variances: Mapping, *, name: str = "model"
) -> tuple[pd.DataFrame, dict]:
    """Solve the model's MME for the given (or estimated) variances.

    Returns the solutions table (trait, effect, level, estimate, se, reliability) and a summary
    (records, unknowns, variances, seconds per step).
    """
    start = time.perf_counter()
    if isinstance(model, MultiTraitModel):
        g0 = {r.name: np.asarray(variances[r.name], dtype=float) for r in model.random}
        table = multitrait.solve(model, g0, np.asarray(variances["residual"], dtype=float))
        summary = {
            "model": name,
            "records": model.n_records,
            "observed_values": model.n_observed,
            "unknowns": model.n_unknowns,
            "variances": {k: np.asarray(v).tolist() for k, v in variances.items()},
            "seconds": round(time.perf_counter() - start, 3),
        }
        log.info("model %s solved in %.2f s", name, summary["seconds"])
        return table, summary
    if not float(variances["residual"]) > 0:
        raise NumericalError(
            f"model {name}: the residual variance is zero (REML boundary): the random effects explain "
            "every record, so the model is over-parameterised for these data (e.g. a permanent "
            "environment effect with one record per animal). Remove an effect and rerun."
        )
    table, solution = solve_with_boundary(model, variances)
    for effect in model.random:
        if float(variances[effect.name]) <= 0:
            log.warning("model %s: %s has zero variance (REML boundary); its solutions are 0", name, effect.name)
    summary = {
        "model": name,
        "records": model.n_records,
        "unknowns": model.n_unknowns,
        "variances": dict(variances),
        "seconds": round(time.perf_counter() - start, 3),
        "step_seconds": {k: round(v, 3) for k, v in solution.seconds.items()},
    }
    log.info("model %s solved in %.2f s", name, summary["seconds"])
    return table, summary
