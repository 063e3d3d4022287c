"""The per-animal table people use: one row per animal with its pedigree, inbreeding, counts and
breeding values.

Columns: ``id``, ``sire``, ``dam``, ``birth_year`` and ``sex`` (when the pedigree has them),
``F`` (inbreeding), ``records`` (the animal's records used by the model), ``progeny`` (offspring
in the pedigree, as sire or dam), then for every genetic effect (additive, maternal) and trait:
``ebv_<effect>``, ``se_<effect>``, ``reliability_<effect>``, ``accuracy_<effect>`` (with
``_<trait>`` appended when the model has several traits); accuracy = √reliability, the
correlation of the EBV with the true breeding value.

Rows: the pedigree's animals in pedigree order; without a pedigree, the IDs of the records.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["animal_table"]

PEDIGREE_COLUMNS = ("id", "sire", "dam", "birth_year", "sex")


def animal_table(
    solutions: pd.DataFrame,
    record_ids: pd.Series,
    *,
    traits: Sequence[str],
    genetic_effects: Sequence[str],
    pedigree: pd.DataFrame | None = None,
    inbreeding: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The table of the module docstring.

    solutions: solutions.parquet (trait, effect, level, estimate, se, reliability); record_ids:
    the ID of every record of the model; genetic_effects: the effects whose levels are animals
    (the additive effect and its maternal effect); pedigree: the cleaned pedigree (id, sire,
    dam, optional birth_year, sex); inbreeding: id, F.
    """
    counts = record_ids.astype(str).value_counts()
    if pedigree is not None:
        table = pedigree[[c for c in PEDIGREE_COLUMNS if c in pedigree.columns]].copy()
        table["id"] = table["id"].astype(str)
    else:
        table = pd.DataFrame({"id": sorted(counts.index)})
    ids = pd.Index(table["id"])
    if inbreeding is not None:
        f = inbreeding.set_index(inbreeding["id"].astype(str))["F"]
        table["F"] = f.reindex(ids).to_numpy(dtype=float)
    table["records"] = counts.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    if pedigree is not None:
        parents = pd.concat([pedigree["sire"], pedigree["dam"]]).dropna().astype(str)
        # a selfed individual (sire = dam) is one offspring of its parent, not two
        selfed = pedigree["sire"].notna() & (pedigree["sire"] == pedigree["dam"])
        progeny = parents.value_counts().sub(pedigree.loc[selfed, "sire"].astype(str).value_counts(), fill_value=0)
        table["progeny"] = progeny.reindex(ids, fill_value=0).to_numpy(dtype=np.int64)
    single = len(traits) == 1
    for effect in genetic_effects:
        for trait in traits:
            part = solutions[(solutions["effect"] == effect) & (solutions["trait"] == trait)]
            part = part.set_index(part["level"].astype(str))
            suffix = effect if single else f"{effect}_{trait}"
            reliability = part["reliability"].reindex(ids).to_numpy(dtype=float)
            table[f"ebv_{suffix}"] = part["estimate"].reindex(ids).to_numpy(dtype=float)
            table[f"se_{suffix}"] = part["se"].reindex(ids).to_numpy(dtype=float)
            table[f"reliability_{suffix}"] = reliability
            table[f"accuracy_{suffix}"] = np.sqrt(np.clip(reliability, 0.0, None))
    return table.reset_index(drop=True)
