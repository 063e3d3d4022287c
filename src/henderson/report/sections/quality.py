"""Data-quality sections: the model's records (trait statistics, contemporary groups, records per
animal, records kept without a level of a random effect) and the pedigree (completeness by birth
year, sires with the most progeny)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from henderson.config import ModelSpec
from henderson.report.format import (
    DASH,
    Table,
    fmt_count,
    fmt_fixed,
    fmt_sig,
    fmt_year,
    is_missing,
    text,
)
from henderson.report.qc import (
    group_sizes,
    group_summary,
    pedigree_completeness,
    progeny_counts,
    records_per_animal,
    size_classes,
    trait_statistics,
)
from henderson.report.sections.model import trait_fixed

#: Share of a trait's records in singleton contemporary groups above which the banner warns.
SINGLETON_SHARE_LIMIT = 0.10
#: Rows of the records-per-animal table; more records per animal are pooled in the last row.
RECORDS_PER_ANIMAL_ROWS = 10
#: Sires listed by number of progeny.
TOP_SIRES = 10


def _percent(part: float, whole: float) -> str:
    return DASH if not whole else f"{100.0 * part / whole:.1f} %"


def data_quality_section(
    spec: ModelSpec,
    records: pd.DataFrame | None,
    id_column: str,
    model_summary: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Tables on the model's records, and the warnings for the banner (contemporary groups whose
    singletons hold more than :data:`SINGLETON_SHARE_LIMIT` of a trait's records).

    ``records``: the model's records (:func:`henderson.clean.model_records`), or None when the
    report was not given the cleaned phenotypes. ``model_summary``: the model's entry of the clean
    summary (its ``kept_without_level`` is shown when present)."""
    kept = {k: n for k, n in (model_summary.get("kept_without_level") or {}).items() if n}
    kept_table = None
    if kept:
        kept_table = Table(
            "Records kept without a level of a random effect",
            ("effect", "records"),
            tuple((text(effect), fmt_count(n)) for effect, n in kept.items()),
            (False, True),
            note=(
                "These records have no value in the effect's column; they are used without a "
                "level of that effect (missing: keep)."
            ),
        )
    if records is None:
        return {"available": False, "kept": kept_table}, []

    stats = trait_statistics(records, spec.traits)
    traits = Table(
        "Trait statistics of the records used",
        ("trait", "records", "mean", "SD", "min", "max"),
        tuple(
            (r.trait, fmt_count(r.n), fmt_sig(r.mean), fmt_sig(r.sd), fmt_sig(r.min), fmt_sig(r.max))
            for r in stats.itertuples(index=False)
        ),
        (False, True, True, True, True, True),
        note="SD: sample standard deviation (n − 1 in the denominator).",
    )

    groups, classes, warnings, message = _contemporary_groups(spec, records)
    per_animal = records_per_animal(records, id_column)
    shown = per_animal[per_animal["records"] < RECORDS_PER_ANIMAL_ROWS]
    pooled = per_animal[per_animal["records"] >= RECORDS_PER_ANIMAL_ROWS]
    rows = [(fmt_count(r), fmt_count(a)) for r, a in shown.itertuples(index=False)]
    if len(pooled):
        rows.append((f"≥ {RECORDS_PER_ANIMAL_ROWS}", fmt_count(pooled["animals"].sum())))
    n_animals = int(per_animal["animals"].sum())
    n_records = int((per_animal["records"] * per_animal["animals"]).sum())
    mean = n_records / n_animals if n_animals else None
    animals = Table(
        "Records per animal",
        ("records", "animals"),
        tuple(rows),
        (True, True),
        note=(
            f"{n_animals:,} animals with {n_records:,} records"
            + (f", {fmt_fixed(mean, 2)} records per animal on average." if mean else ".")
        ),
    )
    return {
        "available": True,
        "traits": traits,
        "groups": groups,
        "classes": classes,
        "groups_message": message,
        "animals": animals,
        "kept": kept_table,
    }, warnings


def _contemporary_groups(
    spec: ModelSpec, records: pd.DataFrame
) -> tuple[Table | None, Table | None, list[str], str]:
    """Group-size summary per trait (the trait's first class fixed effect), the size classes of
    the first trait's groups, the banner warnings and a message when there are no groups."""
    rows = []
    warnings = []
    classes = None
    for trait in spec.traits:
        fixed = trait_fixed(spec, trait)
        if not fixed:
            continue
        effect = fixed[0]
        sizes = group_sizes(records, effect, trait)
        summary = group_summary(sizes)
        share = summary["singletons"] / summary["records"] if summary["records"] else 0.0
        rows.append(
            (
                trait,
                effect,
                fmt_count(summary["groups"]),
                fmt_count(summary["records"]),
                fmt_sig(summary["median"]),
                fmt_count(summary["min"]),
                fmt_count(summary["max"]),
                fmt_count(summary["singletons"]),
                _percent(summary["singletons"], summary["records"]),
            )
        )
        if share > SINGLETON_SHARE_LIMIT:
            which = f" of {trait}" if spec.multitrait else ""
            warnings.append(
                f"{summary['singletons']:,} of the {summary['records']:,} records{which} "
                f"({_percent(summary['singletons'], summary['records'])}) are alone in "
                f"their {effect} group: such a record only estimates its own group and adds "
                "nothing to the comparison of animals (see Data quality)."
            )
        if classes is None:
            bins = size_classes(sizes)
            which = f", {trait}" if spec.multitrait else ""
            classes = Table(
                f"Contemporary groups ({effect}{which}) by size",
                ("records per group", "groups", "records"),
                tuple((s, fmt_count(g), fmt_count(r)) for s, g, r in bins.itertuples(index=False)),
                (True, True, True),
            )
    if not rows:
        return None, None, [], "The model has no class fixed effect: no contemporary groups."
    columns = ("trait", "effect", "groups", "records", "median size", "min", "max",
               "singletons", "share of records in singletons")
    if not spec.multitrait:
        rows = [row[1:] for row in rows]
        columns = columns[1:]
    table = Table(
        "Contemporary groups (first class fixed effect)",
        columns,
        tuple(rows),
        tuple(c not in ("trait", "effect") for c in columns),
        note=(
            "Sizes count the records of each level. A singleton group (one record) is estimated "
            "from that record alone, so the record contributes nothing to the genetic comparison."
        ),
    )
    return table, classes, warnings, ""


def pedigree_quality_section(
    pedigree: pd.DataFrame | None,
    sol: pd.DataFrame,
    spec: ModelSpec,
    records: pd.DataFrame | None,
    id_column: str,
) -> dict[str, Any]:
    """Pedigree completeness by birth year and the :data:`TOP_SIRES` sires with the most
    progeny, with their EBVs (and reliabilities) for every trait."""
    if pedigree is None or "id" not in pedigree.columns:
        return {"completeness": None, "sires": None}
    complete = pedigree_completeness(pedigree)
    rows = []
    for r in complete.itertuples(index=False):
        year = fmt_year(r.birth_year) if not is_missing(r.birth_year) else "unknown"
        if len(complete) == 1 and is_missing(r.birth_year):
            year = "all"
        rows.append((year, fmt_count(r.animals), _percent(r.sire, r.animals),
                     _percent(r.dam, r.animals), _percent(r.both, r.animals)))
    if len(complete) > 1:
        total = complete[["animals", "sire", "dam", "both"]].sum()
        rows.append(("all", fmt_count(total["animals"]), _percent(total["sire"], total["animals"]),
                     _percent(total["dam"], total["animals"]),
                     _percent(total["both"], total["animals"])))
    completeness = Table(
        "Pedigree completeness by birth year",
        ("birth year", "animals", "sire known", "dam known", "both known"),
        tuple(rows),
        (True, True, True, True, True),
        note="Share of the animals born in each year whose sire, dam or both parents are known.",
    )

    counts = progeny_counts(pedigree, records, id_column).head(TOP_SIRES)
    if counts.empty:
        return {"completeness": completeness, "sires": None}
    columns = ["rank", "sire", "progeny"]
    if "with_records" in counts.columns:
        columns.append("progeny with records")
    effect = spec.additive.name if spec.additive is not None else None
    estimates = reliabilities = None
    if effect is not None:
        mine = sol[(sol["effect"] == effect) & sol["level"].isin(set(counts["sire"]))]
        mine = mine.drop_duplicates(["trait", "level"])
        estimates = mine.set_index(["trait", "level"])["estimate"]
        reliabilities = mine.set_index(["trait", "level"])["reliability"]
        for trait in spec.traits:
            suffix = f" {trait}" if spec.multitrait else ""
            columns += [f"EBV{suffix}", f"reliability{suffix}"]
    sire_rows = []
    for rank, r in enumerate(counts.itertuples(index=False), start=1):
        row = [str(rank), text(r.sire), fmt_count(r.progeny)]
        if "with_records" in counts.columns:
            row.append(fmt_count(r.with_records))
        if estimates is not None:
            for trait in spec.traits:
                row.append(fmt_fixed(estimates.get((trait, r.sire)), 3))
                row.append(fmt_fixed(reliabilities.get((trait, r.sire)), 2))
        sire_rows.append(tuple(row))
    sires = Table(
        f"Top {len(sire_rows)} sires by number of progeny",
        tuple(columns),
        tuple(sire_rows),
        tuple(c != "sire" for c in columns),
        note="Progeny: animals of the cleaned pedigree with this sire; ties are ordered by ID.",
    )
    return {"completeness": completeness, "sires": sires}
