"""Sections on the solutions: top animals, direct and maternal EBV and reliability distributions
with the genetic trends, and the other random effects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from henderson.config import ModelSpec
from henderson.report.figures import histogram, line_plot
from henderson.report.format import (
    DASH,
    Plot,
    Table,
    animals,
    fmt_count,
    fmt_fixed,
    fmt_sig,
    fmt_year,
    text,
)
from henderson.report.frames import birth_years, lookup, ranked, rows_of, trend


def top_section(
    sol: pd.DataFrame,
    spec: ModelSpec,
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
    top_n: int,
) -> dict[str, Any]:
    """One table per trait of the ``top_n`` animals by EBV, with their EBVs for the other
    traits, maternal EBVs, F, parents and birth year where known."""
    if spec.additive is None:
        return {"tables": [], "message": "This model has no additive genetic effect: no EBVs."}
    traits = spec.traits
    direct = spec.additive.name
    maternal = [e.name for e in spec.random if e.type == "maternal"]
    tops = {trait: ranked(sol, direct, trait, top_n) for trait in traits}
    shown = {i for top in tops.values() for i in top["id"]}
    parents = rows_of(pedigree, shown)
    f_of = lookup(rows_of(inbreeding, shown), "F")
    sire_of = lookup(parents, "sire")
    dam_of = lookup(parents, "dam")
    year_of = birth_years(pedigree, shown)  # the column shows when any animal has a year
    tables = []
    for trait in traits:
        top = tops[trait]
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
        optional = [
            (name, values)
            for name, values in (("F", f_of), ("sire", sire_of), ("dam", dam_of),
                                 ("birth year", year_of))
            if values is not None
        ]
        columns += [name for name, _ in optional]
        rows = []
        for rank, rec in enumerate(top.itertuples(index=False), start=1):
            row = [
                str(rank),
                text(rec.id),
                fmt_fixed(rec.ebv, 3),
                fmt_fixed(rec.se, 3),
                fmt_fixed(rec.reliability, 2),
            ]
            for _, effect, t in extra:
                row.append(fmt_fixed(indexed.get((effect, t, rec.id), np.nan), 3))
            for name, values in optional:
                if name == "F":
                    row.append(fmt_fixed(values.get(rec.id, np.nan), 3))
                elif name == "birth year":
                    row.append(fmt_year(values.get(rec.id, np.nan)))
                else:
                    row.append(text(values.get(rec.id)))
            rows.append(tuple(row))
        tables.append(
            Table(
                caption=f"Top {len(rows)} animals by EBV for {trait} ({direct})",
                columns=tuple(columns),
                rows=tuple(rows),
                numeric=tuple(c not in ("id", "sire", "dam") for c in columns),
            )
        )
    message = "" if tables else f"No solutions for the additive effect {direct}."
    return {"tables": tables, "message": message}


def plots_section(
    sol: pd.DataFrame, spec: ModelSpec, pedigree: pd.DataFrame | None
) -> dict[str, Any]:
    """Per trait and genetic effect (the direct one, then each maternal one): EBV and
    reliability histograms and the genetic trend (plot and table)."""
    plots: list[Plot] = []
    trend_tables: list[Table] = []
    messages: list[str] = []
    if spec.additive is None:
        return {"plots": plots, "trend_tables": trend_tables, "messages": messages}
    effects = [spec.additive.name] + [e.name for e in spec.random if e.type == "maternal"]
    traits = spec.traits
    years = birth_years(pedigree)
    for trait in traits:
        for effect in effects:
            maternal = effect != spec.additive.name
            kind = f"maternal EBV ({effect})" if maternal else "EBV"
            label = f" for {trait}" if len(traits) > 1 else ""
            if maternal:
                label = f" ({effect}){label}"
            name = "Maternal EBV" if maternal else "EBV"
            rows = sol[(sol["effect"] == effect) & (sol["trait"] == trait)]
            ebv = rows["estimate"].dropna().to_numpy(dtype=float)
            if ebv.size:
                plots.append(
                    Plot(
                        title=f"{name} distribution{label}",
                        caption=f"{name}s of {animals(ebv.size)} ({effect}), {trait}.",
                        uri=histogram(ebv, f"{name}, {trait}", f"{kind} ({trait} units)"),
                        alt=f"Histogram of {kind}s for {trait}",
                    )
                )
            rel = rows["reliability"].dropna().to_numpy(dtype=float)
            if rel.size:
                plots.append(
                    Plot(
                        title=f"Reliability distribution{label}",
                        caption=f"Reliabilities of {rel.size:,} {kind}s, {trait}.",
                        uri=histogram(
                            rel, f"Reliability, {trait}", "reliability", value_range=(0.0, 1.0),
                            bins=20,
                        ),
                        alt=f"Histogram of reliabilities of {kind}s for {trait}",
                    )
                )
            elif ebv.size:
                messages.append(f"Reliabilities were not computed for {trait}{label}.")
            if pedigree is None:
                continue
            by_year = trend(
                pd.DataFrame({"id": rows["level"].to_numpy(), "ebv": rows["estimate"].to_numpy()}),
                years,
            )
            if by_year.empty:
                continue
            trend_name = "Maternal genetic trend" if maternal else "Genetic trend"
            plots.append(
                Plot(
                    title=f"{trend_name}{label}",
                    caption=f"Mean {kind} ({trait}) of animals born in each year.",
                    uri=line_plot(
                        by_year["birth_year"].to_numpy(dtype=float),
                        by_year["mean_ebv"].to_numpy(dtype=float),
                        f"{trend_name}, {trait}",
                        "birth year",
                        f"mean {kind}",
                    ),
                    alt=f"Line plot of mean {kind} for {trait} by birth year",
                )
            )
            trend_tables.append(
                Table(
                    caption=f"Mean {kind} by birth year, {trait}",
                    columns=("birth year", "animals", f"mean {kind}"),
                    rows=tuple(
                        (fmt_year(y), fmt_count(n), fmt_fixed(m, 3))
                        for y, n, m in by_year.itertuples(index=False)
                    ),
                    numeric=(True, True, True),
                )
            )
    if pedigree is not None and not trend_tables and years is None:
        messages.append("No genetic trend: the pedigree has no birth years.")
    return {"plots": plots, "trend_tables": trend_tables, "messages": messages}


def other_random_section(sol: pd.DataFrame, spec: ModelSpec) -> Table | None:
    """BLUPs of the iid random effects, summarised per effect and trait; None without any."""
    rows = []
    for effect in spec.random:
        if effect.type != "iid":
            continue
        for trait, group in sol[sol["effect"] == effect.name].groupby("trait", sort=False):
            est = group["estimate"].dropna()
            have = len(est) > 0
            rows.append(
                (
                    effect.name,
                    str(trait),
                    fmt_count(len(group)),
                    fmt_sig(est.std(ddof=0)) if have else DASH,
                    fmt_sig(est.min()) if have else DASH,
                    fmt_sig(est.max()) if have else DASH,
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
