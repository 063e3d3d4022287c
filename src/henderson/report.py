"""The per-model HTML report: tables, figures and one self-contained HTML document.

The report is what a breed association hands to people, so it opens offline: figures are PNGs made
with matplotlib's Agg renderer and embedded as ``data:`` URIs, the CSS is inline, and the document
has no scripts and no links to other resources. Every user-provided string (IDs, levels, file names,
reasons) goes through Jinja2's autoescaping. The output is deterministic: the same inputs give the
same bytes (no timestamps; PNG metadata stripped; stable sort orders).

Numbers are formatted for reading, not for reuse (the Parquet/JSON outputs hold full precision):
EBVs, their standard errors and inbreeding coefficients with 3 decimals, reliabilities with 2,
variance ratios with 3, variances and BLUEs with 4 significant digits, counts with thousands
separators; a missing value is shown as an em dash.

The numerical pieces are public so they can be tested on their own:
:func:`summarize_variances` (phenotypic variance and ratios), :func:`top_animals` and
:func:`genetic_trend`.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from henderson import __version__
from henderson.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

#: Where the cleaning stage writes every rejected or modified input row.
REJECTED_FILE = "results/clean/rejected.parquet"
#: Fixed-effect solution tables with at least this many rows are summarised per effect.
FIXED_TABLE_MAX_ROWS = 200
#: Rows of the rejected-rows table shown as examples.
REJECTED_EXAMPLES = 10
#: Last iterations of the REML trace shown as a table.
TRACE_ROWS = 10

RANDOM_TYPES = ("additive", "iid", "maternal")
SOLUTION_COLUMNS = ("trait", "effect", "level", "estimate")
DASH = "\u2014"

_TYPE_WORDS = {
    "additive": "additive genetic effect (random, covariance A\u00b7\u03c3\u00b2)",
    "maternal": "maternal genetic effect (random, covariance A\u00b7\u03c3\u00b2, on the dam)",
    "iid": "independent random effect (covariance I\u00b7\u03c3\u00b2)",
}
_RATIO_NAMES = {"additive": "h\u00b2", "maternal": "m\u00b2"}
_REML_RATIO_NAMES = {"h2": "h\u00b2", "m2": "m\u00b2", "c2": "c\u00b2", "h2_total": "h\u00b2 total"}

_PLOT_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
}
_BAR = "#3b6ea5"
_LINE = "#b5482e"


# --------------------------------------------------------------------------------------------
# Plain data handed to the template
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A formatted table: every cell is already a string; ``numeric[j]`` right-aligns column j."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    note: str = ""


@dataclass(frozen=True)
class Plot:
    """An embedded figure: ``uri`` is a ``data:image/png;base64,...`` URI."""

    title: str
    caption: str
    uri: str
    alt: str


@dataclass(frozen=True)
class RandomEffect:
    """One random effect of a model's config block (``type`` in :data:`RANDOM_TYPES`)."""

    name: str
    type: str
    column: str | None


@dataclass(frozen=True)
class VarianceSummary:
    """Phenotypic variance and variance ratios of one model, per trait.

    With ``t`` traits, every matrix is ``t x t`` (a single trait gives ``1 x 1``). For trait ``i``

        σ²p[i] = Σ_effects G_e[i, i] + Σ_(additive, maternal) C_am[i, i] + R[i, i]

    which is Willham's (1963) phenotypic variance σ²a + σ²m + σ_am + other variances + σ²e:
    an animal's direct value and its dam's maternal value have covariance ½·σ_am, and the
    cross term enters Var(y) twice. Covariances between other pairs of effects are listed but not
    added (their contribution depends on how the effects share records).

    Attributes:
        traits: trait names, in model order.
        matrices: name -> ``t x t`` array for every random effect, ``residual`` and covariance key
            (``"a.m"``), as given.
        phenotypic: σ²p per trait (NaN when a variance is missing).
        ratios: random-effect name -> σ²_e[i, i] / σ²p[i] per trait.
        heritability: h² per trait for the first additive effect (NaN if there is none).
        total_heritability: Willham's (1972) total heritability (σ²a + 1.5·σ_am + 0.5·σ²m) / σ²p
            per trait, when the model has an additive and a maternal effect; else None.
        am_correlation: σ_am / sqrt(σ²a·σ²m) per trait, when that covariance is given; else None.
        included: the keys summed into σ²p, in order.
        excluded: covariance keys given but not summed into σ²p.
        missing: random effects (or ``residual``) whose variance is not given.
        unused: keys of ``variances`` that are neither an effect, ``residual`` nor a covariance
            of two effects of the model.
    """

    traits: tuple[str, ...]
    matrices: dict[str, np.ndarray]
    phenotypic: np.ndarray
    ratios: dict[str, np.ndarray]
    heritability: np.ndarray
    total_heritability: np.ndarray | None
    am_correlation: np.ndarray | None
    included: tuple[str, ...]
    excluded: tuple[str, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_count(value: Any) -> str:
    """An integer count with thousands separators (``12,345``); missing -> em dash."""
    if _missing(value):
        return DASH
    return f"{int(value):,}"


def fmt_fixed(value: Any, decimals: int = 3) -> str:
    """A number with a fixed number of decimals; negative zero is shown as zero."""
    if _missing(value):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def fmt_sig(value: Any, digits: int = 4) -> str:
    """A number with about ``digits`` significant digits, readable over many magnitudes.

    Values of at least 10**digits are shown as integers with thousands separators, very small
    ones in scientific notation, the rest with ``digits`` significant digits (``0.3333``, ``20``).
    """
    if _missing(value):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if x == 0.0:
        return "0"
    ax = abs(x)
    if ax >= 10**digits and ax < 1e15:
        return f"{x:,.0f}"
    if ax < 1e-3 or ax >= 1e15:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _text(value: Any) -> str:
    """A user-provided cell as text (escaped later by the template); missing -> em dash."""
    if _missing(value):
        return DASH
    text = str(value)
    return text if text != "" else DASH


# --------------------------------------------------------------------------------------------
# Model and variances
# --------------------------------------------------------------------------------------------


def random_effects(model: Mapping[str, Any], model_name: str = "") -> tuple[RandomEffect, ...]:
    """The random effects of a model config block, short form (``"additive"``) or long form."""
    effects = []
    for name, value in (model.get("random") or {}).items():
        if isinstance(value, str):
            kind, column = value, None
        elif isinstance(value, Mapping):
            kind, column = value.get("type"), value.get("column")
        else:
            kind, column = None, None
        if kind not in RANDOM_TYPES:
            raise ConfigError(
                f"config/config.yaml: models: {model_name}: random: {name}: type {kind!r} is not "
                f"one of {', '.join(RANDOM_TYPES)}; write e.g. `{name}: additive`."
            )
        effects.append(RandomEffect(str(name), str(kind), None if column is None else str(column)))
    return tuple(effects)


def _traits(model: Mapping[str, Any]) -> tuple[str, ...]:
    traits = model.get("traits") or []
    if isinstance(traits, str):
        traits = [traits]
    return tuple(str(t) for t in traits)


def _as_matrix(value: Any, n_traits: int, where: str) -> np.ndarray:
    """A variance (scalar) or covariance matrix as an ``n_traits x n_traits`` array."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a number or a matrix of numbers.") from exc
    if array.ndim == 0:
        array = array.reshape(1, 1)
    if array.shape != (n_traits, n_traits):
        raise ConfigError(
            f"{where}: expected a {n_traits} x {n_traits} matrix (one row and column per trait, in "
            f"the order of `traits`), got shape {array.shape}."
        )
    return array


def summarize_variances(
    model: Mapping[str, Any], variances: Mapping[str, Any], model_name: str = ""
) -> VarianceSummary:
    """Phenotypic variance, h² and other ratios from the variances used for the solutions.

    See :class:`VarianceSummary` for the formulas. ``variances`` maps each random effect name and
    ``residual`` to a variance (one trait) or a ``t x t`` covariance matrix (``t`` traits, in the
    order of ``model["traits"]``); a key ``"a.b"`` is the covariance of effects ``a`` and ``b``.

    Raises:
        ConfigError: a value that is not numeric or has the wrong shape for the number of traits.
    """
    traits = _traits(model) or ("trait",)
    t = len(traits)
    effects = random_effects(model, model_name)
    by_name = {e.name: e for e in effects}
    where = f"config/config.yaml: models: {model_name}: variances"
    matrices: dict[str, np.ndarray] = {}
    for key, value in variances.items():
        matrices[str(key)] = _as_matrix(value, t, f"{where}: {key}")

    nan = np.full(t, np.nan)
    included: list[str] = []
    missing: list[str] = []
    excluded: list[str] = []
    unused: list[str] = []
    total = np.zeros(t)
    for effect in effects:
        if effect.name in matrices:
            total = total + np.diag(matrices[effect.name])
            included.append(effect.name)
        else:
            missing.append(effect.name)
    additive = [e for e in effects if e.type == "additive"]
    maternal = [e for e in effects if e.type == "maternal"]
    am_pairs = {frozenset((a.name, m.name)) for a in additive for m in maternal}
    for key in matrices:
        if key in by_name or key == "residual":
            continue
        parts = key.split(".")
        if len(parts) == 2 and all(p in by_name for p in parts) and parts[0] != parts[1]:
            if frozenset(parts) in am_pairs:
                total = total + np.diag(matrices[key])
                included.append(key)
            else:
                excluded.append(key)
        else:
            unused.append(key)
    if "residual" in matrices:
        total = total + np.diag(matrices["residual"])
        included.append("residual")
    else:
        missing.append("residual")
    phenotypic = nan.copy() if missing else total

    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = {
            e.name: (np.diag(matrices[e.name]) / phenotypic if e.name in matrices else nan.copy())
            for e in effects
        }
        heritability = ratios[additive[0].name] if additive else nan.copy()
        total_h2 = None
        am_corr = None
        if additive and maternal:
            a, m = additive[0].name, maternal[0].name
            cov = _pair(matrices, a, m)
            if a in matrices and m in matrices:
                sa, sm = np.diag(matrices[a]), np.diag(matrices[m])
                sam = np.diag(cov) if cov is not None else np.zeros(t)
                total_h2 = (sa + 1.5 * sam + 0.5 * sm) / phenotypic
                if cov is not None:
                    am_corr = sam / np.sqrt(sa * sm)
    return VarianceSummary(
        traits=traits,
        matrices=matrices,
        phenotypic=phenotypic,
        ratios=ratios,
        heritability=heritability,
        total_heritability=total_h2,
        am_correlation=am_corr,
        included=tuple(included),
        excluded=tuple(excluded),
        missing=tuple(missing),
        unused=tuple(unused),
    )


def _pair(matrices: Mapping[str, np.ndarray], a: str, b: str) -> np.ndarray | None:
    """Covariance matrix of effects a (rows) and b (columns), from key ``a.b`` or ``b.a``."""
    if f"{a}.{b}" in matrices:
        return matrices[f"{a}.{b}"]
    if f"{b}.{a}" in matrices:
        return matrices[f"{b}.{a}"].T
    return None


# --------------------------------------------------------------------------------------------
# Solutions: top animals, genetic trend
# --------------------------------------------------------------------------------------------


def _check_solutions(solutions: pd.DataFrame) -> pd.DataFrame:
    absent = [c for c in SOLUTION_COLUMNS if c not in solutions.columns]
    if absent:
        raise InputError(
            f"solutions table: column(s) {absent} missing (it has {list(solutions.columns)}); "
            "rerun the solve stage that writes results/<model>/solutions.parquet."
        )
    frame = pd.DataFrame(
        {
            "trait": _keys(solutions["trait"]).to_numpy(),
            "effect": _keys(solutions["effect"]).to_numpy(),
            "level": _keys(solutions["level"]).to_numpy(),
            "estimate": _floats(solutions["estimate"]),
        }
    )
    for column in ("se", "reliability"):
        if column in solutions.columns:
            frame[column] = _floats(solutions[column])
        else:
            frame[column] = np.nan
    return frame


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers as a float array (non-numeric and missing values become NaN)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _animals(n: int) -> str:
    return f"{n:,} animal" + ("" if n == 1 else "s")


def _keys(values: pd.Series) -> pd.Series:
    """IDs or labels as string keys ("" when missing), so joins match across tables."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values  # already all strings, none missing: the common case, kept fast
    values = values.astype(object)
    keys = values.astype(str).astype(object)
    keys[values.isna().to_numpy()] = ""
    return keys


def top_animals(solutions: pd.DataFrame, effect: str, trait: str, n: int) -> pd.DataFrame:
    """The ``n`` levels of ``effect`` with the highest estimate for ``trait``.

    Returns columns ``id, ebv, se, reliability`` sorted by EBV (descending), ties by ID
    (ascending); animals without an estimate are never ranked.
    """
    return _top(_check_solutions(solutions), effect, trait, n)


def _top(frame: pd.DataFrame, effect: str, trait: str, n: int) -> pd.DataFrame:
    rows = frame[(frame["effect"] == effect) & (frame["trait"] == trait)]
    rows = rows[rows["estimate"].notna()]
    rows = rows.sort_values("level", kind="mergesort").sort_values(
        "estimate", ascending=False, kind="mergesort"
    )
    out = rows.head(n)[["level", "estimate", "se", "reliability"]]
    return out.rename(columns={"level": "id", "estimate": "ebv"}).reset_index(drop=True)


def _birth_years(pedigree: pd.DataFrame | None) -> pd.Series | None:
    """Birth year by animal ID (float, NaN when unknown), or None without a usable column."""
    if pedigree is None or "birth_year" not in pedigree.columns or "id" not in pedigree.columns:
        return None
    years = _floats(pedigree["birth_year"])
    ids = _keys(pedigree["id"])
    series = pd.Series(years, index=pd.Index(ids.to_numpy(), dtype=object))
    series = series[~series.index.duplicated(keep="first")]
    return series if series.notna().any() else None


def genetic_trend(ebv: pd.DataFrame, pedigree: pd.DataFrame) -> pd.DataFrame:
    """Mean EBV by birth year.

    Args:
        ebv: columns ``id, ebv`` (one row per animal).
        pedigree: columns ``id, birth_year`` (other columns ignored; missing or non-numeric
            years are skipped).

    Returns:
        Columns ``birth_year`` (float), ``n`` (animals with an EBV and that year) and
        ``mean_ebv``, sorted by year. Empty when no animal has both.
    """
    return _trend(ebv, _birth_years(pedigree))


def _trend(ebv: pd.DataFrame, years: pd.Series | None) -> pd.DataFrame:
    empty = pd.DataFrame({"birth_year": [], "n": [], "mean_ebv": []}).astype(
        {"birth_year": float, "n": "int64", "mean_ebv": float}
    )
    if years is None:
        return empty
    frame = pd.DataFrame(
        {
            "year": _keys(ebv["id"]).map(years).astype(float).to_numpy(),
            "ebv": _floats(ebv["ebv"]),
        }
    ).dropna()
    if frame.empty:
        return empty
    grouped = frame.groupby("year", sort=True)["ebv"].agg(["size", "mean"])
    return pd.DataFrame(
        {
            "birth_year": grouped.index.to_numpy(dtype=float),
            "n": grouped["size"].to_numpy(dtype="int64"),
            "mean_ebv": grouped["mean"].to_numpy(dtype=float),
        }
    )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _new_figure(width: float = 6.0, height: float = 3.4) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _png_uri(fig: Figure) -> str:
    """Render with Agg to PNG (no metadata, so the bytes depend only on the drawing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bins(values: np.ndarray, limit: int = 50) -> np.ndarray | int:
    edges = np.histogram_bin_edges(values, bins="auto")
    return edges if len(edges) - 1 <= limit else limit


def _histogram(values: np.ndarray, title: str, xlabel: str, value_range=None, bins=None) -> str:
    with matplotlib.style.context("default"), matplotlib.rc_context(_PLOT_STYLE):
        fig = _new_figure()
        ax = fig.add_subplot()
        if bins is None:
            bins = _bins(values)
        ax.hist(values, bins=bins, range=value_range, color=_BAR, edgecolor="white", linewidth=0.5)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("animals")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
        return _png_uri(fig)


def _line_plot(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str) -> str:
    with matplotlib.style.context("default"), matplotlib.rc_context(_PLOT_STYLE):
        fig = _new_figure()
        ax = fig.add_subplot()
        ax.plot(x, y, color=_LINE, marker="o", markersize=3, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        if len(x) and np.allclose(x, np.round(x)):
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        return _png_uri(fig)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _equation(model: Mapping[str, Any], effects: Sequence[RandomEffect]) -> dict[str, Any]:
    traits = _traits(model)
    fixed = [str(f) for f in model.get("fixed") or []]
    covariates = [str(c) for c in model.get("covariates") or []]
    terms: list[tuple[str, str]] = []
    if not fixed:
        terms.append(("mean", "overall mean (fixed intercept)"))
    for name in fixed:
        terms.append((name, "fixed class effect: one solution (BLUE) per level"))
    for name in covariates:
        terms.append((name, "covariate: fixed linear regression on its value"))
    for effect in effects:
        words = _TYPE_WORDS[effect.type]
        if effect.column:
            words += f"; levels from column {effect.column}"
        terms.append((effect.name, words))
    terms.append(("residual", "random residual, covariance I\u00b7\u03c3\u00b2e"))
    names = [t[0] for t in terms]
    if len(traits) > 1:
        lhs = "[" + ", ".join(traits) + "]"
        note = (
            f"Multi-trait model: the {len(traits)} traits share these terms; each trait has its "
            "own solutions, and random effects and residuals are correlated between traits "
            "(covariance matrices below)."
        )
    else:
        lhs = traits[0] if traits else "y"
        note = ""
    return {"formula": f"{lhs} = " + " + ".join(names), "terms": terms, "note": note}


def _data_section(
    model_name: str, clean_summary: Mapping[str, Any], rejected: pd.DataFrame | None
) -> dict[str, Any]:
    ped = clean_summary.get("pedigree") or {}
    phe = clean_summary.get("phenotypes") or {}
    mod = (clean_summary.get("models") or {}).get(model_name) or {}
    rows: list[tuple[str, str]] = []

    def add(label: str, block: Mapping[str, Any], key: str, text: bool = False) -> None:
        if key in block and not _missing(block[key]):
            rows.append((label, _text(block[key]) if text else fmt_count(block[key])))

    add("Records used by this model", mod, "records")
    add("Animals with records", mod, "animals_with_records")
    add("Records dropped for this model", mod, "dropped")
    add("Values set to missing for this model", mod, "set_missing")
    add("Phenotype rows read", phe, "rows")
    add("Phenotype rows kept", phe, "kept")
    add("Pedigree rows read", ped, "rows")
    add("Animals in the cleaned pedigree", ped, "animals")
    add("Duplicate pedigree rows merged", ped, "merged_duplicates")
    add("Parents added (not listed as animals)", ped, "parents_added")
    add("Phenotyped animals added (not in the pedigree)", ped, "phenotyped_added")
    counts = Table(
        caption="Data used",
        columns=("", "count"),
        rows=tuple(rows),
        numeric=(False, True),
    )
    file_rows = tuple(
        (label, _text(block["file"]))
        for label, block in (("phenotypes", phe), ("pedigree", ped))
        if not _missing(block.get("file"))
    )
    files = Table("Input files", ("table", "file"), file_rows, (False, False))

    rej = _rejected_frame(rejected)
    this = mod.get("by_reason")
    if this is None:
        this = rej.loc[rej["model"] == model_name, "reason"].value_counts(sort=False).to_dict()
    everything = clean_summary.get("rejected_by_reason")
    if everything is None:
        everything = rej["reason"].value_counts(sort=False).to_dict()
    this = {str(k): int(v or 0) for k, v in this.items()}
    everything = {str(k): int(v or 0) for k, v in everything.items()}
    reasons = sorted(
        set(this) | set(everything),
        key=lambda r: (-everything.get(r, 0), -this.get(r, 0), r),
    )
    reason_rows = tuple(
        (r, fmt_count(this.get(r, 0)), fmt_count(everything.get(r, 0))) for r in reasons
    )
    if reason_rows:
        reason_rows += (
            (
                "total",
                fmt_count(sum(this.values())),
                fmt_count(sum(everything.values())),
            ),
        )
    by_reason = Table(
        caption="Rejected or modified input rows by reason",
        columns=("reason", f"model {model_name}", "all inputs and models"),
        rows=reason_rows,
        numeric=(False, True, True),
        note="" if reason_rows else "No input row was rejected or modified.",
    )

    mine = rej[rej["model"] == model_name].sort_values(["file", "line_num"], kind="mergesort")
    examples = None
    if len(mine):
        shown = mine.head(REJECTED_EXAMPLES)
        examples = Table(
            caption=(
                f"First {len(shown):,} of {len(mine):,} rejected or modified rows for this model"
            ),
            columns=("file", "line", "id", "action", "reason", "detail"),
            rows=tuple(
                tuple(_text(r[c]) for c in ("file", "line", "id", "action", "reason", "detail"))
                for _, r in shown.iterrows()
            ),
            numeric=(False, True, False, False, False, False),
        )
    return {
        "counts": counts,
        "files": files,
        "by_reason": by_reason,
        "examples": examples,
        "file": REJECTED_FILE,
    }


def _rejected_frame(rejected: pd.DataFrame | None) -> pd.DataFrame:
    columns = ("file", "line", "id", "model", "action", "reason", "detail")
    if rejected is None:
        rejected = pd.DataFrame(columns=list(columns))
    frame = pd.DataFrame(index=range(len(rejected)))
    for column in columns:
        if column in rejected.columns:
            frame[column] = _keys(rejected[column]).to_numpy()
        else:
            frame[column] = ""
    frame["line_num"] = pd.to_numeric(frame["line"], errors="coerce")
    return frame


def _pedigree_section(
    summary: Mapping[str, Any] | None,
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
) -> dict[str, Any]:
    summary = dict(summary or {})
    f_values = None
    if inbreeding is not None and "F" in inbreeding.columns:
        f_values = _floats(inbreeding["F"])
        f_values = f_values[~np.isnan(f_values)]
        # Fill what the relationships stage did not report from the coefficients themselves.
        inbred = f_values[f_values > 0]
        summary.setdefault("inbred", int(inbred.size))
        summary.setdefault("mean_F", float(f_values.mean()) if f_values.size else None)
        summary.setdefault("max_F", float(f_values.max()) if f_values.size else None)
        summary.setdefault("mean_F_inbred", float(inbred.mean()) if inbred.size else None)
    if not summary and pedigree is None:
        return {"available": False}

    rows: list[tuple[str, str]] = []
    for key, label in (
        ("animals", "Animals"),
        ("founders", "Founders (both parents unknown)"),
        ("sires", "Sires (animals with progeny as sire)"),
        ("dams", "Dams (animals with progeny as dam)"),
    ):
        if key in summary:
            rows.append((label, fmt_count(summary[key])))
    if "max_generation" in summary and not _missing(summary["max_generation"]):
        generations = int(summary["max_generation"]) + 1
        rows.append(("Generations, founders included", fmt_count(generations)))
    if "inbred" in summary:
        rows.append(("Inbred animals (F > 0)", fmt_count(summary["inbred"])))
    for key, label in (
        ("mean_F", "Mean F, all animals"),
        ("mean_F_inbred", "Mean F, inbred animals"),
        ("max_F", "Maximum F"),
    ):
        if key in summary:
            rows.append((label, fmt_fixed(summary[key], 4)))
    stats = Table("Pedigree statistics", ("", "value"), tuple(rows), (False, True))

    generations = None
    per_gen = summary.get("animals_per_generation")
    if per_gen:
        generations = Table(
            caption="Animals per generation (generation 0: founders)",
            columns=("generation", "animals"),
            rows=tuple((str(g), fmt_count(n)) for g, n in enumerate(per_gen)),
            numeric=(True, True),
        )

    origin = None
    if pedigree is not None and "origin" in pedigree.columns:
        counts = _keys(pedigree["origin"]).value_counts(sort=False)
        order = sorted(counts.index, key=lambda o: (-int(counts[o]), o))
        origin = Table(
            caption="Animals by origin in the cleaned pedigree",
            columns=("origin", "animals"),
            rows=tuple((_text(o or None), fmt_count(counts[o])) for o in order),
            numeric=(False, True),
        )

    plot = None
    message = ""
    if f_values is not None:
        inbred = f_values[f_values > 0]
        if inbred.size:
            plot = Plot(
                title="Inbreeding",
                caption=(
                    f"Inbreeding coefficients of the {_animals(inbred.size)} with F > 0."
                ),
                uri=_histogram(
                    inbred,
                    "F among inbred animals",
                    "inbreeding coefficient F",
                    # F lies in (0, 1]: bins from 0 to the next multiple of 0.05 above max F.
                    value_range=(0.0, min(1.0, math.ceil(inbred.max() * 20 + 1e-9) / 20)),
                    bins=25,
                ),
                alt="Histogram of inbreeding coefficients among inbred animals",
            )
        else:
            message = "No animal is inbred (all F = 0)."
    else:
        message = "Inbreeding coefficients were not computed for this model."
    return {
        "available": True,
        "stats": stats,
        "generations": generations,
        "origin": origin,
        "plot": plot,
        "message": message,
    }


def _matrix_tables(
    name: str, matrix: np.ndarray, traits: Sequence[str], correlations: bool = True
) -> list[Table]:
    """A covariance matrix and, when it is symmetric with a positive diagonal, its correlations."""
    rows = tuple((t, *(fmt_sig(v) for v in matrix[i])) for i, t in enumerate(traits))
    numeric = (False, *[True] * len(traits))
    tables = [Table(f"{name}: covariance matrix", ("", *traits), rows, numeric)]
    diag = np.diag(matrix)
    if correlations and np.allclose(matrix, matrix.T) and np.all(diag > 0):
        corr = matrix / np.sqrt(np.outer(diag, diag))
        rows = tuple((t, *(fmt_fixed(v, 3) for v in corr[i])) for i, t in enumerate(traits))
        tables.append(
            Table(f"{name}: correlations", ("", *traits), rows, (False, *[True] * len(traits)))
        )
    return tables


def _variance_section(
    model_name: str, model: Mapping[str, Any], variances: Mapping[str, Any]
) -> dict[str, Any]:
    vs = summarize_variances(model, variances, model_name)
    effects = {e.name: e for e in random_effects(model, model_name)}
    traits = vs.traits
    multi = len(traits) > 1
    footnotes = [
        "σ²p is the phenotypic variance: σ²a + σ²m + σ_am + other random-effect variances + σ²e "
        "(Willham 1963, Biometrics 19:18–27). The direct–maternal covariance σ_am enters once: an "
        "animal's additive value and its dam's maternal value have covariance ½·σ_am, counted "
        "twice in the variance of a record. h² = σ²a / σ²p; every other ratio is that effect's "
        "variance / σ²p."
    ]
    if vs.total_heritability is not None:
        footnotes.append(
            "Total heritability (Willham 1972, J. Anim. Sci. 35:1288–1293): "
            "h²T = (σ²a + 1.5·σ_am + 0.5·σ²m) / σ²p, the response to selection on a record "
            "relative to its phenotypic variance."
        )
    if vs.excluded:
        footnotes.append(
            "Given but not added to σ²p (not a direct–maternal covariance): "
            + ", ".join(vs.excluded)
            + "."
        )
    if vs.unused:
        footnotes.append(
            "Keys in `variances` that are not effects of this model (ignored): "
            + ", ".join(vs.unused)
            + "."
        )
    if vs.missing:
        footnotes.append(
            "No variance given for: " + ", ".join(vs.missing) + "; σ²p and ratios are not shown."
        )

    def kind(key: str) -> str:
        if key == "residual":
            return "residual"
        if key in effects:
            return effects[key].type
        return "covariance" if key in vs.included or key in vs.excluded else "not in model"

    order = [*effects, *[k for k in vs.matrices if k not in effects and k != "residual"]]
    order += ["residual"]
    tables: list[Table] = []
    summary_rows: list[tuple[str, ...]] = []
    if not multi:
        rows = []
        for key in order:
            if key not in vs.matrices:
                rows.append((key, kind(key), DASH, DASH))
                continue
            value = vs.matrices[key][0, 0]
            ratio = value / vs.phenotypic[0] if key in vs.included else np.nan
            label = fmt_fixed(ratio, 3)
            if key in effects and effects[key].type in _RATIO_NAMES and not _missing(ratio):
                label = f"{_RATIO_NAMES[effects[key].type]} = {label}"
            rows.append((key, kind(key), fmt_sig(value), label))
        total = vs.phenotypic[0]
        share = DASH if _missing(total) else "1.000"
        rows.append(("σ²p (phenotypic)", "sum", fmt_sig(total), share))
        tables.append(
            Table(
                caption="Variances used for the solutions",
                columns=("component", "type", "variance", "proportion of σ²p"),
                rows=tuple(rows),
                numeric=(False, False, True, True),
            )
        )
    else:
        for key in order:
            if key in vs.matrices:
                is_variance = key in effects or key == "residual"
                tables.extend(_matrix_tables(key, vs.matrices[key], traits, is_variance))
    # Per-trait ratios (one row per trait; a single trait gives one row).
    columns = ["trait", "σ²p", "h²"]
    for name, effect in effects.items():
        if effect.type != "additive" or list(effects).index(name) > 0:
            columns.append(f"{name}/σ²p")
    if vs.total_heritability is not None:
        columns.append("h²T")
    if vs.am_correlation is not None:
        columns.append("r_am")
    ratio_names = [c for c in columns[3:] if c.endswith("/σ²p")]
    for i, trait in enumerate(traits):
        row = [trait, fmt_sig(vs.phenotypic[i]), fmt_fixed(vs.heritability[i], 3)]
        for column in ratio_names:
            row.append(fmt_fixed(vs.ratios[column[: -len("/σ²p")]][i], 3))
        if vs.total_heritability is not None:
            row.append(fmt_fixed(vs.total_heritability[i], 3))
        if vs.am_correlation is not None:
            row.append(fmt_fixed(vs.am_correlation[i], 3))
        summary_rows.append(tuple(row))
    ratios = Table(
        caption="Phenotypic variance and ratios",
        columns=tuple(columns),
        rows=tuple(summary_rows),
        numeric=(False, *[True] * (len(columns) - 1)),
    )
    return {"tables": tables, "ratios": ratios, "footnotes": footnotes, "summary": vs}


def _flat_values(
    name: str, value: Any, se: Any, traits: Sequence[str], fmt=fmt_sig
) -> list[tuple[str, str, str]]:
    """Rows (label, estimate, se) for a scalar, a per-trait vector or a trait x trait matrix.

    A symmetric matrix gives its upper triangle only; labels name the traits.
    """
    try:
        est = np.array(np.nan if _missing_like(value) else value, dtype=float)
        err = np.array(np.nan if _missing_like(se) else se, dtype=float)
    except (TypeError, ValueError):
        return [(name, _text(value), _text(se))]
    if err.shape != est.shape:
        err = np.full(est.shape, np.nan)
    if est.ndim == 0:
        return [(name, fmt(est), fmt(err))]
    if est.ndim == 1 and est.size == len(traits):
        return [(f"{name} [{t}]", fmt(est[i]), fmt(err[i])) for i, t in enumerate(traits)]
    if est.ndim == 2 and est.shape[0] == est.shape[1] == len(traits):
        symmetric = np.allclose(est, est.T, equal_nan=True)
        rows = []
        for i in range(est.shape[0]):
            for j in range(i if symmetric else 0, est.shape[1]):
                label = f"{name} [{traits[i]}, {traits[j]}]"
                rows.append((label, fmt(est[i, j]), fmt(err[i, j])))
        return rows
    flat, flat_se = est.ravel(), err.ravel()
    return [(f"{name} [{k}]", fmt(flat[k]), fmt(flat_se[k])) for k in range(flat.size)]


def _missing_like(value: Any) -> bool:
    return value is None or (np.ndim(value) == 0 and _missing(value))


def _reml_section(
    variance_components: Mapping[str, Any] | None,
    trace: pd.DataFrame | None,
    traits: Sequence[str],
) -> dict[str, Any] | None:
    if variance_components is None and trace is None:
        return None
    vc = dict(variance_components or {})
    se = vc.get("se") or {}
    status_rows = []
    if "method" in vc:
        status_rows.append(("Method", _text(vc["method"])))
    if "converged" in vc:
        status_rows.append(("Converged", "yes" if vc["converged"] else "NO"))
    if "iterations" in vc:
        status_rows.append(("Iterations", fmt_count(vc["iterations"])))
    if "log_likelihood" in vc:
        status_rows.append(("Restricted log-likelihood", fmt_fixed(vc["log_likelihood"], 4)))
    status = Table("REML fit", ("", ""), tuple(status_rows), (False, False))
    estimate_rows: list[tuple[str, str, str]] = []
    for group in ("variances", "covariances"):
        for name, value in (vc.get(group) or {}).items():
            estimate_rows.extend(_flat_values(str(name), value, se.get(name), traits))
    estimates = Table(
        "REML estimates", ("component", "estimate", "SE"), tuple(estimate_rows), (False, True, True)
    )
    ratio_rows = []
    for name, value in (vc.get("ratios") or {}).items():
        label = _REML_RATIO_NAMES.get(str(name), str(name))
        if isinstance(value, Mapping) and "estimate" not in value:
            # multi-trait: {trait or "a.b": {"estimate", "se"}}
            for key, entry in value.items():
                entry = entry if isinstance(entry, Mapping) else {"estimate": entry}
                ratio_rows.extend(
                    _flat_values(f"{label} ({key})", entry.get("estimate"), entry.get("se"), traits, fmt=_ratio)
                )
            continue
        if isinstance(value, Mapping):
            est, err = value.get("estimate"), value.get("se")
        else:
            est, err = value, None
        ratio_rows.extend(_flat_values(label, est, err, traits, fmt=_ratio))
    ratios = Table("Ratios", ("ratio", "estimate", "SE"), tuple(ratio_rows), (False, True, True))

    plot = None
    trace_table = None
    if trace is not None and "log_likelihood" in trace.columns and len(trace):
        logl = _floats(trace["log_likelihood"])
        if "iteration" in trace.columns:
            it = _floats(trace["iteration"])
        else:
            it = np.arange(1, len(trace) + 1, dtype=float)
        keep = np.isfinite(logl) & np.isfinite(it)
        if keep.any():
            plot = Plot(
                title="REML log-likelihood",
                caption="Restricted log-likelihood by iteration.",
                uri=_line_plot(
                    it[keep], logl[keep], "REML iterations", "iteration", "log-likelihood"
                ),
                alt="Line plot of the restricted log-likelihood against iteration",
            )
        shown = trace.tail(TRACE_ROWS)
        columns = [str(c) for c in trace.columns]
        trace_table = Table(
            caption=f"Last {len(shown)} of {len(trace)} iterations",
            columns=tuple(columns),
            rows=tuple(
                tuple(
                    _text(v) if c in ("iteration", "step") or isinstance(v, str) else fmt_sig(v, 6)
                    for c, v in zip(columns, row)
                )
                for row in shown.itertuples(index=False)
            ),
            numeric=tuple(c != "step" for c in columns),
        )
    warning = ""
    if vc and not vc.get("converged", True):
        warning = (
            "REML did not converge: the estimates below are from the last iteration and the "
            "solutions may use unreliable variances. Check the trace, start values and model."
        )
    return {
        "status": status,
        "estimates": estimates,
        "ratios": ratios,
        "plot": plot,
        "trace": trace_table,
        "warning": warning,
    }


def _ratio(value: Any) -> str:
    return fmt_fixed(value, 3)


def _lookup(frame: pd.DataFrame | None, column: str) -> pd.Series | None:
    if frame is None or column not in frame.columns or "id" not in frame.columns:
        return None
    ids = _keys(frame["id"]).to_numpy()
    series = pd.Series(frame[column].to_numpy(), index=pd.Index(ids, dtype=object))
    return series[~series.index.duplicated(keep="first")]


def _top_section(
    sol: pd.DataFrame,
    effects: Sequence[RandomEffect],
    traits: Sequence[str],
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
    top_n: int,
) -> dict[str, Any]:
    additive = [e for e in effects if e.type == "additive"]
    if not additive:
        return {"tables": [], "message": "This model has no additive genetic effect: no EBVs."}
    direct = additive[0].name
    maternal = [e.name for e in effects if e.type == "maternal"]
    f_of = _lookup(inbreeding, "F")
    sire_of = _lookup(pedigree, "sire")
    dam_of = _lookup(pedigree, "dam")
    year_of = _birth_years(pedigree)
    tables = []
    for trait in traits:
        top = _top(sol, direct, trait, top_n)
        if top.empty:
            continue
        columns = ["rank", "id", "EBV", "SE", "reliability"]
        extra = [(f"EBV {t}", direct, t) for t in traits if t != trait]
        which = f" {trait}" if len(traits) > 1 else ""
        extra += [(f"maternal EBV ({m}){which}", m, trait) for m in maternal]
        columns += [c[0] for c in extra]
        chosen = sol[sol["level"].isin(set(top["id"]))]
        indexed = chosen.set_index(["effect", "trait", "level"])["estimate"]
        indexed = indexed[~indexed.index.duplicated(keep="first")]
        if f_of is not None:
            columns.append("F")
        if sire_of is not None:
            columns.append("sire")
        if dam_of is not None:
            columns.append("dam")
        if year_of is not None:
            columns.append("birth year")
        rows = []
        for rank, rec in enumerate(top.itertuples(index=False), start=1):
            row = [
                str(rank),
                _text(rec.id),
                fmt_fixed(rec.ebv, 3),
                fmt_fixed(rec.se, 3),
                fmt_fixed(rec.reliability, 2),
            ]
            for _, effect, t in extra:
                row.append(fmt_fixed(indexed.get((effect, t, rec.id), np.nan), 3))
            if f_of is not None:
                row.append(fmt_fixed(f_of.get(rec.id, np.nan), 3))
            if sire_of is not None:
                row.append(_text(sire_of.get(rec.id)))
            if dam_of is not None:
                row.append(_text(dam_of.get(rec.id)))
            if year_of is not None:
                year = year_of.get(rec.id, np.nan)
                row.append(DASH if _missing(year) else fmt_sig(year, 6).replace(",", ""))
            rows.append(tuple(row))
        numeric = tuple(c not in ("id", "sire", "dam") for c in columns)
        tables.append(
            Table(
                caption=f"Top {len(rows)} animals by EBV for {trait} ({direct})",
                columns=tuple(columns),
                rows=tuple(rows),
                numeric=numeric,
            )
        )
    message = "" if tables else f"No solutions for the additive effect {direct}."
    return {"tables": tables, "message": message}


def _plots_section(
    sol: pd.DataFrame,
    effects: Sequence[RandomEffect],
    traits: Sequence[str],
    pedigree: pd.DataFrame | None,
) -> dict[str, Any]:
    additive = [e for e in effects if e.type == "additive"]
    plots: list[Plot] = []
    trend_tables: list[Table] = []
    messages: list[str] = []
    if not additive:
        return {"plots": plots, "trend_tables": trend_tables, "messages": messages}
    direct = additive[0].name
    suffix = len(traits) > 1
    years = _birth_years(pedigree)
    for trait in traits:
        rows = sol[(sol["effect"] == direct) & (sol["trait"] == trait)]
        ebv = rows["estimate"].dropna().to_numpy(dtype=float)
        label = f" for {trait}" if suffix else ""
        if ebv.size:
            plots.append(
                Plot(
                    title=f"EBV distribution{label}",
                    caption=f"EBVs of {_animals(ebv.size)} ({direct}), {trait}.",
                    uri=_histogram(ebv, f"EBV, {trait}", f"EBV ({trait} units)"),
                    alt=f"Histogram of EBVs for {trait}",
                )
            )
        rel = rows["reliability"].dropna().to_numpy(dtype=float)
        if rel.size:
            plots.append(
                Plot(
                    title=f"Reliability distribution{label}",
                    caption=f"Reliabilities of {rel.size:,} EBVs, {trait}.",
                    uri=_histogram(
                        rel, f"Reliability, {trait}", "reliability", value_range=(0.0, 1.0), bins=20
                    ),
                    alt=f"Histogram of reliabilities for {trait}",
                )
            )
        elif ebv.size:
            messages.append(f"Reliabilities were not computed for {trait}.")
        if pedigree is None:
            continue
        trend = _trend(
            pd.DataFrame({"id": rows["level"].to_numpy(), "ebv": rows["estimate"].to_numpy()}),
            years,
        )
        if trend.empty:
            continue
        trend_years = trend["birth_year"].to_numpy(dtype=float)
        plots.append(
            Plot(
                title=f"Genetic trend{label}",
                caption=f"Mean EBV ({trait}) of animals born in each year.",
                uri=_line_plot(
                    trend_years, trend["mean_ebv"].to_numpy(dtype=float),
                    f"Genetic trend, {trait}", "birth year", "mean EBV",
                ),
                alt=f"Line plot of mean EBV for {trait} by birth year",
            )
        )
        trend_tables.append(
            Table(
                caption=f"Mean EBV by birth year, {trait}",
                columns=("birth year", "animals", "mean EBV"),
                rows=tuple(
                    (fmt_sig(y, 6).replace(",", ""), fmt_count(n), fmt_fixed(m, 3))
                    for y, n, m in trend.itertuples(index=False)
                ),
                numeric=(True, True, True),
            )
        )
    if pedigree is not None and not trend_tables and years is None:
        messages.append("No genetic trend: the pedigree has no birth years.")
    return {"plots": plots, "trend_tables": trend_tables, "messages": messages}


def _fixed_section(sol: pd.DataFrame, effects: Sequence[RandomEffect]) -> dict[str, Any]:
    randoms = {e.name for e in effects}
    fixed = sol[~sol["effect"].isin(randoms)]
    multi = fixed["trait"].nunique() > 1
    if fixed.empty:
        return {"table": None, "message": "No fixed-effect solutions."}
    if len(fixed) < FIXED_TABLE_MAX_ROWS:
        columns = (("trait",) if multi else ()) + ("effect", "level", "BLUE", "SE")
        rows = tuple(
            ((r.trait,) if multi else ())
            + (_text(r.effect), _text(r.level), fmt_sig(r.estimate), fmt_sig(r.se))
            for r in fixed.itertuples(index=False)
        )
        table = Table(
            "Fixed-effect solutions",
            columns,
            rows,
            tuple(c in ("BLUE", "SE") for c in columns),
        )
    else:
        groups = fixed.groupby(["trait", "effect"], sort=False)["estimate"]
        stats = groups.agg(["size", "min", "mean", "max"])
        columns = (("trait",) if multi else ()) + ("effect", "levels", "min", "mean", "max")
        rows = tuple(
            ((trait,) if multi else ())
            + (effect, fmt_count(n), fmt_sig(lo), fmt_sig(mu), fmt_sig(hi))
            for (trait, effect), (n, lo, mu, hi) in stats.iterrows()
        )
        table = Table(
            f"Fixed-effect solutions, summarised ({len(fixed):,} rows; all are in the solutions "
            "file)",
            columns,
            rows,
            (False,) * (2 if multi else 1) + (True,) * 4,
        )
    return {"table": table, "message": ""}


def _other_random_section(sol: pd.DataFrame, effects: Sequence[RandomEffect]) -> Table | None:
    others = [e.name for e in effects if e.type == "iid"]
    rows = []
    for name in others:
        for trait, group in sol[sol["effect"] == name].groupby("trait", sort=False):
            est = group["estimate"].dropna()
            rows.append(
                (
                    name,
                    str(trait),
                    fmt_count(len(group)),
                    fmt_sig(est.std(ddof=0)) if len(est) else DASH,
                    fmt_sig(est.min()) if len(est) else DASH,
                    fmt_sig(est.max()) if len(est) else DASH,
                )
            )
    if not rows:
        return None
    return Table(
        "Other random effects (BLUPs), summarised",
        ("effect", "trait", "levels", "SD", "min", "max"),
        tuple(rows),
        (False, False, True, True, True, True),
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


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
    model: dict,
    variances: dict,
    solutions: pd.DataFrame,
    clean_summary: dict,
    rejected: pd.DataFrame,
    relationships_summary: dict | None,
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
    variance_components: dict | None = None,
    trace: pd.DataFrame | None = None,
    top_n: int = 20,
) -> str:
    """Render one model's report as a self-contained HTML document (a string).

    Args:
        model_name: the model's name (its results folder).
        model: the model's config block (traits, fixed, covariates, random, variances, estimate).
        variances: the variances used for the solutions: effect name / ``residual`` -> variance
            (one trait) or ``t x t`` matrix (``t`` traits in ``model["traits"]`` order);
            ``"a.m"`` -> covariance of effects ``a`` and ``m``.
        solutions: columns ``trait, effect, level, estimate, se, reliability`` (``se`` and
            ``reliability`` may be NaN or absent).
        clean_summary: the cleaning stage's summary (missing keys are skipped).
        rejected: the cleaning stage's rejected rows (``file, line, id, model, action, reason,
            detail``).
        relationships_summary: pedigree statistics, or None for a model without a pedigree.
        inbreeding: columns ``id, F``, or None.
        pedigree: the cleaned pedigree (``id, sire, dam`` and optionally ``birth_year``,
            ``sex``, ``origin``), or None.
        variance_components: the REML result, or None when variances were given.
        trace: the REML iteration trace, or None.
        top_n: number of animals in the top list (per trait).

    Returns:
        The HTML document. Equal inputs give an equal string.

    Raises:
        ConfigError: an unknown random-effect type, variances of the wrong shape, or a bad
            ``top_n``.
        InputError: a solutions table without the columns trait, effect, level, estimate.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ConfigError(f"report: top_n must be a positive integer, got {top_n!r}.")
    effects = random_effects(model, model_name)
    sol = _check_solutions(solutions)
    traits = list(_traits(model))
    for trait in pd.unique(sol["trait"]):
        if trait not in traits:
            traits.append(trait)
    if not traits:
        traits = ["y"]

    equation = _equation(model, effects)
    data = _data_section(model_name, clean_summary or {}, rejected)
    ped = _pedigree_section(relationships_summary, inbreeding, pedigree)
    var = _variance_section(model_name, model, variances or {})
    reml = _reml_section(variance_components, trace, traits)
    top = _top_section(sol, effects, traits, inbreeding, pedigree, int(top_n))
    plots = _plots_section(sol, effects, traits, pedigree)
    fixed = _fixed_section(sol, effects)
    other = _other_random_section(sol, effects)

    mod = ((clean_summary or {}).get("models") or {}).get(model_name) or {}
    key_figures = []
    if "records" in mod:
        key_figures.append(("records", fmt_count(mod["records"])))
    if "animals_with_records" in mod:
        key_figures.append(("animals with records", fmt_count(mod["animals_with_records"])))
    if relationships_summary and "animals" in relationships_summary:
        key_figures.append(("animals in pedigree", fmt_count(relationships_summary["animals"])))
    vs: VarianceSummary = var["summary"]
    if any(e.type == "additive" for e in effects):
        for trait, h2 in zip(vs.traits, vs.heritability):
            name = f"h² {trait}" if len(vs.traits) > 1 else "h²"
            key_figures.append((name, fmt_fixed(h2, 3)))
    if top["tables"]:
        key_figures.append(("top animal" + (f" ({traits[0]})" if len(traits) > 1 else ""),
                            top["tables"][0].rows[0][1]))

    estimate = str(model.get("estimate", "none"))
    source = (
        "estimated by REML"
        if variance_components is not None
        else f"given in the config (estimate: {estimate})"
    )
    html = _environment().get_template("report.html").render(
        version=__version__,
        model_name=model_name,
        traits=traits,
        equation=equation,
        key_figures=key_figures,
        data=data,
        pedigree=ped,
        variances=var,
        variance_source=source,
        reml=reml,
        top=top,
        top_n=int(top_n),
        plots=plots,
        fixed=fixed,
        other=other,
    )
    logger.info("report for model %s: %d characters", model_name, len(html))
    return html


def write_report(html: str, path: str | Path) -> None:
    """Write the HTML document as UTF-8 (no newline translation), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(html)
