"""Variance sections: the variances used for the solutions with σ²p and the ratios, and the
REML fit.

Everything shown comes from the typed record (:class:`henderson.reml.ComponentsRecord`): the
components and σ²p from its :class:`henderson.covariance.VarianceComponents`, ratios and
correlations (with their standard errors) from ``record.ratios``, the standard errors of the
components from ``record.se``. Nothing here derives a variance, a ratio or a correlation.

Keys of ``record.ratios`` (see :meth:`VarianceComponents.ratios`): ``h2`` for the additive
effect, ``<effect>_ratio`` for every other effect, ``genetic_correlation`` (additive effect),
``correlation_<effect>`` (other effects), ``residual_correlation`` and ``r_<direct>_<maternal>``;
one trait maps each to ``{"estimate", "se"}``, several traits to ``{trait or "t1.t2": {...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from henderson.config import ModelSpec, RandomEffect
from henderson.covariance import RESIDUAL
from henderson.report.figures import line_plot
from henderson.report.format import (
    DASH,
    Plot,
    Table,
    fmt_count,
    fmt_fixed,
    fmt_ratio,
    fmt_sig,
    is_missing,
    text,
)
from henderson.report.frames import floats

if TYPE_CHECKING:
    from henderson.reml_record import ComponentsRecord

#: Last iterations of the REML trace shown as a table.
TRACE_ROWS = 10

_METHODS = {"ai": "AI-REML", "em": "EM-REML"}


# --------------------------------------------------------------------------------------------
# Keys and labels of the record's ratios
# --------------------------------------------------------------------------------------------


def _is_additive(spec: ModelSpec, name: str) -> bool:
    return spec.additive is not None and spec.additive.name == name


def ratio_key(spec: ModelSpec, effect: RandomEffect) -> str:
    """Key of an effect's variance ratio in ``record.ratios``."""
    return "h2" if _is_additive(spec, effect.name) else f"{effect.name}_ratio"


def ratio_label(spec: ModelSpec, effect: RandomEffect) -> str:
    """h² (additive), m² (maternal) or ``<effect>/σ²p``."""
    if _is_additive(spec, effect.name):
        return "h²"
    return "m²" if effect.type == "maternal" else f"{effect.name}/σ²p"


def correlation_key(spec: ModelSpec, name: str) -> str:
    """Key of the between-trait correlations of an effect (or the residual)."""
    if name == RESIDUAL:
        return "residual_correlation"
    return "genetic_correlation" if _is_additive(spec, name) else f"correlation_{name}"


def cross_key(effect: RandomEffect) -> str:
    """Key of the direct–maternal correlation of a maternal effect."""
    return f"r_{effect.of}_{effect.name}"


def ratio_labels(spec: ModelSpec) -> dict[str, str]:
    """Display label of every ratio key the model's record can have."""
    labels = {ratio_key(spec, e): ratio_label(spec, e) for e in spec.random}
    for e in spec.random:
        if _is_additive(spec, e.name):
            labels[correlation_key(spec, e.name)] = "genetic correlation"
        else:
            labels[correlation_key(spec, e.name)] = f"correlation {e.name}"
        if e.type == "maternal":
            labels[cross_key(e)] = "r_am"
    labels[correlation_key(spec, RESIDUAL)] = "residual correlation"
    return labels


def ratio_entry(ratios: Mapping[str, Any], key: str, sub: str | None = None) -> tuple[Any, Any]:
    """(estimate, se) of ``ratios[key]`` (one trait) or ``ratios[key][sub]`` (several traits);
    (None, None) when the record has none."""
    block = ratios.get(key)
    if sub is not None:
        block = block.get(sub) if isinstance(block, Mapping) else None
    if not isinstance(block, Mapping):
        return None, None
    return block.get("estimate"), block.get("se")


def _sub(spec: ModelSpec, trait: str | None = None, other: str | None = None) -> str | None:
    """The sub-key of a ratio: None (one trait), a trait, or ``"t1.t2"`` for a trait pair."""
    if not spec.multitrait:
        return None
    return trait if other is None else f"{trait}.{other}"


def method_name(record: ComponentsRecord) -> str:
    """``AI-REML``, ``EM-REML`` or the record's method as written."""
    return _METHODS.get(str(record.method), str(record.method))


def heritabilities(spec: ModelSpec, record: ComponentsRecord) -> list[tuple[str, str]]:
    """(label, h²) per trait for the key figures; none without an additive effect."""
    if spec.additive is None:
        return []
    out = []
    for trait in spec.traits:
        estimate, _ = ratio_entry(record.ratios or {}, "h2", _sub(spec, trait))
        out.append((f"h² {trait}" if spec.multitrait else "h²", fmt_ratio(estimate)))
    return out


# --------------------------------------------------------------------------------------------
# Variances used for the solutions
# --------------------------------------------------------------------------------------------


def _matrix_table(caption: str, matrix: np.ndarray, traits: Sequence[str], fmt) -> Table:
    rows = tuple((t, *(fmt(v) for v in matrix[i])) for i, t in enumerate(traits))
    return Table(caption, ("", *traits), rows, (False, *[True] * len(traits)))


def _correlations(
    spec: ModelSpec, ratios: Mapping[str, Any], key: str, variances: np.ndarray | None
) -> np.ndarray:
    """The record's correlations as a t × t matrix (object dtype, None where absent).

    With ``variances`` (a symmetric matrix's diagonal) the record holds the upper triangle: it
    is mirrored and the diagonal is 1 where the variance is positive. Without, every element is
    looked up (a direct (rows) × maternal (columns) matrix)."""
    traits = spec.traits
    t = len(traits)
    out = np.full((t, t), None, dtype=object)
    for i, a in enumerate(traits):
        for j, b in enumerate(traits):
            if variances is None:
                out[i, j] = ratio_entry(ratios, key, _sub(spec, a, b))[0]
            elif i == j:
                out[i, j] = 1.0 if variances[i] > 0 else None
            elif i < j:
                out[i, j] = out[j, i] = ratio_entry(ratios, key, _sub(spec, a, b))[0]
    return out


def variance_section(spec: ModelSpec, record: ComponentsRecord, model_name: str) -> dict[str, Any]:
    """Variances (one trait) or covariance and correlation matrices (several traits), σ²p and
    the ratios per trait, and footnotes."""
    vc = record.components
    traits = spec.traits
    named = vc.named()
    sigma_p = vc.phenotypic_variance()
    ratios = record.ratios or {}
    effects = {e.name: e for e in spec.random}
    maternal = [e for e in spec.random if e.type == "maternal"]
    crosses = {f"{e.of}.{e.name}": e for e in maternal}
    order = list(spec.parameter_names)

    tables: list[Table] = []
    if not spec.multitrait:
        estimated = record.estimated
        se = dict(zip(vc.names, record.se))
        rows = []
        for key in order:
            if key in effects:
                kind = effects[key].type
                estimate, _ = ratio_entry(ratios, ratio_key(spec, effects[key]))
                label = ratio_label(spec, effects[key])
            elif key in crosses:
                kind = "covariance"
                estimate, _ = ratio_entry(ratios, cross_key(crosses[key]))
                label = "r"
            else:
                kind, estimate, label = "residual", None, ""
            ratio = DASH if is_missing(estimate) else f"{label} = {fmt_ratio(estimate)}"
            cells = (key, kind, fmt_sig(named[key]))
            cells += (fmt_sig(se.get(key)),) if estimated else ()
            rows.append((*cells, ratio))
        total = ("σ²p (phenotypic)", "sum", fmt_sig(sigma_p[0]))
        rows.append((*total, *((DASH,) if estimated else ()), DASH))
        columns = ("component", "type", "variance", *(("SE",) if estimated else ()), "ratio")
        tables.append(
            Table(
                caption="Variances used for the solutions",
                columns=columns,
                rows=tuple(rows),
                numeric=tuple(c not in ("component", "type") for c in columns),
            )
        )
    else:
        for key in order:
            matrix = np.asarray(named[key], dtype=float)
            if key in crosses:
                effect = crosses[key]
                where = f" (rows: {effect.of}, columns: {effect.name})"
                corr = _correlations(spec, ratios, cross_key(effect), None)
            else:
                where = ""
                corr = _correlations(spec, ratios, correlation_key(spec, key), np.diag(matrix))
            tables.append(_matrix_table(f"{key}: covariance matrix{where}", matrix, traits, fmt_sig))
            tables.append(_matrix_table(f"{key}: correlations{where}", corr, traits, fmt_ratio))

    columns = ["trait", "σ²p"] + [ratio_label(spec, e) for e in spec.random]
    columns += ["r_am"] * len(maternal)
    summary_rows = []
    for i, trait in enumerate(traits):
        row = [trait, fmt_sig(sigma_p[i])]
        for effect in spec.random:
            row.append(fmt_ratio(ratio_entry(ratios, ratio_key(spec, effect), _sub(spec, trait))[0]))
        for effect in maternal:
            row.append(fmt_ratio(ratio_entry(ratios, cross_key(effect), _sub(spec, trait, trait))[0]))
        summary_rows.append(tuple(row))
    summary = Table(
        caption="Phenotypic variance and ratios",
        columns=tuple(columns),
        rows=tuple(summary_rows),
        numeric=(False, *[True] * (len(columns) - 1)),
    )

    if record.estimated:
        source = f"estimated by {method_name(record)}"
        note = ""
    else:
        source = f"given in the config (estimate: {spec.estimate})"
        note = ""
        if not is_missing(record.log_likelihood):
            note = (
                "Restricted log-likelihood at these variances: "
                f"{fmt_fixed(record.log_likelihood, 4)}."
            )
    return {
        "source": source,
        "note": note,
        "tables": tables,
        "ratios": summary,
        "footnotes": _footnotes(spec, maternal, model_name),
    }


def _footnotes(spec: ModelSpec, maternal: Sequence[RandomEffect], model_name: str) -> list[str]:
    first = (
        "σ²p is the phenotypic variance of a record: the variances of the random effects and "
        "of the residual"
    )
    if maternal:
        first += (
            " plus the direct–maternal covariance σ_am (Willham 1963, Biometrics 19:18–27; an "
            "animal's additive value and its dam's maternal value have covariance ½·σ_am, "
            "counted twice in the variance of a record)"
        )
    ratios = ["h² = σ²a / σ²p"] if spec.additive is not None else []
    ratios += ["m² = σ²m / σ²p"] if maternal else []
    if any(e.type == "iid" for e in spec.random):
        ratios.append("<effect>/σ²p is that effect's variance / σ²p")
    notes = [first + ". " + "; ".join(ratios) + ("." if ratios else "")]
    notes[0] = notes[0].strip()
    if maternal:
        words = "r_am = σ_am / √(σ²a·σ²m), the correlation of the direct and maternal effects"
        if spec.multitrait:
            words += (
                "; in the direct–maternal matrices, rows are the direct effect on each trait "
                "and columns the maternal effect on each trait (r_am in the ratios table is "
                "the diagonal)"
            )
        notes.append(words + ".")
    notes.append(
        "σ²p, ratios and correlations are those of the model's variance components "
        f"(results/{model_name}/variance_components.json)."
    )
    return notes


# --------------------------------------------------------------------------------------------
# REML
# --------------------------------------------------------------------------------------------


def _sub_label(spec: ModelSpec, sub: str) -> str:
    """A trait or ``"t1.t2"`` as shown: ``t1, t2`` (keys the model cannot have stay as they are)."""
    pairs = {f"{a}.{b}": f"{a}, {b}" for a in spec.traits for b in spec.traits}
    return sub if sub in spec.traits else pairs.get(sub, sub)


def reml_section(
    spec: ModelSpec, record: ComponentsRecord, trace: pd.DataFrame | None
) -> dict[str, Any] | None:
    """Status, estimates and ratios with SEs, boundary, messages, trace plot and last
    iterations of a REML fit; None for given variances."""
    if not record.estimated:
        return None
    converged = record.converged
    status_rows = [
        ("Method", method_name(record)),
        ("Converged", DASH if converged is None else ("yes" if converged else "NO")),
        ("Iterations", fmt_count(record.iterations)),
        ("Restricted log-likelihood", fmt_fixed(record.log_likelihood, 4)),
    ]
    if record.solver:
        status_rows.append(("Solver", text(record.solver)))
    status = Table("REML fit", ("", ""), tuple(status_rows), (False, False))
    vc = record.components
    if record.monte_carlo_se is None:
        estimates = Table(
            "REML estimates",
            ("component", "estimate", "SE"),
            tuple((n, fmt_sig(v), fmt_sig(s)) for n, v, s in zip(vc.names, vc.theta, record.se)),
            (False, True, True),
        )
    else:  # Monte Carlo REML: the sampling SE and the Monte Carlo SE of the sampled traces
        estimates = Table(
            "REML estimates (Monte Carlo REML)",
            ("component", "estimate", "SE", "Monte Carlo SE"),
            tuple((n, fmt_sig(v), fmt_sig(s), fmt_sig(m))
                  for n, v, s, m in zip(vc.names, vc.theta, record.se, record.monte_carlo_se)),
            (False, True, True, True),
            note="SE: the sampling error of REML (from the AI matrix); Monte Carlo SE: the error from sampling "
                 "the traces with random probes (variance_components.json: monte_carlo).",
        )
    labels = ratio_labels(spec)
    ratio_rows = []
    for key, block in (record.ratios or {}).items():
        label = labels.get(key, key)
        if not isinstance(block, Mapping):
            continue
        if "estimate" in block or "se" in block:
            ratio_rows.append((label, fmt_ratio(block.get("estimate")), fmt_ratio(block.get("se"))))
            continue
        for sub, entry in block.items():
            entry = entry if isinstance(entry, Mapping) else {}
            ratio_rows.append(
                (
                    f"{label} ({_sub_label(spec, str(sub))})",
                    fmt_ratio(entry.get("estimate")),
                    fmt_ratio(entry.get("se")),
                )
            )
    ratios = Table("Ratios", ("ratio", "estimate", "SE"), tuple(ratio_rows), (False, True, True))

    boundary = ""
    if record.boundary:
        boundary = (
            "At the boundary of the parameter space (a variance fixed at zero, or a covariance "
            "matrix that is singular; no SE): " + ", ".join(record.boundary) + "."
        )
    warning = ""
    if converged is False:
        warning = (
            "REML did not converge: the estimates below are from the last iteration and the "
            "solutions may use unreliable variances. Check the trace, start values and model."
        )
    plot, trace_table = _trace(trace)
    return {
        "status": status,
        "estimates": estimates,
        "ratios": ratios,
        "boundary": boundary,
        "messages": list(record.messages),
        "plot": plot,
        "trace": trace_table,
        "warning": warning,
    }


def _trace(trace: pd.DataFrame | None) -> tuple[Plot | None, Table | None]:
    """The log-likelihood by iteration and the last :data:`TRACE_ROWS` iterations."""
    if trace is None or "log_likelihood" not in trace.columns or not len(trace):
        return None, None
    plot = None
    logl = floats(trace["log_likelihood"])
    if "iteration" in trace.columns:
        it = floats(trace["iteration"])
    else:
        it = np.arange(1, len(trace) + 1, dtype=float)
    keep = np.isfinite(logl) & np.isfinite(it)
    if keep.any():
        plot = Plot(
            title="REML log-likelihood",
            caption="Restricted log-likelihood by iteration.",
            uri=line_plot(it[keep], logl[keep], "REML iterations", "iteration", "log-likelihood"),
            alt="Line plot of the restricted log-likelihood against iteration",
        )
    shown = trace.tail(TRACE_ROWS)
    columns = [str(c) for c in trace.columns]
    table = Table(
        caption=f"Last {len(shown)} of {len(trace)} iterations",
        columns=tuple(columns),
        rows=tuple(
            tuple(
                text(v) if c in ("iteration", "step") or isinstance(v, str) else fmt_sig(v, 6)
                for c, v in zip(columns, row)
            )
            for row in shown.itertuples(index=False)
        ),
        numeric=tuple(c != "step" for c in columns),
    )
    return plot, table
