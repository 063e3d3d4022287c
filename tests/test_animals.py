"""The per-animal table: pedigree columns, counts, EBVs with se, reliability and accuracy, one
row per animal; and through the workflow on Mrode's Example 3.1."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_workflow import mrode_config, setup_dir, snakemake

from henderson.animals import animal_table


def _solutions(rows):
    return pd.DataFrame(rows, columns=["trait", "effect", "level", "estimate", "se", "reliability"])


def test_counts_pedigree_columns_and_breeding_values():
    pedigree = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "sire": [None, None, "a", "a", "c"],
        "dam": [None, None, "b", "b", "c"],  # e is a self of c
        "birth_year": pd.array([2000, 2000, 2001, 2001, 2002], dtype="Int64"),
    })
    inbreeding = pd.DataFrame({"id": list("abcde"), "F": [0, 0, 0, 0, 0.5]})
    solutions = _solutions([
        ("y", "mean", "mean", 10.0, 1.0, np.nan),
        *[("y", "animal", i, 0.1 * k, 2.0, r) for k, (i, r) in enumerate(zip("abcde", [0.1, 0.2, 0.36, 0.3, 0.0]))],
        ("y", "pe", "a", 5.0, 1.0, 0.5),  # an iid effect on the id column is not a breeding value
    ])
    table = animal_table(solutions, pd.Series(["c", "d", "d", "e"]), traits=["y"], genetic_effects=["animal"],
                         pedigree=pedigree, inbreeding=inbreeding)
    assert list(table["id"]) == list("abcde")
    assert list(table.columns[:7]) == ["id", "sire", "dam", "birth_year", "F", "records", "progeny"]
    assert list(table["records"]) == [0, 0, 1, 2, 1]
    assert list(table["progeny"]) == [2, 2, 1, 0, 0]  # the self counts once for c
    assert table.loc[2, "ebv_animal"] == pytest.approx(0.2) and table.loc[2, "se_animal"] == 2.0
    assert table.loc[2, "accuracy_animal"] == pytest.approx(0.6)
    assert table.loc[4, "accuracy_animal"] == 0.0 and table.loc[4, "F"] == 0.5
    assert not any(c.endswith("_pe") for c in table.columns)


def test_several_traits_and_maternal_effects_get_one_column_each():
    solutions = _solutions([
        (t, e, i, 1.0, 1.0, 0.25) for t in ("ww", "yw") for e in ("animal", "dam") for i in ("a", "b")
    ])
    table = animal_table(solutions, pd.Series(["a"]), traits=["ww", "yw"], genetic_effects=["animal", "dam"])
    assert list(table["id"]) == ["a"]  # no pedigree: the animals with records
    for e in ("animal", "dam"):
        for t in ("ww", "yw"):
            assert table.loc[0, f"accuracy_{e}_{t}"] == pytest.approx(0.5)


def test_animals_table_through_the_workflow(tmp_path):
    work = setup_dir(tmp_path, mrode_config())
    snakemake(work)
    animals = pd.read_parquet(work / "results/wwg/animals.parquet")
    csv = pd.read_csv(work / "results/wwg/animals.csv", dtype={"id": str, "sire": str, "dam": str})
    solutions = pd.read_parquet(work / "results/wwg/solutions.parquet")
    assert list(animals["id"]) == [str(i) for i in range(1, 9)]
    assert list(animals["records"]) == [0, 0, 0, 1, 1, 1, 1, 1]
    assert list(animals["progeny"]) == [2, 2, 2, 1, 1, 1, 0, 0]
    ebv = solutions[solutions["effect"] == "animal"].set_index("level")
    np.testing.assert_allclose(animals["ebv_animal"], ebv.loc[animals["id"], "estimate"], rtol=1e-12)
    np.testing.assert_allclose(animals["accuracy_animal"] ** 2, ebv.loc[animals["id"], "reliability"], rtol=1e-12)
    np.testing.assert_allclose(csv["ebv_animal"], animals["ebv_animal"], rtol=1e-12)
    assert math.isclose(float(animals.loc[0, "ebv_animal"]), 0.098, abs_tol=1e-3)  # Mrode, Example 3.1
    sol_csv = pd.read_csv(work / "results/wwg/solutions.csv", dtype={"level": str})
    assert len(sol_csv) == len(solutions) and list(sol_csv.columns) == list(solutions.columns)
