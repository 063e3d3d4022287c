"""Simulated genotypes: Mendelian transmission along the pedigree, allele frequencies as
drawn, linkage with --ld, and the files and config the simulator writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from henderson.genotypes import read_genotypes
from henderson.simulate import SimulationSpec, main, simulate


@pytest.fixture(scope="module", params=[False, True], ids=["unlinked", "ld"])
def data(request):
    return simulate(SimulationSpec(n_animals=1500, seed=7, genotyped=1.0, snps=1500, ld=request.param))


def test_no_opposite_homozygotes_between_parent_and_offspring(data):
    g = data.genotypes
    row = pd.Series(np.arange(len(g.ids)), index=g.ids)
    pairs = 0
    for role in ("sire", "dam"):
        ped = data.pedigree[data.pedigree[role].isin(row.index)]
        child = g.codes[row[ped["id"]].to_numpy()].astype(int)
        parent = g.codes[row[ped[role]].to_numpy()].astype(int)
        assert not (np.abs(child - parent) == 2).any()
        pairs += len(ped)
    assert pairs > 2500
    assert set(np.unique(g.codes)) == {0, 1, 2}


def test_allele_frequencies_are_as_drawn(data):
    """Base animals (unknown parents) carry alleles drawn with the SNP's frequency p: their
    sample frequency over 2 × n0 alleles has sd sqrt(p(1 − p) / 2n0)."""
    g, snps = data.genotypes, data.snps
    base = data.pedigree.loc[(data.pedigree["sire"] == "0") & (data.pedigree["dam"] == "0"), "id"]
    rows = np.flatnonzero(pd.Index(g.ids).isin(base))
    p = snps["allele_frequency"].to_numpy()
    assert ((p >= 0.05) & (p <= 0.95)).all()
    estimate = g.codes[rows].sum(axis=0) / (2 * rows.size)
    z = (estimate - p) / np.sqrt(p * (1 - p) / (2 * rows.size))
    assert abs(z.mean()) < 0.15 and 0.85 < z.var() < 1.15  # 1500 SNPs: sd of z-mean 0.026, of var 0.04
    assert abs(np.mean(p) - 0.5) < 0.03


def test_linkage_with_ld_only():
    def adjacent_r2(ld):
        d = simulate(SimulationSpec(n_animals=1000, seed=3, genotyped=1.0, snps=1000, ld=ld))
        x = d.genotypes.codes.astype(float)
        a, b = x[:, :-1] - x[:, :-1].mean(0), x[:, 1:] - x[:, 1:].mean(0)
        r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
        return np.nanmean(r ** 2), d
    unlinked, _ = adjacent_r2(False)
    linked, d = adjacent_r2(True)
    assert linked > 3 * unlinked
    assert d.snps["chromosome"].nunique() == 10
    assert (d.snps.groupby("chromosome")["position"].diff().dropna() >= 0).all()


def test_genotypes_leave_the_other_outputs_unchanged():
    plain = simulate(SimulationSpec(n_animals=300, seed=2))
    with_snps = simulate(SimulationSpec(n_animals=300, seed=2, genotyped=0.2, snps=50))
    pd.testing.assert_frame_equal(plain.pedigree, with_snps.pedigree)
    pd.testing.assert_frame_equal(plain.phenotypes, with_snps.phenotypes)
    pd.testing.assert_frame_equal(plain.truth, with_snps.truth)
    assert with_snps.genotypes.shape == (60, 50) and plain.genotypes is None


@pytest.mark.parametrize("fmt,file", [("csv", "genotypes.csv"), ("plink", "genotypes.bed")])
def test_command_line_writes_genotypes_and_config(tmp_path, fmt, file):
    out = tmp_path / "sim"
    assert main(["--animals", "400", "--seed", "1", "--out", str(out), "--genotyped", "0.25",
                 "--snps", "300", "--genotype-format", fmt]) == 0
    config = yaml.safe_load((out / "config" / "config.yaml").read_text())
    assert config["genotypes"] == file
    g = read_genotypes(out / file)
    assert g.shape == (100, 300)
    assert set(g.ids) <= set(pd.read_csv(out / "pedigree.csv", dtype=str)["id"])
    snps = pd.read_csv(out / "snps.csv")
    assert snps["snp"].tolist() == list(g.snps)
    assert main(["--animals", "400", "--seed", "1", "--out", str(out), "--snps", "300"]) == 2
