"""True breeding values from QTL (`SimulationSpec.qtl`, ``--qtl``) and base haplotypes from a
historical population (`history`, ``--history``): TBV = Σ (x − 2p) α over the QTL, the base
additive covariance equal to G0, files and config, the output unchanged without them, and the
point of it all: single-step GEBV predict young genotyped animals better than pedigree EBV."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from henderson.errors import ConfigError
from henderson.simulate import SimulationSpec, main, simulate, write_simulation
from henderson.simulate.accuracy import young_genotyped_accuracy
from henderson.simulate.qtl import qtl_values

TBV_ROUNDING = 0.5e-4 + 1e-9  # truth.csv keeps 4 decimals


def _base_rows(data) -> np.ndarray:
    ped = data.pedigree
    return np.flatnonzero((ped["birth_year"] == ped["birth_year"].min()).to_numpy())


@pytest.fixture(scope="module")
def maternal_qtl():
    return simulate(SimulationSpec(n_animals=1500, seed=5, traits=2, maternal=True, genotyped=1.0, snps=300,
                                   qtl=60, ld=True, history=20))


def test_tbv_is_the_sum_over_the_qtl_of_the_centred_genotypes(maternal_qtl):
    """Every animal (all genotyped here) has tbv = Σ_k (x_ik − 2p_k) α_k and mtbv likewise with
    the maternal effects, recomputed from the QTL genotypes and qtl table to the 4 decimals of
    truth.csv; the QTL are not among the written SNPs."""
    data = maternal_qtl
    assert list(data.qtl_genotypes.ids) == list(data.genotypes.ids) == list(data.truth["id"])
    assert data.qtl_genotypes.shape == (1500, 60) and data.genotypes.shape == (1500, 300)
    table = data.qtl
    p = table["allele_frequency"].to_numpy()
    for prefix, effect in (("tbv", "effect"), ("mtbv", "meffect")):
        names = [f"{effect}_{t}" for t in data.parameters["traits"]]
        want = qtl_values(data.qtl_genotypes.codes, p, table[names].to_numpy())
        got = data.truth[[f"{prefix}_{t}" for t in data.parameters["traits"]]].to_numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=TBV_ROUNDING)
    snp_sites = set(zip(data.snps["chromosome"], data.snps["position"]))
    assert not snp_sites & set(zip(table["chromosome"], table["position"]))
    assert ((p > 0) & (p < 1)).all()
    # the base covariance Σ 2p(1 − p) α α' is G0 (direct and maternal, both traits) exactly
    alpha = table[[c for c in table.columns if "effect_" in c]].to_numpy()
    g0 = SimulationSpec(**data.parameters["spec"]).genetic_block()
    np.testing.assert_allclose(alpha.T @ ((2 * p * (1 - p))[:, None] * alpha), g0, rtol=1e-10, atol=1e-10)


def test_phenotypes_use_the_qtl_values(maternal_qtl):
    """Records of animals with a recorded dam, minus the simulated fixed effects (truth.json), the
    animal's tbv and the dam's mtbv, leave the residual: variance σ²e = 40 (± 15 %: ~960
    records, relative SD 4.6 %) and no correlation with tbv (|r| < 0.1, SD 0.03)."""
    data = maternal_qtl
    trait = data.parameters["traits"][0]
    fixed = data.parameters["fixed_effects"]
    rec = data.phenotypes.dropna(subset=[trait])
    rec = rec[rec["dam"] != "0"]
    truth = data.truth.set_index("id")
    tbv = truth.loc[rec["id"], f"tbv_{trait}"].to_numpy()
    e = (rec[trait].to_numpy() - fixed["mean"][trait]
         - np.array([fixed["herd_year"][h][trait] for h in rec["herd_year"]])
         - (rec["sex"] == "M").to_numpy() * fixed["sex"]["M"][trait] - rec["age"].to_numpy() * fixed["age_slope_per_day"][trait]
         - tbv - truth.loc[rec["dam"], f"mtbv_{trait}"].to_numpy())
    assert len(e) > 900
    assert e.var() == pytest.approx(data.parameters["variances"]["residual_covariance"][0][0], rel=0.15)
    assert abs(np.corrcoef(e, tbv)[0, 1]) < 0.1


def test_base_generation_variance_is_sigma2_a():
    """Base animals (linkage equilibrium, no history): Var(tbv) = 2Σpqα² = σ²a = 20 in
    expectation; 10,000 of them estimate it with relative SD √(2/10⁴) = 1.4 %: tolerance 6 %.
    Their mean is 0 ± 0.045: tolerance 0.2. Without SNPs the QTL alone are dropped."""
    data = simulate(SimulationSpec(n_animals=20_000, seed=9, n_generations=2, qtl=300, selection="none"))
    assert data.genotypes is None and data.qtl_genotypes is None and len(data.qtl) == 300
    tbv = data.truth["tbv_weaning_weight"].to_numpy()[_base_rows(data)]
    assert tbv.size == 10_000
    assert tbv.var(ddof=1) == pytest.approx(20.0, rel=0.06)
    assert abs(tbv.mean()) < 0.2


def test_base_generation_covariance_is_g0_with_two_traits_and_maternal_effects():
    """q = 4 values [a1, a2, m1, m2] of 10,000 base animals: sample covariance within
    0.06·√(g_ii g_jj) of G0 (SD of a sample covariance ≤ √(2/10⁴) = 1.4 % of that scale)."""
    spec = SimulationSpec(n_animals=20_000, seed=4, n_generations=2, traits=2, maternal=True, qtl=400,
                          selection="none")
    data = simulate(spec)
    names = data.parameters["traits"]
    cols = [f"tbv_{t}" for t in names] + [f"mtbv_{t}" for t in names]
    values = data.truth[cols].to_numpy()[_base_rows(data)]
    g0 = spec.genetic_block()
    scale = np.sqrt(np.outer(np.diag(g0), np.diag(g0)))
    assert np.abs(np.cov(values.T) - g0).max() / scale.max() < 0.06
    np.testing.assert_array_less(np.abs(np.cov(values.T) - g0), 0.06 * scale)


# Written by the simulator before QTL and history existed (commit 746881c), from these specs:
# SHA-256 of each file (first 16 hex digits). Without --qtl and --history the files must not move.
_BEFORE = {
    "ld_maternal": (
        {"n_animals": 600, "seed": 11, "traits": 2, "maternal": True, "genotyped": 0.5, "snps": 120, "ld": True},
        {"config/config.yaml": "427e3367e9403aee", "genotypes.csv": "10f6007c60359f15",
         "pedigree.csv": "bec2779c4bb93323", "phenotypes.csv": "570126207fbcc396", "snps.csv": "12516f816213f915",
         "truth.csv": "27bcd4ab4ee44561", "truth.json": "c4bb50931061d4e3"},
    ),
    "unlinked_tbv": (
        {"n_animals": 500, "seed": 3, "selection": "tbv", "records_per_animal": 2, "genotyped": 0.3, "snps": 64},
        {"config/config.yaml": "1ad95f00bea3e145", "genotypes.csv": "2250a0c15cfece15",
         "pedigree.csv": "4217ec8ad16d95fc", "phenotypes.csv": "4b0c139e87cc4efb", "snps.csv": "719e3bcb59667e1b",
         "truth.csv": "5e1b2920285a8db0", "truth.json": "03a4c146c1e1ce78"},
    ),
}


@pytest.mark.parametrize("case", sorted(_BEFORE))
def test_without_qtl_the_files_are_byte_identical_to_before(tmp_path: Path, case: str) -> None:
    kwargs, digests = _BEFORE[case]
    spec = SimulationSpec(**kwargs)
    assert spec == SimulationSpec(**kwargs, qtl=0, history=0)
    write_simulation(simulate(spec), tmp_path)
    written = {str(p.relative_to(tmp_path)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
               for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert written == digests


def test_qtl_change_the_values_but_not_the_pedigree_without_selection():
    plain = simulate(SimulationSpec(n_animals=400, seed=2, selection="none", genotyped=0.5, snps=80))
    qtl = simulate(SimulationSpec(n_animals=400, seed=2, selection="none", genotyped=0.5, snps=80, qtl=20))
    pd.testing.assert_frame_equal(plain.pedigree, qtl.pedigree)
    assert not np.allclose(plain.truth["tbv_weaning_weight"], qtl.truth["tbv_weaning_weight"])
    pd.testing.assert_frame_equal(plain.truth[["id", "inbreeding"]], qtl.truth[["id", "inbreeding"]])


def test_history_gives_the_base_population_ld_and_its_frequencies():
    """Base animals' adjacent-SNP r² is far above that of a linkage-equilibrium base; their
    allele frequencies match snps.csv (the historical population's) within sampling error."""
    def base(history):
        d = simulate(SimulationSpec(n_animals=2000, seed=3, n_generations=2, genotyped=1.0, snps=1000, ld=True,
                                    history=history, selection="none"))
        rows = _base_rows(d)
        return d.genotypes.codes[rows].astype(float), d.snps["allele_frequency"].to_numpy()

    def adjacent_r2(x):
        keep = x.std(0) > 0
        x = x[:, keep]
        a, b = x[:, :-1] - x[:, :-1].mean(0), x[:, 1:] - x[:, 1:].mean(0)
        return np.mean(((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))) ** 2)

    x0, _ = base(0)
    x1, p = base(100)
    assert adjacent_r2(x1) > 5 * adjacent_r2(x0)
    seg = (p > 0) & (p < 1)
    assert seg.sum() > 550  # about a third fix in 100 generations of 100 animals
    z = (x1[:, seg].mean(0) / 2 - p[seg]) / np.sqrt(p[seg] * (1 - p[seg]) / (2 * x1.shape[0]))
    assert abs(z.mean()) < 0.15 and 0.8 < z.var() < 1.2
    assert not ((x1[:, ~seg] != 2 * p[~seg]).any())  # fixed loci stay fixed


def test_command_line_writes_qtl_and_records_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    assert main(["--animals", "500", "--seed", "1", "--out", str(out), "--genotyped", "0.4", "--snps", "200",
                 "--qtl", "30", "--ld", "--history", "10"]) == 0
    table = pd.read_csv(out / "qtl.csv")
    assert list(table.columns) == ["qtl", "chromosome", "position", "allele_frequency", "effect_weaning_weight"]
    assert len(table) == 30 and table["qtl"].iloc[0] == "qtl00001"
    truth = json.loads((out / "truth.json").read_text())
    assert truth["spec"]["qtl"] == 30 and truth["spec"]["history"] == 10
    assert "--qtl 30 --ld --history 10" in truth["arguments"] and "30 QTL" in truth["design"]["genetic_values"]
    config_text = (out / "config" / "config.yaml").read_text()
    assert "--qtl 30" in config_text.splitlines()[0] and "30 QTL (qtl.csv)" in config_text
    assert yaml.safe_load(config_text)["genotypes"] == "genotypes.csv"
    assert pd.read_csv(out / "genotypes.csv").shape == (200, 201)
    assert list(pd.read_csv(out / "truth.csv").columns) == ["id", "tbv_weaning_weight", "inbreeding"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"qtl": -1}, "qtl must be 0"),
    ({"qtl": 3, "traits": 2, "maternal": True}, "integer >= 4"),
    ({"qtl": 2.5}, "qtl must be 0"),
    ({"history": 5}, "use it with --snps or --qtl"),
    ({"history": -1, "qtl": 5}, "history must be an integer"),
])
def test_spec_rejects_bad_qtl_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SimulationSpec(n_animals=500, seed=1, **kwargs)


def test_command_line_reports_bad_qtl_without_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--animals", "500", "--seed", "1", "--out", str(tmp_path), "--history", "3"]) == 2
    err = capsys.readouterr().err
    assert "--history" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- genomic prediction


def test_single_step_predicts_young_genotyped_animals_better_than_pedigree_blup():
    """5,000 animals in 10 cohorts, half genotyped at 2,000 SNPs, 200 QTL off the panel, h² 0.3,
    linked loci with 100 historical generations of LD; the last cohort has no records. Over
    seeds 1–6 the single-step gain in corr(·, TBV) of its ~250 genotyped animals was +0.09 to
    +0.24 (mean +0.17; pedigree 0.36–0.64; benchmarks/bench_simulate_qtl.py). Asserted: each of
    two seeds > +0.05, their mean > +0.1. (Without the history, LD comes only from ten cohorts of
    drift, and the gain was −0.03 to +0.09, mean +0.02.)"""
    gains = []
    for seed in (1, 2):
        acc = young_genotyped_accuracy(simulate(SimulationSpec(
            n_animals=5000, seed=seed, genotyped=0.5, snps=2000, qtl=200, h2=0.3, ld=True, history=100)))
        assert acc.animals > 200 and 0.2 < acc.pedigree < 0.8
        gains.append(acc.gain)
    assert min(gains) > 0.05 and np.mean(gains) > 0.1, gains
