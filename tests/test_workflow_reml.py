"""REML through the workflow: lme4's Dyestuff and Penicillin fits without a pedigree, and a
maternal-effects animal model on simulated data; the variance_components.json contract."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import snakemake

from henderson.simulate import SimulationSpec, simulate, write_simulation

pytestmark = pytest.mark.workflow

DATA = Path(__file__).resolve().parent / "data"


def run(tmp_path: Path, config: dict, files: dict[str, Path]) -> Path:
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (tmp_path / name).write_bytes(source.read_bytes())
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    return tmp_path


def components(work: Path, model: str) -> dict:
    return json.loads((work / "results" / model / "variance_components.json").read_text())


def test_dyestuff_matches_lme4(tmp_path):
    config = {
        "pedigree": None,
        "phenotypes": "dyestuff.csv",
        "id_column": "Batch",
        "models": {"yield": {"traits": ["Yield"], "random": {"Batch": "iid"}, "estimate": "ai"}},
    }
    work = run(tmp_path, config, {"dyestuff.csv": DATA / "dyestuff.csv"})
    vc = components(work, "yield")
    assert vc["method"] == "ai" and vc["converged"] is True
    # lme4 (Bates et al.): σ²batch 1764.05, σ²e 2451.25 (printed to 2 decimals), REML criterion
    # 319.6543 (4 decimals) = -2 logL: tolerances half a unit in the last printed place.
    assert vc["variances"]["Batch"] == pytest.approx(1764.05, abs=0.005)
    assert vc["variances"]["residual"] == pytest.approx(2451.25, abs=0.005)
    assert -2 * vc["log_likelihood"] == pytest.approx(319.6543, abs=5e-5)
    assert vc["ratios"]["Batch_ratio"]["estimate"] == pytest.approx(1764.05 / (1764.05 + 2451.25), rel=1e-5)
    assert vc["se"]["Batch"] > 0 and vc["se"]["residual"] > 0
    trace = pd.read_parquet(work / "results/yield/reml_trace.parquet")
    assert {"iteration", "step", "log_likelihood", "Batch", "residual"} <= set(trace.columns)
    assert trace["log_likelihood"].iloc[-1] == pytest.approx(vc["log_likelihood"], abs=1e-8)
    sol = pd.read_parquet(work / "results/yield/solutions.parquet")
    assert sol.set_index("effect").loc["mean", "estimate"] == pytest.approx(1527.5, abs=5e-2)
    html = (work / "results/yield/report.html").read_text()
    assert "1764" in html


def test_penicillin_matches_lme4_with_em(tmp_path):
    config = {
        "pedigree": None,
        "phenotypes": "penicillin.csv",
        "id_column": "plate",
        "models": {
            "diameter": {
                "traits": ["diameter"],
                "random": {"plate": "iid", "sample": "iid"},
                "estimate": "ai",
            }
        },
    }
    work = run(tmp_path, config, {"penicillin.csv": DATA / "penicillin.csv"})
    vc = components(work, "diameter")
    assert vc["converged"] is True
    # lme4: SD plate 0.8467, SD sample 1.9316, SD residual 0.5499 (4 decimals), criterion 330.8606
    assert math.sqrt(vc["variances"]["plate"]) == pytest.approx(0.8467, abs=5e-5)
    assert math.sqrt(vc["variances"]["sample"]) == pytest.approx(1.9316, abs=5e-5)
    assert math.sqrt(vc["variances"]["residual"]) == pytest.approx(0.5499, abs=5e-5)
    assert -2 * vc["log_likelihood"] == pytest.approx(330.8606, abs=5e-5)


def test_maternal_animal_model_on_simulated_data(tmp_path):
    data = simulate(SimulationSpec(n_animals=1500, seed=5, maternal=True, records_per_animal=2))
    write_simulation(data, tmp_path)
    config = yaml.safe_load((tmp_path / "config/config.yaml").read_text())
    model = config["models"]["weaning_weight"]
    model["estimate"] = "ai"
    assert model["random"]["pe"] == {"type": "iid", "column": "id"}  # repeated records
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path)
    vc = components(tmp_path, "weaning_weight")
    assert vc["method"] == "ai"
    assert set(vc["variances"]) == {"animal", "dam", "pe", "residual"}
    assert set(vc["covariances"]) == {"animal.dam"}
    assert {"h2", "dam_ratio", "pe_ratio", "r_animal_dam"} <= set(vc["ratios"])
    assert all(v >= 0 for v in vc["variances"].values())
    sol = pd.read_parquet(tmp_path / "results/weaning_weight/solutions.parquet")
    assert {"animal", "dam", "pe"} <= set(sol["effect"])
    animals = sol[sol["effect"] == "animal"]
    assert animals["reliability"].between(0, 1).all()
    html = (tmp_path / "results/weaning_weight/report.html").read_text()
    assert "REML" in html or "reml" in html
