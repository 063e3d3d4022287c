"""The fixed-effect section, readable at any number of levels: effects with few levels as one
full table; an effect with many levels (a herd-year effect with thousands) as a summary row, its
highest and lowest estimates and a histogram. Every solution stays in the solutions file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from henderson.config import ModelSpec
from henderson.report.figures import histogram
from henderson.report.format import Plot, Table, fmt_count, fmt_sig, text

#: A fixed effect (per trait) with more levels than this is summarised.
FIXED_FULL_LEVELS = 30
#: Levels listed with the highest and with the lowest estimates of a summarised effect.
FIXED_EXTREMES = 5


def effect_summary(rows: pd.DataFrame) -> dict[str, float]:
    """``levels``, ``zeroed`` (estimate 0 without SE: the level set to zero by a constraint),
    ``min``, ``median``, ``max`` of the estimates and ``se_min``, ``se_max`` of one effect's
    solutions (NaN where there is none)."""
    estimate = rows["estimate"].to_numpy(dtype=float)
    se = rows["se"].to_numpy(dtype=float)
    est = estimate[np.isfinite(estimate)]
    ses = se[np.isfinite(se)]
    return {
        "levels": len(rows),
        "zeroed": int(((estimate == 0.0) & np.isnan(se)).sum()),
        "min": float(est.min()) if est.size else np.nan,
        "median": float(np.median(est)) if est.size else np.nan,
        "max": float(est.max()) if est.size else np.nan,
        "se_min": float(ses.min()) if ses.size else np.nan,
        "se_max": float(ses.max()) if ses.size else np.nan,
    }


def extremes(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    """Rows ranked by estimate (highest first, ties by level) with a 1-based ``rank``: the ``k``
    highest and the ``k`` lowest (all rows when there are at most 2k)."""
    rows = rows[rows["estimate"].notna()]
    ranked = rows.sort_values("level", kind="mergesort").sort_values(
        "estimate", ascending=False, kind="mergesort"
    )
    ranked = ranked.assign(rank=np.arange(1, len(ranked) + 1))
    if len(ranked) <= 2 * k:
        return ranked
    return pd.concat([ranked.head(k), ranked.tail(k)])


def fixed_section(sol: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    """The fixed-effect solutions (BLUE, SE): effects with at most :data:`FIXED_FULL_LEVELS`
    levels in one table; larger ones summarised, with their extremes and a histogram."""
    randoms = {e.name for e in spec.random}
    fixed = sol[~sol["effect"].isin(randoms)]
    if fixed.empty:
        return {"tables": [], "plots": [], "message": "No fixed-effect solutions."}
    multi = spec.multitrait or fixed["trait"].nunique() > 1
    lead = ("trait",) if multi else ()
    groups = [
        (str(trait), str(effect), rows)
        for (trait, effect), rows in fixed.groupby(["trait", "effect"], sort=False)
    ]
    small = [g for g in groups if len(g[2]) <= FIXED_FULL_LEVELS]
    large = [g for g in groups if len(g[2]) > FIXED_FULL_LEVELS]
    tables: list[Table] = []
    plots: list[Plot] = []
    if small:
        shown = fixed[fixed.set_index(["trait", "effect"]).index.isin([(t, e) for t, e, _ in small])]
        columns = (*lead, "effect", "level", "BLUE", "SE")
        tables.append(
            Table(
                "Fixed-effect solutions",
                columns,
                tuple(
                    ((r.trait,) if multi else ())
                    + (text(r.effect), text(r.level), fmt_sig(r.estimate), fmt_sig(r.se))
                    for r in shown.itertuples(index=False)
                ),
                tuple(c in ("BLUE", "SE") for c in columns),
            )
        )
    if large:
        columns = (*lead, "effect", "levels", "set to zero", "min", "median", "max", "SE min",
                   "SE max")
        rows = []
        for trait, effect, frame in large:
            s = effect_summary(frame)
            rows.append(
                ((trait,) if multi else ())
                + (text(effect), fmt_count(s["levels"]), fmt_count(s["zeroed"]), fmt_sig(s["min"]),
                   fmt_sig(s["median"]), fmt_sig(s["max"]), fmt_sig(s["se_min"]),
                   fmt_sig(s["se_max"]))
            )
        tables.append(
            Table(
                f"Fixed effects with more than {FIXED_FULL_LEVELS} levels, summarised",
                columns,
                tuple(rows),
                (False,) * len(lead) + (False,) + (True,) * 8,
                note="min, median, max: of the estimates (BLUE); SE min, SE max: the range of "
                "their standard errors.",
            )
        )
        for trait, effect, frame in large:
            which = f", {trait}" if multi else ""
            top = extremes(frame, FIXED_EXTREMES)
            tables.append(
                Table(
                    f"{effect}{which}: the {FIXED_EXTREMES} highest and {FIXED_EXTREMES} lowest "
                    f"of {len(frame):,} levels",
                    ("rank", "level", "BLUE", "SE"),
                    tuple(
                        (fmt_count(r.rank), text(r.level), fmt_sig(r.estimate), fmt_sig(r.se))
                        for r in top.itertuples(index=False)
                    ),
                    (True, False, True, True),
                )
            )
            values = frame["estimate"].dropna().to_numpy(dtype=float)
            if values.size:
                plots.append(
                    Plot(
                        title=f"{effect}{which}",
                        caption=f"Estimates of the {values.size:,} levels of {effect}{which}.",
                        uri=histogram(values, f"{effect}{which}", "BLUE", ylabel="levels"),
                        alt=f"Histogram of the estimates of {effect}{which}",
                    )
                )
    return {"tables": tables, "plots": plots, "message": ""}
