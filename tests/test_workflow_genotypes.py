"""The clean_genotypes rule end to end: a simulated evaluation with genotypes (plus a wrong
parent, a duplicate sample and an animal outside the pedigree), PLINK input, and a bad code
stopping the run with a message and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from henderson.genotypes import load_genotypes, read_genotypes
from henderson.simulate import main as simulate_main

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, check: bool = True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def simulated(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "sim"
    assert simulate_main(["--animals", "600", "--seed", "4", "--out", str(out), "--genotyped", "0.5",
                          "--snps", "400", *extra]) == 0
    return out


def test_clean_genotypes_rule(tmp_path):
    work = simulated(tmp_path)
    path = work / "genotypes.csv"
    frame = pd.read_csv(path, dtype=str)
    pedigree = pd.read_csv(work / "pedigree.csv", dtype=str)
    genotyped = set(frame["id"])
    child = pedigree[pedigree["sire"].isin(genotyped) & pedigree["id"].isin(genotyped)].iloc[0]
    stranger = next(i for i in frame["id"] if i not in (child["id"], child["sire"], child["dam"])
                    and i not in set(pedigree.loc[pedigree["id"] == child["id"], ["sire", "dam"]].values.ravel()))
    # a wrong sire: the child's genotypes replaced by an unrelated animal's
    frame.loc[frame["id"] == child["id"], frame.columns[1:]] = frame.loc[frame["id"] == stranger, frame.columns[1:]].values
    duplicate = frame[frame["id"] == frame["id"].iloc[0]].assign(id="SAMPLE_B")
    frame = pd.concat([frame, duplicate], ignore_index=True)
    frame.to_csv(path, index=False)
    snakemake(work, "results/clean/genotype_qc.json")

    kept = load_genotypes(work / "results/clean/genotypes")
    rejected = pd.read_parquet(work / "results/clean/genotypes_rejected.parquet")
    summary = json.loads((work / "results/clean/genotype_qc.json").read_text())
    assert list(rejected.columns) == ["kind", "id", "snp", "other", "reason", "value", "action"]
    pair = rejected[rejected["kind"] == "pair"]
    assert child["id"] in set(pair["id"]) and child["sire"] in set(pair["other"])
    assert child["id"] not in set(kept.ids)
    dup = rejected[rejected["reason"] == "duplicate genotype"]
    assert dup[["id", "other"]].values.tolist() == [["SAMPLE_B", frame["id"].iloc[0]]]
    outside = rejected[rejected["reason"] == "not in the pedigree"]
    assert outside["id"].tolist() == ["SAMPLE_B"] and outside["action"].tolist() == ["kept"]
    assert summary["kept"]["animals"] == len(kept.ids) == len(frame) - 2
    assert summary["removed"]["animal"]["duplicate genotype"] == 1
    snps = pd.read_parquet(work / "results/clean/genotypes.snps.parquet")
    raw = read_genotypes(path)
    # kept data: the counted allele's frequency over the kept animals, SNP by SNP
    rows = pd.Index(raw.ids).get_indexer(kept.ids)
    cols = pd.Index(raw.snps).get_indexer(kept.snps)
    np.testing.assert_allclose(snps["allele_frequency"], raw.codes[rows][:, cols].mean(axis=0) / 2, rtol=0, atol=1e-12)
    log = (work / "logs/clean/genotypes.log").read_text()
    assert "not in the pedigree" in log and "opposite homozygotes" in log


def test_plink_input_and_a_bad_code(tmp_path):
    work = simulated(tmp_path, "--genotype-format", "plink")
    snakemake(work, "results/clean/genotype_qc.json")
    assert load_genotypes(work / "results/clean/genotypes").shape[0] == 300

    config = yaml.safe_load((work / "config/config.yaml").read_text())
    config["genotypes"] = "bad.csv"
    (work / "config/config.yaml").write_text(yaml.safe_dump(config))
    (work / "bad.csv").write_text("id,s1,s2\nA0000001,0,1\nA0000002,3,1\n")
    result = snakemake(work, "results/clean/genotype_qc.json", check=False)
    assert result.returncode != 0
    log = (work / "logs/clean/genotypes.log").read_text()
    assert "animal 'A0000002' (line 3), SNP 's1': '3' is not a genotype code" in log
    assert "Traceback" not in log and "Traceback" not in result.stderr
