"""Data-quality numbers for the report, as plain tables: trait statistics, contemporary-group
sizes, records per animal, pedigree completeness by birth year and progeny per sire.

Every function takes the model's records (as :func:`henderson.clean.model_records` selects them:
traits as float64 with NaN = missing, class columns as strings) or the cleaned pedigree, and
returns a small DataFrame in a stable order; nothing here formats or renders.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from henderson.report.frames import birth_years, floats, keys, member


def trait_statistics(records: pd.DataFrame, traits: Sequence[str]) -> pd.DataFrame:
    """Per trait: ``n`` (records with a finite value), ``mean``, ``sd`` (sample SD, n − 1 in the
    denominator; NaN below 2 records), ``min`` and ``max``, in trait order."""
    rows = []
    for trait in traits:
        values = floats(records[trait]) if trait in records.columns else np.array([])
        values = values[np.isfinite(values)]
        n = int(values.size)
        rows.append(
            (
                trait,
                n,
                float(values.mean()) if n else np.nan,
                float(values.std(ddof=1)) if n > 1 else np.nan,
                float(values.min()) if n else np.nan,
                float(values.max()) if n else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=["trait", "n", "mean", "sd", "min", "max"])


def group_sizes(records: pd.DataFrame, column: str, trait: str | None = None) -> pd.Series:
    """Records per level of ``column`` (only records with a finite ``trait`` value when a trait
    is given), indexed by level (sorted); levels without a record are absent."""
    rows = records
    if trait is not None:
        rows = records[np.isfinite(floats(records[trait]))]
    levels = keys(rows[column])
    levels = levels[levels != ""]
    counts = levels.value_counts(sort=False)
    return counts.sort_index(kind="mergesort").astype("int64")


def group_summary(sizes: pd.Series) -> dict[str, float]:
    """``groups``, ``records``, ``median``, ``min``, ``max`` size and ``singletons`` (groups of
    one record, so also the records in them) of group sizes; zeros for no group."""
    values = sizes.to_numpy(dtype=np.int64)
    if not values.size:
        return {"groups": 0, "records": 0, "median": np.nan, "min": 0, "max": 0, "singletons": 0}
    return {
        "groups": int(values.size),
        "records": int(values.sum()),
        "median": float(np.median(values)),
        "min": int(values.min()),
        "max": int(values.max()),
        "singletons": int((values == 1).sum()),
    }


#: Size classes of contemporary groups: (label, smallest, largest) in records.
SIZE_CLASSES = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3–5", 3, 5),
    ("6–10", 6, 10),
    ("11–20", 11, 20),
    ("21–50", 21, 50),
    ("51–100", 51, 100),
    ("> 100", 101, None),
)


def size_classes(sizes: pd.Series) -> pd.DataFrame:
    """Groups and records per size class of :data:`SIZE_CLASSES` (classes without a group are
    left out)."""
    values = sizes.to_numpy(dtype=np.int64)
    rows = []
    for label, low, high in SIZE_CLASSES:
        inside = (values >= low) & (values <= (high if high is not None else np.iinfo(np.int64).max))
        if inside.any():
            rows.append((label, int(inside.sum()), int(values[inside].sum())))
    return pd.DataFrame(rows, columns=["size", "groups", "records"])


def records_per_animal(records: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """How many animals have 1, 2, ... records: columns ``records`` and ``animals``, sorted by
    ``records`` (a multi-trait record is one record)."""
    per_animal = keys(records[id_column]).value_counts(sort=False)
    distribution = per_animal.value_counts(sort=False).sort_index(kind="mergesort")
    return pd.DataFrame(
        {
            "records": distribution.index.to_numpy(dtype=np.int64),
            "animals": distribution.to_numpy(dtype=np.int64),
        }
    )


def pedigree_completeness(pedigree: pd.DataFrame) -> pd.DataFrame:
    """Per birth year: ``animals`` and how many have a known ``sire``, a known ``dam`` and
    ``both``; sorted by year, animals without a year last (``birth_year`` NaN). Without birth
    years, one row with ``birth_year`` NaN covers every animal."""
    sire = keys(pedigree["sire"]).to_numpy() != "" if "sire" in pedigree.columns else None
    dam = keys(pedigree["dam"]).to_numpy() != "" if "dam" in pedigree.columns else None
    n = len(pedigree)
    sire = np.zeros(n, dtype=bool) if sire is None else sire
    dam = np.zeros(n, dtype=bool) if dam is None else dam
    years = birth_years(pedigree)
    ids = keys(pedigree["id"])
    if years is None:
        year = np.full(n, np.nan)
    elif ids.is_unique:  # a cleaned pedigree: each row's own year
        year = floats(pedigree["birth_year"])
    else:
        year = ids.map(years).astype(float).to_numpy()
    frame = pd.DataFrame({"year": year, "sire": sire, "dam": dam, "both": sire & dam})
    grouped = frame.groupby("year", sort=True, dropna=False)
    out = grouped[["sire", "dam", "both"]].sum().astype("int64")
    out.insert(0, "animals", grouped.size().astype("int64"))
    out = out.reset_index().rename(columns={"year": "birth_year"})
    known = out["birth_year"].notna()
    return pd.concat([out[known], out[~known]], ignore_index=True)


def progeny_counts(
    pedigree: pd.DataFrame, records: pd.DataFrame | None = None, id_column: str = "id"
) -> pd.DataFrame:
    """Progeny per sire: columns ``sire``, ``progeny`` (animals with that sire) and, with the
    model's records, ``with_records`` (of those, animals with at least one record); sorted by
    progeny (descending), ties by sire ID."""
    sires = keys(pedigree["sire"]) if "sire" in pedigree.columns else pd.Series([], dtype=object)
    ids = keys(pedigree["id"])
    known = (sires != "").to_numpy()
    frame = pd.DataFrame({"sire": sires.to_numpy()[known], "id": ids.to_numpy()[known]})
    frame = frame.drop_duplicates()
    counts = frame.groupby("sire", sort=True)["id"].size().rename("progeny")
    out = counts.reset_index()
    if records is not None:
        frame["recorded"] = member(frame["id"], keys(records[id_column]))
        with_records = frame.groupby("sire", sort=True)["recorded"].sum().astype("int64")
        out["with_records"] = out["sire"].map(with_records).astype("int64")
    out["progeny"] = out["progeny"].astype("int64")
    out = out.sort_values("sire", kind="mergesort")
    out = out.sort_values("progeny", ascending=False, kind="mergesort")
    return out.reset_index(drop=True)
