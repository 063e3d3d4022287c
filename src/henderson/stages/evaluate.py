"""The evaluation stage of one model: build the model once, estimate its variance components
(REML) or take the given ones, and solve its equations at them with the same factorisation."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from henderson.clean import model_records
from henderson.config import ModelSpec
from henderson.covariance import VarianceComponents
from henderson.design import (
    RandomEffect,
    additive_effect,
    check_labels,
    iid_effect,
    maternal_effect,
)
from henderson.errors import ConfigError, InputError
from henderson.model import MixedModel
from henderson.model import build_model as build_mixed_model
from henderson.relationship_groups import constrain_effects
from henderson.reml import (
    ConvergenceCriteria,
    REMLFit,
    components_json,
    default_start,
    estimate,
    given_components_json,
)
from henderson.reml.objective import Objective
from henderson.reml.stochastic import (
    analysed_reml_solver,
    estimate_stochastic,
    pcg_options,
    split_reml_options,
)
from henderson.solutions import solve
from henderson.solvers import dense_note
from henderson.stages.genomic import (
    GenomicKinship,
    g_against_a22,
    genomic_kinship,
    genotyped_records,
    model_snp_effects,
    read_genotypes,
)
from henderson.stages.relationships import Relationships, load_relationships

log = logging.getLogger("henderson")


def build_model(
    spec: ModelSpec,
    phenotypes: pd.DataFrame,
    *,
    id_column: str,
    relationships: Relationships | None = None,
    unknown_parent: tuple[str, ...] | list[str] = ("0",),
    source: str = "phenotypes",
    genomic: GenomicKinship | None = None,
) -> MixedModel:
    """The model's records (as the clean stage selected them), X per trait and one random term
    per relationship: the additive effect with its maternal effect (K = A), each iid effect
    alone (K = I). A dam coded as unknown (`unknown_parent`) gives the record no maternal
    effect; a missing level of an iid or maternal effect with `missing: keep` gives the record no
    level of that effect (a zero row of Z; the clean stage kept the record). An iid effect with
    fewer than two levels among the records is refused when its variance is to be estimated.
    A genomic or single-step additive effect takes K from `genomic`
    (:func:`henderson.stages.genomic.genomic_kinship`); GBLUP keeps the records of genotyped
    animals only."""
    check_labels(spec.fixed, spec.covariates, [e.name for e in spec.random], where=f"models.{spec.name}")
    records, _ = model_records(phenotypes, spec.columns, source=source, model=spec.name, id_column=id_column)
    if len(records) == 0:
        raise InputError(f"model {spec.name}: no records left after cleaning; see results/clean/rejected.parquet.")
    if spec.relationship != "pedigree" and genomic is None:
        raise ConfigError(f"model {spec.name}: `relationship: {spec.relationship}` needs genotypes; set `genotypes:`.")
    if spec.relationship == "genomic":
        records = genotyped_records(spec, records, id_column, genomic)
    for effect in spec.random:
        if effect.type != "iid" or spec.estimate == "none":
            continue
        levels = pd.unique(records[effect.column].dropna().astype(str))
        if len(levels) < 2:
            which = f"one level ('{levels[0]}')" if len(levels) else "no level"
            raise ConfigError(
                f"models.{spec.name}.random.{effect.name}: column '{effect.column}' has {which} in "
                f"the model's {len(records)} records: the variance of a random effect with a single "
                "level cannot be estimated (it is one draw, confounded with the mean). Remove the "
                "effect from `random` (or give its variance with `estimate: none`)."
            )
    kinship = None
    terms: list[list[RandomEffect]] = []
    for group in spec.terms:
        effects = []
        for effect in group:
            if effect.type in ("additive", "maternal") and genomic is not None:
                kinship = genomic.kinship
            elif effect.type in ("additive", "maternal"):
                if relationships is None:
                    raise ConfigError(
                        f"model {spec.name}: the {effect.type} effect {effect.name} needs a pedigree; set "
                        "`pedigree:` in the config."
                    )
                kinship = kinship or relationships.relationship()
            if effect.kind == "sire":  # a sire model: the sire of each record, K = A among pedigree animals
                sires = records[effect.column].astype(object)
                sires = sires.where(~sires.astype(str).isin(list(unknown_parent)), None)
                sire = additive_effect(effect.name, sires, kinship)
                incidence = sire.incidence
                if effect.mgs is not None:  # sire–maternal-grandsire model: y = … + s + ½ mgs
                    mgs = records[effect.mgs].astype(object)
                    mgs = mgs.where(~mgs.astype(str).isin(list(unknown_parent)), None)
                    incidence = incidence + 0.5 * additive_effect(effect.name, mgs, kinship).incidence
                effects.append(RandomEffect(sire.name, "sire", incidence.tocsr(), sire.relationship))
            elif effect.type == "additive":
                effects.append(additive_effect(effect.name, records[id_column], kinship))
            elif effect.type == "maternal":
                dams = records[effect.column].astype(object)
                dams = dams.where(~dams.astype(str).isin(list(unknown_parent)), None)
                effects.append(maternal_effect(effect.name, dams, kinship))
            else:
                effects.append(iid_effect(effect.name, records[effect.column]))
        terms.append(effects)
    terms = [constrain_effects(effects) for effects in terms]  # fixed genetic groups: reference, no data
    fixed = {t: (spec.trait_fixed.get(t, spec.fixed), spec.trait_covariates.get(t, spec.covariates)) for t in spec.traits}
    weights = records[spec.weights].to_numpy(dtype=float) if spec.weights else None
    model = build_mixed_model(records, spec.traits, fixed, terms, weights=weights, id_column=id_column)
    log.info(
        "model %s: %d records, %d observed values of %d trait(s), %d unknowns",
        spec.name, model.n_records, model.n_observed, model.n_traits, model.n_unknowns,
    )
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
    groups_ainv_path: str | Path | None = None,
    group_pedigree_path: str | Path | None = None,
    genotypes_prefix: str | Path | None = None,
) -> tuple[ModelSpec, MixedModel, GenomicKinship | None]:
    """Validate a model's config block and build its `MixedModel` from the clean stage's
    phenotypes and (for pedigree models) the relationships stage's A⁻¹ and inbreeding (with
    unknown parent groups: its `ainv_groups.npz` and `group_pedigree.parquet`), and for a genomic
    or single-step model the clean genotypes under `genotypes_prefix` (their `GenomicKinship` is
    returned third, None otherwise)."""
    from henderson.config import model_from_dict

    spec = model_from_dict(name, block, id_column=id_column, has_pedigree=ainv_path is not None,
                           has_genotypes=genotypes_prefix is not None)
    relationships = (load_relationships(ainv_path, inbreeding_path, groups_ainv_path, group_pedigree_path)
                     if ainv_path is not None else None)
    genomic = None
    if spec.relationship != "pedigree":
        genomic = genomic_kinship(spec, read_genotypes(genotypes_prefix), relationships)
    model = build_model(
        spec,
        pd.read_parquet(phenotypes_path),
        id_column=id_column,
        relationships=relationships,
        unknown_parent=unknown_parent,
        source=source,
        genomic=genomic,
    )
    return spec, model, genomic


@dataclass(frozen=True, eq=False)
class Evaluated:
    """What the evaluation of one model writes: `variance_components.json` (content), the REML
    trace, the solutions table and `mme_summary.json`; the typed components and fit record."""

    components_json: dict
    trace: pd.DataFrame
    solutions: pd.DataFrame
    summary: dict
    components: VarianceComponents
    fit: REMLFit | None
    snp_effects: pd.DataFrame | None = None


def start_values(spec: ModelSpec, model: MixedModel, criteria: ConvergenceCriteria) -> VarianceComponents:
    """REML starting values: the config's values where given, the default elsewhere (for
    several traits the default costs a one-trait fit per trait, skipped when all are given)."""
    layout = model.layout
    given = dict(spec.variances)
    try:
        return VarianceComponents.from_named(layout, given, "REML starting values")
    except ConfigError:
        pass
    if model.n_traits > 1:
        log.info("model %s: starting values from one-trait REML fits of each trait", spec.name)
    named = default_start(model, criteria=criteria, logger=log).named()
    named.update(given)
    return VarianceComponents.from_named(layout, named, "REML starting values")


def evaluate_stage(
    spec: ModelSpec,
    model: MixedModel,
    *,
    name: str | None = None,
    memory_mb: float | None = None,
    previous: tuple[pd.DataFrame, int] | None = None,
    genomic: GenomicKinship | None = None,
) -> Evaluated:
    """Variance components (REML by `spec.estimate` = "ai" or "em", or the given values for
    "none") and the solutions at them, from one model build and, at the estimates, the last
    factorisation of the fit (no second one; with given values, the one factorisation gives
    solutions, PEV and logL). With given values the equations are solved by `spec.solver`
    (`auto` decides from the predicted factor and `memory_mb`, the memory given to the stage);
    REML uses the exact solver, or PCG with sampled traces (`solver: pcg`, or `auto` when the
    factor would not fit: :mod:`henderson.reml.stochastic`). `previous`: (solutions table, PCG
    iterations) of an earlier run of this model, a warm start for PCG; the log says how many
    iterations it saved. `genomic`: the model's genomic relationships, for the SNP effects
    back-solved from its GEBV."""
    name = name or spec.name
    clock = time.perf_counter()
    if spec.estimate == "none":
        components = VarianceComponents.from_named(model.layout, spec.variances, f"models.{name}.variances")
        components.check_inside(f"models.{name}.variances")
        options = {}
        if spec.solver in ("pcg", "auto"):
            options = {"tol": spec.pcg.get("tolerance", 1e-10), "max_iter": spec.pcg.get("max_iterations", 10_000)}
        warm = previous[0] if previous is not None else None
        solved = solve(model, components, solver=spec.solver, memory_mb=memory_mb, warm_start=warm,
                       reliability=spec.reliability, samples=spec.samples, **options)
        log.info("model %s: %s", name, solved.solver["reason"])
        if solved.solver["name"] == "pcg":
            log.info("model %s: solutions by PCG in %d iterations, relative residual %.2e (%s s); reliabilities: "
                     "%s", name, solved.solver["iterations"], solved.solver["relative_residual"], solved.seconds,
                     solved.solver["reliability"]["method"])
            if "warm_start" in solved.solver and previous is not None:
                before = int(previous[1])
                solved.solver["warm_start"]["previous_iterations"] = before
                log.info("model %s: warm start from the previous solutions (%d of %d unknowns matched): %d "
                         "iterations, %d fewer than the previous run's %d", name,
                         solved.solver["warm_start"]["unknowns_matched"], solved.solver["warm_start"]["unknowns"],
                         solved.solver["iterations"], before - solved.solver["iterations"], before)
        else:
            log.info("model %s: solutions, PEV and logL from one factorisation (%s s)", name, solved.seconds)
        fit = None
        content = given_components_json(components, solved.log_likelihood)
        trace = pd.DataFrame({"iteration": pd.Series(dtype="int64"), "step": pd.Series(dtype="str"),
                              "log_likelihood": pd.Series(dtype=float)})
    else:
        criteria, mc = split_reml_options(spec.reml)
        start = start_values(spec, model, criteria)
        reml_on, reason, factor = analysed_reml_solver(model, spec.solver, memory_mb)
        log.info("model %s: REML on %s", name, reason)
        if reml_on == "pcg":
            fit, objective, theta = estimate_stochastic(model, start, method=spec.estimate, criteria=criteria, mc=mc,
                                                        pcg=pcg_options(spec.pcg), logger=log)
        else:
            fit, objective, theta = estimate(model, start, method=spec.estimate, criteria=criteria, logger=log,
                                             factor=factor)
        components = fit.components
        solved = solve(model, components, objective=objective, theta=theta, reliability=spec.reliability,
                       samples=spec.samples)
        inner = getattr(objective, "inner", objective)
        note = dense_note(inner.equations) if isinstance(inner, Objective) else ""
        if note:
            log.info("model %s: REML%s", name, note)
        solved.solver["reason"] = reason + note
        log.info("model %s: solutions%s at the estimates from the fit's last solve (%s s)", name,
                 "" if reml_on == "pcg" else " and PEV", solved.seconds)
        content = components_json(fit)
        trace = fit.trace
    zero = [p.name for p, v in zip(components.layout.parameters, components.theta) if p.is_variance and v <= 0]
    for parameter in zero:
        log.warning("model %s: %s is zero (REML boundary); its solutions are 0", name, parameter)
    named = components.to_json()
    variances = dict(named["variances"])
    variances.update(named.get("covariances", {}))
    summary = {
        "model": name,
        "records": model.n_records,
        "observed_values": model.n_observed,
        "unknowns": model.n_unknowns,
        "variances": variances,
        "log_likelihood": solved.log_likelihood,
        "solver": solved.solver,
        "reliability": solved.solver.get("reliability"),
        "seconds": round(time.perf_counter() - clock, 3),
        "step_seconds": solved.seconds,
    }
    effects = None
    if genomic is not None:
        additive = spec.additive.name
        effects = model_snp_effects(additive, solved.table, genomic)
        summary["relationship"] = {
            "kind": genomic.kinship.kind,
            "levels": genomic.kinship.q,
            "genotyped": genomic.genomic.q,
            "snps": int(np.shape(genomic.genotypes.codes)[1]),
            "log_det": genomic.kinship.logdet,
            "options": dict(spec.genomic),
            "warnings": [*genomic.kinship.notes, *genomic.warnings],
        }
        if genomic.pedigree is not None:
            codes, ids = np.asarray(genomic.genotypes.codes), np.asarray(genomic.genotypes.ids, dtype=object)
            summary["relationship"]["g_vs_a22"] = g_against_a22(codes, ids, genomic.pedigree)
        log.info("model %s: %d SNP effects back-solved from the GEBV of %d genotyped animals", name,
                 effects["snp"].nunique(), genomic.genomic.q)
    log.info("model %s: evaluated in %.2f s", name, summary["seconds"])
    return Evaluated(content, trace, solved.table, summary, components, fit, effects)


WARM_START = ".warm_start.parquet"


def read_warm_start(folder: str | Path) -> tuple[pd.DataFrame, int] | None:
    """The solutions and PCG iterations an earlier run left in `folder` (:func:`write_warm_start`),
    or None. The file is not a declared output of the rule, so a rerun still finds it."""
    path = Path(folder) / WARM_START
    if not path.exists():
        return None
    table = pd.read_parquet(path)
    if not {"trait", "effect", "level", "estimate", "iterations"} <= set(table.columns) or table.empty:
        return None
    return table, int(table["iterations"].iloc[0])


def write_warm_start(folder: str | Path, result: Evaluated) -> None:
    """Keep the solutions of a PCG run (and its iterations) as the next run's starting point."""
    if result.summary["solver"].get("name") != "pcg":
        return
    start = result.solutions[["trait", "effect", "level", "estimate"]].copy()
    start["iterations"] = int(result.summary["solver"]["iterations"])
    start.to_parquet(Path(folder) / WARM_START, index=False)
