"""Multi-trait models through the workflow: Mrode's Examples 5.1 and 5.2 to the book's decimals,
and multi-trait REML on simulated data with missing records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import MRODE_PEDIGREE, snakemake

from henderson.simulate import SimulationSpec, simulate, write_simulation

pytestmark = pytest.mark.workflow

# Mrode (2014) 3rd ed., Table 5.1: pre-weaning (WWG) and post-weaning (PWG) gain of five calves;
# Example 5.2 adds calf 9 (sire 7) and leaves PWG missing for calves 4 and 9.
DATA_5_1 = "animal,sex,wwg,pwg\n4,M,4.5,6.8\n5,F,2.9,5.0\n6,F,3.9,6.8\n7,M,3.5,6.0\n8,M,5.0,7.5\n"
DATA_5_2 = "animal,sex,wwg,pwg\n4,M,4.5,\n5,F,2.9,5.0\n6,F,3.9,6.8\n7,M,3.5,6.0\n8,M,5.0,7.5\n9,F,4.0,\n"
PEDIGREE_5_2 = MRODE_PEDIGREE + "9,7,0\n"

# Multivariate solutions printed in the book: Example 5.1 (§5.2.2, p. 90) and Example 5.2
# (§5.3, p. 96), 3 decimals, as (WWG, PWG).
BOOK_5_1 = {
    ("sex", "M"): (4.361, 6.800), ("sex", "F"): (3.397, 5.880),
    ("animal", "1"): (0.151, 0.280), ("animal", "2"): (-0.015, -0.008), ("animal", "3"): (-0.078, -0.170),
    ("animal", "4"): (-0.010, -0.013), ("animal", "5"): (-0.270, -0.478), ("animal", "6"): (0.276, 0.517),
    ("animal", "7"): (-0.316, -0.479), ("animal", "8"): (0.244, 0.392),
}
BOOK_5_2 = {
    ("sex", "M"): (4.367, 6.834), ("sex", "F"): (3.657, 6.007),
    ("animal", "1"): (0.130, 0.266), ("animal", "2"): (-0.084, -0.075), ("animal", "3"): (-0.098, -0.194),
    ("animal", "4"): (0.007, 0.016), ("animal", "5"): (-0.343, -0.555), ("animal", "6"): (0.192, 0.440),
    ("animal", "7"): (-0.308, -0.483), ("animal", "8"): (0.201, 0.349), ("animal", "9"): (-0.018, -0.119),
}


def mrode_multitrait(tmp_path: Path, data: str, pedigree: str, fixed) -> pd.DataFrame:
    (tmp_path / "config").mkdir()
    (tmp_path / "data.csv").write_text(data)
    (tmp_path / "pedigree.csv").write_text(pedigree)
    config = {
        "pedigree": "pedigree.csv",
        "phenotypes": "data.csv",
        "id_column": "animal",
        "models": {
            "gain": {
                "traits": ["wwg", "pwg"],
                "fixed": fixed,
                "random": {"animal": "additive"},
                "variances": {"animal": [[20, 18], [18, 40]], "residual": [[40, 11], [11, 30]]},
                "estimate": "none",
            }
        },
    }
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    return pd.read_parquet(tmp_path / "results/gain/solutions.parquet")


@pytest.mark.parametrize(
    "data, pedigree, fixed, book",
    [
        (DATA_5_1, MRODE_PEDIGREE, ["sex"], BOOK_5_1),
        (DATA_5_2, PEDIGREE_5_2, {"wwg": ["sex"], "pwg": ["sex"]}, BOOK_5_2),
    ],
    ids=["example-5.1", "example-5.2-missing-per-trait-fixed"],
)
def test_mrode_multitrait_examples_book_decimals(tmp_path, data, pedigree, fixed, book):
    sol = mrode_multitrait(tmp_path, data, pedigree, fixed)
    assert list(sol.columns) == ["trait", "effect", "level", "estimate", "se", "reliability"]
    est = sol.set_index(["trait", "effect", "level"])["estimate"]
    # printed to 3 decimals; tolerance one unit in the last printed place (as for Example 3.1)
    for (effect, level), (wwg, pwg) in book.items():
        assert est[("wwg", effect, level)] == pytest.approx(wwg, abs=1e-3), (effect, level)
        assert est[("pwg", effect, level)] == pytest.approx(pwg, abs=1e-3), (effect, level)
    animals = sol[sol["effect"] == "animal"]
    assert animals["reliability"].between(0, 1).all()
    assert set(animals["trait"]) == {"wwg", "pwg"}


def test_multitrait_reml_with_missing_records(tmp_path):
    data = simulate(SimulationSpec(n_animals=1500, seed=8, traits=2, missing_fraction=0.2))
    write_simulation(data, tmp_path)
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    model = config["models"][next(iter(config["models"]))]
    model["estimate"] = "ai"
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    name = next(iter(config["models"]))
    vc = json.loads((tmp_path / "results" / name / "variance_components.json").read_text())
    traits = vc["traits"]
    assert traits == model["traits"] and vc["method"] == "ai"
    g0 = np.array(vc["variances"]["animal"])
    r0 = np.array(vc["variances"]["residual"])
    assert g0.shape == r0.shape == (2, 2)
    assert np.allclose(g0, g0.T) and np.linalg.eigvalsh(g0).min() >= 0 and np.linalg.eigvalsh(r0).min() > 0
    assert np.array(vc["se"]["animal"]).shape == (2, 2)
    assert set(vc["ratios"]["h2"]) == set(traits)
    sol = pd.read_parquet(tmp_path / "results" / name / "solutions.parquet")
    assert set(sol["trait"]) == set(traits)
    html = (tmp_path / "results" / name / "report.html").read_text()
    assert traits[1] in html


def test_two_trait_maternal_reml_recovers_the_simulated_values(tmp_path):
    """Beef weaning/yearling-style model: two traits, direct + maternal genetic effects (a 4 × 4
    G0), 20,000 simulated animals; REML converges and every (co)variance estimate lies within
    4 standard errors of the value simulated (13 parameters; selection is accounted for by the
    full pedigree)."""
    data = simulate(SimulationSpec(n_animals=20_000, seed=3, traits=2, maternal=True))
    write_simulation(data, tmp_path)
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    name = next(iter(config["models"]))
    config["models"][name]["estimate"] = "ai"
    config["models"][name]["variances"] = {}  # default start: one-trait fits
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    vc = json.loads((tmp_path / "results" / name / "variance_components.json").read_text())
    assert vc["converged"] is True and vc["boundary"] == []
    true = data.parameters["variances"]
    expected = {
        "animal": true["genetic_covariance"],
        "dam": true["maternal_covariance"],
        "animal.dam": true["direct_maternal_covariance"],
        "residual": true["residual_covariance"],
    }
    for key, value in expected.items():
        est, se = np.array(vc["variances"][key], dtype=float), np.array(vc["se"][key], dtype=float)
        assert np.all(se > 0), key
        z = np.abs(est - np.array(value)) / se
        assert z.max() < 4, (key, est.tolist(), value, se.tolist())
    assert set(vc["ratios"]["dam_ratio"]) == set(vc["traits"])
    assert set(vc["ratios"]["r_animal_dam"]) == {f"{a}.{b}" for a in vc["traits"] for b in vc["traits"]}
    sol = pd.read_parquet(tmp_path / "results" / name / "solutions.parquet")
    assert {("animal", t) for t in vc["traits"]} | {("dam", t) for t in vc["traits"]} <= set(
        zip(sol["effect"], sol["trait"])
    )
