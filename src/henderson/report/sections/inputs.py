"""Sections on the inputs: the data used (with the rejected rows) and the pedigree."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from henderson.report.figures import histogram
from henderson.report.format import (
    Plot,
    Table,
    animals,
    fmt_count,
    fmt_fixed,
    is_missing,
    text,
)
from henderson.report.frames import floats, keys, rejected_frame

#: Where the cleaning stage writes every rejected or modified input row.
REJECTED_FILE = "results/clean/rejected.parquet"
#: Rows of the rejected-rows table shown as examples.
REJECTED_EXAMPLES = 10


def data_section(
    model_name: str, clean_summary: Mapping[str, Any], rejected: pd.DataFrame | None
) -> dict[str, Any]:
    """Counts of the data used, input files, rejected rows by reason and the first examples."""
    ped = clean_summary.get("pedigree") or {}
    phe = clean_summary.get("phenotypes") or {}
    mod = (clean_summary.get("models") or {}).get(model_name) or {}
    rows: list[tuple[str, str]] = []

    def add(label: str, block: Mapping[str, Any], key: str) -> None:
        if key in block and not is_missing(block[key]):
            rows.append((label, fmt_count(block[key])))

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
    counts = Table("Data used", ("", "count"), tuple(rows), (False, True))
    file_rows = tuple(
        (label, text(block["file"]))
        for label, block in (("phenotypes", phe), ("pedigree", ped))
        if not is_missing(block.get("file"))
    )
    files = Table("Input files", ("table", "file"), file_rows, (False, False))

    rej = rejected_frame(rejected)
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
        total = ("total", fmt_count(sum(this.values())), fmt_count(sum(everything.values())))
        reason_rows += (total,)
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
        columns = ("file", "line", "id", "action", "reason", "detail")
        examples = Table(
            caption=(
                f"First {len(shown):,} of {len(mine):,} rejected or modified rows for this model"
            ),
            columns=columns,
            rows=tuple(tuple(text(r[c]) for c in columns) for _, r in shown.iterrows()),
            numeric=(False, True, False, False, False, False),
        )
    return {
        "counts": counts,
        "files": files,
        "by_reason": by_reason,
        "examples": examples,
        "file": REJECTED_FILE,
    }


def pedigree_section(
    summary: Mapping[str, Any] | None,
    inbreeding: pd.DataFrame | None,
    pedigree: pd.DataFrame | None,
) -> dict[str, Any]:
    """Pedigree statistics, animals per generation and origin, and the inbreeding histogram."""
    summary = dict(summary or {})
    f_values = None
    if inbreeding is not None and "F" in inbreeding.columns:
        f_values = floats(inbreeding["F"])
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
    if "max_generation" in summary and not is_missing(summary["max_generation"]):
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
        counts = keys(pedigree["origin"]).value_counts(sort=False)
        order = sorted(counts.index, key=lambda o: (-int(counts[o]), o))
        origin = Table(
            caption="Animals by origin in the cleaned pedigree",
            columns=("origin", "animals"),
            rows=tuple((text(o or None), fmt_count(counts[o])) for o in order),
            numeric=(False, True),
        )

    plot = None
    message = ""
    if f_values is not None:
        inbred = f_values[f_values > 0]
        if inbred.size:
            plot = Plot(
                title="Inbreeding",
                caption=f"Inbreeding coefficients of the {animals(inbred.size)} with F > 0.",
                uri=histogram(
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
