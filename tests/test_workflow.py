"""The workflow end to end in temporary directories: Mrode's Example 3.1 from CSV files, rerun
behaviour, bad input without tracebacks, and the SLURM profile."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]

# Mrode (2014) Example 3.1: pedigree and pre-weaning gain records as printed in Table 3.1.
MRODE_PEDIGREE = "id,sire,dam\n1,0,0\n2,0,0\n3,0,0\n4,1,0\n5,3,2\n6,1,2\n7,4,5\n8,3,6\n"
MRODE_DATA = "animal,sex,sire,dam,wwg\n4,M,1,0,4.5\n5,F,3,2,2.9\n6,F,1,2,3.9\n7,M,4,5,3.5\n8,M,3,6,5.0\n"


def mrode_config(**models):
    base = {
        "traits": ["wwg"],
        "fixed": ["sex"],
        "random": {"animal": "additive"},
        "variances": {"animal": 20, "residual": 40},
        "estimate": "none",
    }
    return {
        "pedigree": "pedigree.csv",
        "phenotypes": "data.csv",
        "id_column": "animal",
        "models": {name: {**base, **change} for name, change in (models or {"wwg": {}}).items()},
    }


def setup_dir(path: Path, config: dict, pedigree: str = MRODE_PEDIGREE, data: str = MRODE_DATA) -> Path:
    (path / "config").mkdir(parents=True, exist_ok=True)
    (path / "pedigree.csv").write_text(pedigree)
    (path / "data.csv").write_text(data)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, *args: str, snakefile: Path = ROOT / "Snakefile", check: bool = True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir), "--cores", "1", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path, snakefile: Path = ROOT / "Snakefile") -> list[str]:
    """Jobs a dry run would execute, as 'rule' or 'rule[model]'."""
    out = snakemake(workdir, "-n", snakefile=snakefile).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        m = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not m or m.group(1) == "all":
            continue
        w = re.search(r"wildcards: model=(\S+)", block)
        jobs.append(f"{m.group(1)}[{w.group(1)}]" if w else m.group(1))
    return sorted(jobs)


@pytest.fixture(scope="module")
def mrode_run(tmp_path_factory):
    work = setup_dir(tmp_path_factory.mktemp("mrode"), mrode_config())
    snakemake(work)
    return work


def test_mrode_example_3_1_through_the_workflow(mrode_run):
    sol = pd.read_parquet(mrode_run / "results/wwg/solutions.parquet")
    assert list(sol.columns) == ["trait", "effect", "level", "estimate", "se", "reliability"]
    est = sol.set_index(["effect", "level"])["estimate"]
    # Mrode (3rd ed.) Example 3.1, printed to 3 decimals; tolerance one unit in the last place.
    assert est[("sex", "M")] == pytest.approx(4.358, abs=1e-3)
    assert est[("sex", "F")] == pytest.approx(3.404, abs=1e-3)
    book = [0.098, -0.019, -0.041, -0.009, -0.186, 0.177, -0.249, 0.183]
    np.testing.assert_allclose([est[("animal", str(i))] for i in range(1, 9)], book, atol=1e-3)
    animals = sol[sol["effect"] == "animal"]
    assert animals["reliability"].between(0, 1).all() and animals["se"].gt(0).all()
    assert sol[sol["effect"] == "sex"]["reliability"].isna().all()


def test_outputs_of_every_stage(mrode_run):
    ped = pd.read_parquet(mrode_run / "results/clean/pedigree.parquet")
    assert sorted(ped["id"]) == [str(i) for i in range(1, 9)]
    assert pd.read_parquet(mrode_run / "results/clean/rejected.parquet").empty
    summary = json.loads((mrode_run / "results/clean/summary.json").read_text())
    assert summary["models"]["wwg"]["records"] == 5
    f = pd.read_parquet(mrode_run / "results/relationships/inbreeding.parquet")
    assert list(f.columns) == ["id", "F", "b"] and (f["F"] == 0).all()
    # Mendelian-sampling variances: founders 1, one known parent 3/4, both known 1/2
    assert list(f.set_index("id")["b"][[str(i) for i in range(1, 9)]]) == [1, 1, 1, 0.75, 0.5, 0.5, 0.5, 0.5]
    meta = json.loads((mrode_run / "results/relationships/ainv.npz.meta.json").read_text())
    assert meta["ids"] == list(f["id"]) and "input_sha256" in meta and "henderson_version" in meta
    assert meta["log_det"] == pytest.approx(np.log(0.75) + 4 * np.log(0.5), rel=1e-12)
    html = (mrode_run / "results/wwg/report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/svg+xml;base64" in html
    for stage in ("clean/pedigree.log", "clean/phenotypes.log", "relationships/relationships.log", "wwg/variance.log"):
        assert (mrode_run / "logs" / stage).exists()


def test_second_run_does_nothing(mrode_run):
    assert planned_jobs(mrode_run) == []


def test_rerun_scope(tmp_path):
    work = setup_dir(tmp_path, mrode_config(a={}, b={"variances": {"animal": 10, "residual": 50}}))
    snakemake(work)
    assert planned_jobs(work) == []

    # one model's variances change: only that model's rules rerun
    config = mrode_config(a={"variances": {"animal": 25, "residual": 35}}, b={"variances": {"animal": 10, "residual": 50}})
    (work / "config/config.yaml").write_text(yaml.safe_dump(config))
    assert planned_jobs(work) == ["animals[a]", "report[a]", "variance[a]"]
    snakemake(work)

    # the pedigree changes: relationships and every model rerun
    (work / "pedigree.csv").write_text(MRODE_PEDIGREE.replace("8,3,6", "8,3,5"))
    jobs = planned_jobs(work)
    assert {"clean_pedigree", "relationships", "variance[a]", "variance[b]", "report[a]", "report[b]", "animals[a]", "animals[b]"} <= set(jobs)
    snakemake(work)
    assert planned_jobs(work) == []


def test_package_change_reruns_the_rules_that_use_it(tmp_path):
    checkout = tmp_path / "checkout"
    for part in ("Snakefile", "workflow", "src", "envs"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, checkout / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            checkout.mkdir(exist_ok=True)
            shutil.copy2(src, checkout / part)
    snakefile = checkout / "Snakefile"
    work = setup_dir(tmp_path / "work", mrode_config())
    snakemake(work, snakefile=snakefile)
    assert planned_jobs(work, snakefile) == []
    # comments and docstrings change no result: nothing reruns
    mme = checkout / "src/henderson/mme.py"
    text = mme.read_text()
    mme.write_text(text.replace('"""Henderson\'s mixed model equations', '"""The mixed model equations', 1) + "\n# a comment\n")
    assert planned_jobs(work, snakefile) == []
    report = checkout / "src/henderson/report/__init__.py"
    with open(report, "a") as handle:
        handle.write("\nREPORT_CHANGED = True\n")
    assert planned_jobs(work, snakefile) == ["report[wwg]"]
    with open(mme, "a") as handle:
        handle.write("\nNUMERICS_CHANGED = True\n")
    assert planned_jobs(work, snakefile) == ["animals[wwg]", "report[wwg]", "variance[wwg]"]


@pytest.mark.parametrize(
    "pedigree, words",
    [
        (MRODE_PEDIGREE.replace("1,0,0", "1,7,0"), ["cycle", "1", "7"]),
        (MRODE_PEDIGREE.replace("4,1,0", "4,4,0"), ["4", "own"]),
    ],
    ids=["cycle", "own-parent"],
)
def test_bad_pedigree_is_a_clear_error_without_traceback(tmp_path, pedigree, words):
    work = setup_dir(tmp_path, mrode_config(), pedigree=pedigree)
    result = snakemake(work, check=False)
    assert result.returncode != 0
    log = (work / "logs/clean/pedigree.log").read_text()
    for word in words:
        assert word in log
    assert "Traceback" not in log and "Traceback" not in result.stderr


def test_unknown_config_key_is_reported_before_any_work(tmp_path):
    config = mrode_config()
    config["models"]["wwg"]["fixed_effects"] = ["sex"]
    work = setup_dir(tmp_path, config)
    result = snakemake(work, check=False)
    assert result.returncode != 0
    assert "unknown key 'fixed_effects'" in result.stdout + result.stderr
    assert not (work / "results").exists()


def test_rejected_rows_are_written_with_reasons(tmp_path):
    data = MRODE_DATA + "9,F,7,0,abc\n10,,8,5,3.1\n"
    work = setup_dir(tmp_path, mrode_config(), data=data)
    snakemake(work)
    rejected = pd.read_parquet(work / "results/clean/rejected.parquet")
    by_id = rejected.set_index("id")
    assert by_id.loc["9", "line"] == 7 and "trait" in by_id.loc["9", "reason"]
    assert by_id.loc["10", "line"] == 8 and "effect" in by_id.loc["10", "reason"]
    assert set(rejected["file"]) == {"data.csv"}
    as_csv = pd.read_csv(work / "results/clean/rejected.csv", dtype={"id": str})
    assert list(as_csv.columns) == list(rejected.columns) and list(as_csv["id"]) == list(rejected["id"])
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet")
    # animals 9 and 10 were added to the pedigree (phenotyped, missing from it) and get EBVs
    assert {"9", "10"} <= set(sol[sol["effect"] == "animal"]["level"])


def test_slurm_profile_dry_run_parses(mrode_run):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    result = snakemake(mrode_run, "-n", "--forceall", "--workflow-profile", str(ROOT / "profiles/slurm"))
    assert "variance" in result.stdout


def test_snakemake_report_and_lint(mrode_run):
    snakemake(mrode_run, "--report", str(mrode_run / "snakemake_report.zip"))
    assert (mrode_run / "snakemake_report.zip").stat().st_size > 10_000
    lint = snakemake(mrode_run, "--lint")
    assert "Congratulations" in lint.stdout + lint.stderr
