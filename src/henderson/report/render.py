"""One model's report as a self-contained HTML document, and writing it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd

from henderson import __version__
from henderson.clean import model_records
from henderson.config import ModelSpec
from henderson.errors import ConfigError, InputError
from henderson.report.format import fmt_count
from henderson.report.frames import check_solutions
from henderson.report.runinfo import RunInfo
from henderson.report.sections.fixed import fixed_section
from henderson.report.sections.genomic import genomic_section
from henderson.report.sections.groups import groups_section
from henderson.report.sections.inputs import data_section, pedigree_section
from henderson.report.sections.model import equation_section
from henderson.report.sections.provenance import provenance_section
from henderson.report.sections.quality import (
    data_quality_section,
    pedigree_quality_section,
)
from henderson.report.sections.solutions import (
    other_random_section,
    plots_section,
    top_section,
)
from henderson.report.sections.variances import (
    heritabilities,
    reml_section,
    variance_section,
)

if TYPE_CHECKING:
    from henderson.reml_record import ComponentsRecord

logger = logging.getLogger(__name__)

#: The template, package data of ``henderson``.
TEMPLATE = "report.html"
#: The cleaned phenotypes the model's records are selected from (named in error messages).
PHENOTYPES_FILE = "results/clean/phenotypes.parquet"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("henderson", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(
    *,
    model_name: str,
    spec: ModelSpec,
    record: ComponentsRecord,
    solutions: pd.DataFrame,
    clean_summary: dict | None,
    rejected: pd.DataFrame | None,
    relationships_summary: dict | None,
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
    trace: pd.DataFrame | None = None,
    top_n: int = 20,
    phenotypes: pd.DataFrame | None = None,
    id_column: str = "id",
    run_info: RunInfo | None = None,
    solver: dict | None = None,
    groups: pd.DataFrame | None = None,
    gamma: Sequence[Sequence[float]] | None = None,
    gamma_estimate: Mapping[str, Any] | None = None,
    genomic: dict | None = None,
) -> str:
    """Render one model's report as a self-contained HTML document (a string).

    Args:
        model_name: the model's name (its results folder).
        spec: the model (traits, fixed effects and covariates per trait, random effects).
        record: the model's variance components as read by
            :func:`henderson.reml.read_components` on ``spec.layout()``: the report shows its
            components, σ²p, ratios, correlations and standard errors as they are.
        solutions: columns ``trait, effect, level, estimate, se, reliability`` (``se`` and
            ``reliability`` may be NaN or absent).
        clean_summary: the cleaning stage's summary (missing keys are skipped).
        rejected: the cleaning stage's rejected rows (``file, line, id, model, action, reason,
            detail``), or None.
        relationships_summary: pedigree statistics, or None for a model without a pedigree.
        inbreeding: columns ``id, F``, or None.
        pedigree: the cleaned pedigree (``id, sire, dam`` and optionally ``birth_year``,
            ``sex``, ``origin``), or None.
        trace: the REML iteration trace, or None (shown only for estimated components).
        top_n: number of animals in the top list (per trait).
        solver: how the equations were solved (``solver`` of mme_summary.json: name, reason,
            and for PCG its iterations and relative residual), or None.
        phenotypes: the cleaned phenotype table (``results/clean/phenotypes.parquet``); the
            model's records are selected from it with :func:`henderson.clean.model_records`
            for the data-quality tables (skipped when None).
        id_column: the phenotype table's animal ID column.
        run_info: run date, input checksums and package versions for the provenance section
            (a note when None); the only time-dependent input.
        groups: the unknown parent groups (results/relationships/groups.parquet), or None;
            gamma: Γ of metafounders, or None.
            gamma_estimate: how Γ was estimated from the genotypes (the groups metadata's
                ``gamma_estimate``), or None when Γ was given.
        genomic: keyword arguments of
            :func:`henderson.report.sections.genomic.genomic_section` (the genotype QC summary, the
            model's genomic relationship, a pedigree model's solutions), or None.

    Returns:
        The HTML document. Equal inputs give an equal string.

    Raises:
        ConfigError: a bad ``top_n``.
        InputError: a record for another model, or a solutions table without the columns
            trait, effect, level, estimate.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ConfigError(f"report: top_n must be a positive integer, got {top_n!r}.")
    if record.components.layout != spec.layout():
        raise InputError(
            f"report {model_name}: the variance components are for parameters "
            f"{list(record.components.names)}, the model has {list(spec.layout().names)}; rerun "
            "the variance stage."
        )
    sol = check_solutions(solutions)
    clean_summary = clean_summary or {}
    mod = (clean_summary.get("models") or {}).get(model_name) or {}
    records = None
    if phenotypes is not None:
        records, _ = model_records(
            phenotypes, spec.columns, source=PHENOTYPES_FILE, model=model_name, id_column=id_column
        )
    quality, quality_warnings = data_quality_section(spec, records, id_column, mod)

    variances = variance_section(spec, record, model_name)
    if pedigree is not None and groups is not None and not groups.empty:
        # explicit group codes in the parent fields stand for unknown parents, not for sires and dams
        from henderson.pedigree.groups import group_codes_as_unknown

        pedigree = group_codes_as_unknown(pedigree, groups["group"])
    top = top_section(sol, spec, inbreeding, pedigree, int(top_n))
    context: dict[str, Any] = {
        "version": __version__,
        "model_name": model_name,
        "traits": list(spec.traits),
        "equation": equation_section(spec),
        "data": data_section(model_name, clean_summary, rejected),
        "quality": quality,
        "pedigree": pedigree_section(relationships_summary, inbreeding, pedigree),
        "pedigree_quality": pedigree_quality_section(pedigree, sol, spec, records, id_column),
        "variances": variances,
        "reml": reml_section(spec, record, trace),
        "top": top,
        "top_n": int(top_n),
        "plots": plots_section(sol, spec, pedigree),
        "fixed": fixed_section(sol, spec),
        "other": other_random_section(sol, spec),
        "groups": groups_section(sol, groups, gamma, gamma_estimate),
        "genomic": genomic_section(sol, **(genomic or {"relationship": None, "genotype_qc": None})),
        "provenance": provenance_section(model_name, spec, run_info),
    }
    key_figures = []
    if "records" in mod:
        key_figures.append(("records", fmt_count(mod["records"])))
    if "animals_with_records" in mod:
        key_figures.append(("animals with records", fmt_count(mod["animals_with_records"])))
    if relationships_summary and "animals" in relationships_summary:
        key_figures.append(("animals in pedigree", fmt_count(relationships_summary["animals"])))
    key_figures += heritabilities(spec, record)
    if top["tables"]:
        which = f" ({spec.traits[0]})" if spec.multitrait else ""
        key_figures.append((f"top animal{which}", top["tables"][0].rows[0][1]))
    context["key_figures"] = key_figures
    context["banner"] = banner(model_name, record, clean_summary,
                               [*solver_warnings(solver), *quality_warnings, *context["genomic"]["warnings"],
                                *((gamma_estimate or {}).get("warnings") or ())])

    html = _environment().get_template(TEMPLATE).render(**context)
    logger.info("report for model %s: %d characters", model_name, len(html))
    return html


def solver_warnings(solver: dict | None) -> list[str]:
    """How the standard errors and reliabilities were obtained, when not exactly: a solve by PCG
    (iterations, residual) and the reliability method of ``solver["reliability"]``."""
    if not solver:
        return []
    method = (solver.get("reliability") or {}).get("method")
    if solver.get("name") != "pcg" and method in (None, "exact"):
        return []
    residual = solver.get("relative_residual")
    how = (f"The equations were solved by PCG ({solver.get('iterations')} iterations, relative residual "
           f"{residual:.1e})" if residual is not None and solver.get("name") == "pcg" else
           "The equations were solved by PCG" if solver.get("name") == "pcg" else "")
    what = _RELIABILITY_NOTES.get(method, "the solutions have no standard errors or reliabilities")
    reason = (solver.get("reliability") or {}).get("reason")
    if reason:
        what += f" ({reason.rstrip('.')})"
    if method == "sampled":
        what = what.format(**{"samples": "?", "mean_mc_se": float("nan"), **solver["reliability"]})
    return [f"{how}: {what}." if how else what[0].upper() + what[1:] + "."]


_RELIABILITY_NOTES = {
    "approximate": ("standard errors and reliabilities are approximate (effective record contributions "
                    "propagated through the pedigree, not the inverse of the coefficient matrix)"),
    "sampled": ("standard errors and reliabilities are sampled ({samples} simulated data sets; mean Monte "
                "Carlo SE of a reliability {mean_mc_se:.3f}, per animal in reliability_mc_se of the solutions)"),
}


def banner(
    model_name: str, record: ComponentsRecord, clean_summary: dict, data: Sequence[str] = ()
) -> list[str]:
    """What a reader must know before using the results, for the top of the report: a REML fit
    that did not converge, parameters the data cannot separate, estimates at the boundary, the
    clean stage's warnings (``warnings`` of the summary, overall and for this model) and the
    data-quality warnings ``data`` (e.g. many records in singleton contemporary groups)."""
    out = []
    if record.not_identifiable:
        out.append(
            f"The data cannot separate {' and '.join(record.not_identifiable)}: their estimates and the "
            "ratios built on them are not identifiable (see Variances)."
        )
    elif record.estimated and record.converged is False:
        out.append("REML did not converge: the variance components are the last iterate (see REML fit).")
    if record.estimated and record.boundary:
        out.append(
            f"Estimates at the boundary of the parameter space: {', '.join(record.boundary)} (their standard "
            "errors are unreliable; see REML fit)."
        )
    out.extend(str(w) for w in clean_summary.get("warnings", ()))
    model = (clean_summary.get("models") or {}).get(model_name) or {}
    out.extend(str(w) for w in model.get("warnings", ()))
    out.extend(str(w) for w in data)
    return out


def write_report(html: str, path: str | Path) -> None:
    """Write the HTML document as UTF-8 (no newline translation), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(html)
