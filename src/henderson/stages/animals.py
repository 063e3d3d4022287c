"""The animals stage of one model: the per-animal table (:mod:`henderson.animals`) and CSV copies
of the model's outputs for spreadsheets."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from henderson.animals import animal_table
from henderson.clean import model_records
from henderson.config import model_from_dict


def animals_stage(
    name: str,
    block: Mapping,
    *,
    id_column: str,
    solutions_path: str | Path,
    phenotypes_path: str | Path,
    pedigree_path: str | Path | None = None,
    inbreeding_path: str | Path | None = None,
    source: str = "phenotypes",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(animals table, solutions) of model `name` (its validated config block) from the
    solutions, the cleaned phenotypes and, with a pedigree, the cleaned pedigree and inbreeding."""
    spec = model_from_dict(name, block, id_column=id_column, has_pedigree=pedigree_path is not None)
    records, _ = model_records(
        pd.read_parquet(phenotypes_path), spec.columns, source=source, model=name, id_column=id_column
    )
    solutions = pd.read_parquet(solutions_path)
    table = animal_table(
        solutions,
        records[id_column],
        traits=spec.traits,
        genetic_effects=[e.name for e in spec.random if e.type in ("additive", "maternal")],
        pedigree=pd.read_parquet(pedigree_path) if pedigree_path is not None else None,
        inbreeding=pd.read_parquet(inbreeding_path) if inbreeding_path is not None else None,
    )
    return table, solutions
