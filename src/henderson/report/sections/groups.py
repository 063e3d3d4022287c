"""The unknown parent groups (or metafounders) of a model: size, solution and standard error per
group and trait, and Γ for metafounders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from henderson.report.format import DASH, Table, fmt_count, fmt_sig, text

_NOTES = {
    "fixed": ("Fixed groups: the group solutions and the EBVs (which include the group contributions, "
              "a + Qg) are relative to the reference group, shown with solution 0 and no SE; compare "
              "differences between groups."),
    "random": "Random groups (variance ratio σ²g/σ²a as configured); the EBVs include the group contributions (a + Qg).",
    "metafounders": "Metafounders related by Γ (below); the EBVs are relative to the metafounders' base.",
}


def groups_section(sol: pd.DataFrame, groups: pd.DataFrame | None, gamma: Sequence[Sequence[float]] | None,
                   gamma_estimate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"tables": [per-group table, Γ table], "note": text}; empty without groups. `groups`: the
    relationships stage's groups.parquet (group, size, animals, first_year, last_year, merged,
    type); `sol`: the solutions (rows with effect `group` or `group:<effect>`)."""
    if groups is None or groups.empty:
        return {"tables": [], "note": ""}
    rows = sol[sol["effect"].astype(str).str.startswith("group")]
    by_group = groups.set_index(groups["group"].astype(str))
    out_rows = []
    for (effect, trait), part in rows.groupby(["effect", "trait"], sort=False):
        for _, row in part.iterrows():
            level = str(row["level"])
            info = by_group.loc[level] if level in by_group.index else None
            years = DASH
            if info is not None and not pd.isna(info["first_year"]):
                years = f"{int(info['first_year'])}–{int(info['last_year'])}"
            out_rows.append((
                text(level), str(effect), str(trait),
                fmt_count(int(info["size"])) if info is not None else DASH,
                fmt_count(int(info["animals"])) if info is not None else DASH,
                years,
                fmt_sig(row["estimate"]),
                DASH if pd.isna(row["se"]) else fmt_sig(row["se"]),
                text(info["merged"]) if info is not None and info["merged"] else DASH,
            ))
    tables = [Table(
        "Unknown parent groups",
        ("group", "effect", "trait", "unknown parents", "animals", "birth years", "solution", "SE", "merged from"),
        tuple(out_rows),
        (False, False, False, True, True, False, True, True, False),
        "unknown parents: how many missing sires and dams the group replaces; animals: those with a "
        "parent in the group.",
    )]
    if gamma is not None:
        matrix = np.asarray(gamma, dtype=float)
        codes = [str(c) for c in groups["group"]]
        tables.append(Table(
            "Γ: relationships among the metafounders",
            ("", *codes),
            tuple((text(c), *(fmt_sig(v) for v in matrix[i])) for i, c in enumerate(codes)),
            (False, *([True] * len(codes))),
            _gamma_note(gamma_estimate),
        ))
    kind = str(groups["type"].iloc[0]) if "type" in groups.columns else "fixed"
    return {"tables": tables, "note": _NOTES.get(kind, "")}


def _gamma_note(estimate: Mapping[str, Any] | None) -> str:
    """Where Γ comes from: given in the config, or estimated from genotypes (animals, SNPs, gene
    equivalents and the upward bias of each diagonal)."""
    if not estimate:
        return "Γ as given in the configuration."
    parts = ", ".join(f"{text(k)} {fmt_sig(v)}" for k, v in estimate.get("gene_equivalents", {}).items())
    noise = ", ".join(f"{text(k)} {fmt_sig(v)}" for k, v in estimate.get("noise", {}).items())
    left = estimate.get("left_out", 0)
    return (f"Γ estimated from the genotypes of {fmt_count(estimate['animals'])} animals at "
            f"{fmt_count(estimate['snps'])} SNPs: base allele frequencies of each metafounder by least squares on "
            f"the animals' metafounder contributions, Γ = 8/m (P − ½)'(P − ½). Gene equivalents per metafounder: "
            f"{parts}; sampling adds about {noise} to the diagonals."
            + (f" {fmt_count(left)} genotyped animals were left out (not in the pedigree, or with unknown "
               "ancestors outside the metafounders)." if left else ""))
