"""Genotype QC: one test per rejection class with its reason and value, each against a direct
count (oracle), plus the duplicate search against all pairs compared one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from henderson.genotypes import Genotypes, QCSettings, qc_genotypes

N, M = 80, 600


def population(seed: int = 1, n: int = N, m: int = M) -> Genotypes:
    """Unrelated animals, allele frequencies uniform on [0.2, 0.8], no missing calls."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 0.8, m)
    codes = ((rng.random((n, m)) < p).astype(np.int8) + (rng.random((n, m)) < p).astype(np.int8))
    return Genotypes(np.array([f"A{k:03d}" for k in range(n)], dtype=object),
                     np.array([f"s{j:04d}" for j in range(m)], dtype=object), codes)


def with_codes(g: Genotypes, codes: np.ndarray) -> Genotypes:
    return Genotypes(g.ids, g.snps, np.ascontiguousarray(codes, dtype=np.int8))


def rows(result, kind, reason):
    table = result.rejected
    return table[(table["kind"] == kind) & (table["reason"] == reason)]


def test_clean_data_keeps_everything():
    g = population()
    result = qc_genotypes(g)
    assert result.genotypes.shape == (N, M) and len(result.rejected) == 0
    np.testing.assert_array_equal(result.genotypes.codes, g.codes)
    assert result.summary["kept"] == {"animals": N, "snps": M}


def test_snp_call_rate():
    g = population()
    codes = g.codes.copy()
    codes[:12, 7] = -1  # 68 / 80 = 0.85 called
    codes[:8, 9] = -1  # 72 / 80 = 0.90: kept (not below the threshold)
    result = qc_genotypes(with_codes(g, codes))
    found = rows(result, "snp", "SNP call rate")
    assert found["snp"].tolist() == ["s0007"] and found["value"].iloc[0] == pytest.approx(68 / 80)
    assert "s0007" not in result.genotypes.snps and "s0009" in result.genotypes.snps
    assert result.summary["removed"]["snp"] == {"SNP call rate": 1}


def test_animal_call_rate_after_the_snp_edit():
    g = population()
    codes = g.codes.copy()
    codes[3, :75] = -1  # 525 / 600 = 0.875 called
    codes[:20, 599] = -1  # this SNP goes first (call rate 0.75), so animal 3's rate is over 599 SNPs
    result = qc_genotypes(with_codes(g, codes))
    found = rows(result, "animal", "animal call rate")
    assert found["id"].tolist() == ["A003"]
    assert found["value"].iloc[0] == pytest.approx(524 / 599)
    assert "A003" not in result.genotypes.ids and result.genotypes.shape == (N - 1, M - 1)


def test_monomorphic_and_minor_allele_frequency():
    g = population()
    codes = g.codes.copy()
    codes[:, 10] = 2  # monomorphic
    codes[:, 11] = 0
    codes[0, 11] = 1  # MAF 1 / 160
    codes[:, 12] = 0
    codes[:8, 12] = 1  # MAF 8 / 160 = 0.05: kept
    result = qc_genotypes(with_codes(g, codes))
    assert rows(result, "snp", "monomorphic")["snp"].tolist() == ["s0010"]
    rare = rows(result, "snp", "minor allele frequency")
    assert rare["snp"].tolist() == ["s0011"] and rare["value"].iloc[0] == pytest.approx(1 / 160)
    assert "s0012" in result.genotypes.snps
    kept = qc_genotypes(with_codes(g, codes), QCSettings(min_maf=0.0, remove_monomorphic=False))
    assert kept.genotypes.shape == (N, M)


def offspring_of(rng, sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    """A child's genotypes: one allele drawn from each parent."""
    def gamete(parent):
        het = parent == 1
        return np.where(het, rng.integers(0, 2, parent.size), parent // 2)
    return (gamete(sire) + gamete(dam)).astype(np.int8)


def test_parent_offspring_conflicts():
    g = population()
    rng = np.random.default_rng(5)
    codes = g.codes.copy()
    codes[10] = offspring_of(rng, codes[0], codes[1])  # A010: sire A000, dam A001
    codes[11] = offspring_of(rng, codes[2], codes[3])  # A011: true parents A002, A003 ...
    codes[10, [5, 6]] = np.where(codes[0, [5, 6]] == 0, 2, 0)  # two genotyping errors: 2 / 600 < 1 %
    pedigree = pd.DataFrame({"id": [f"A{k:03d}" for k in range(N)], "sire": "0", "dam": "0"})
    pedigree.loc[10, ["sire", "dam"]] = ["A000", "A001"]
    pedigree.loc[11, ["sire", "dam"]] = ["A004", "A003"]  # ... but recorded with sire A004
    result = qc_genotypes(with_codes(g, codes), pedigree=pedigree)
    pairs = result.rejected[result.rejected["kind"] == "pair"]
    assert pairs[["id", "other", "reason"]].values.tolist() == [["A011", "A004", "sire–offspring conflicts"]]
    # oracle: opposite homozygotes counted directly
    expected = np.mean(np.abs(codes[11].astype(int) - codes[4]) == 2)
    assert pairs["value"].iloc[0] == pytest.approx(expected) and expected > 0.05
    assert pairs["action"].iloc[0] == "reported"
    removed = rows(result, "animal", "parent–offspring conflicts")
    assert removed[["id", "other"]].values.tolist() == [["A011", "A004"]]
    assert "A011" not in result.genotypes.ids and "A010" in result.genotypes.ids
    summary = result.summary["parent_offspring"]
    assert summary["pairs_checked"] == 4 and summary["pairs_flagged"] == 1
    assert any("pedigree is not changed" in w for w in result.summary["warnings"])
    kept = qc_genotypes(with_codes(g, codes), QCSettings(parent_conflict="report"), pedigree=pedigree)
    assert "A011" in kept.genotypes.ids and len(kept.rejected[kept.rejected["kind"] == "pair"]) == 1


def test_snp_with_mendelian_conflicts_in_many_pairs():
    rng = np.random.default_rng(8)
    g = population(n=120)
    codes = g.codes.copy()
    ids = list(g.ids)
    pedigree = pd.DataFrame({"id": ids, "sire": "0", "dam": "0"})
    for child in range(40, 120):  # 80 offspring of founders 0..39: 160 consistent pairs
        sire, dam = 2 * (child % 20), 2 * (child % 20) + 1
        codes[child] = offspring_of(rng, codes[sire], codes[dam])
        pedigree.loc[child, ["sire", "dam"]] = [ids[sire], ids[dam]]
    codes[:40, 33] = np.tile([0, 2], 20)  # founders opposite homozygotes ...
    codes[40:, 33] = 2 * (np.arange(80) % 2 == 0)  # ... and the offspring at random: a broken SNP
    result = qc_genotypes(with_codes(g, codes), pedigree=pedigree)
    found = rows(result, "snp", "Mendelian conflicts")
    assert found["snp"].tolist() == ["s0033"]
    a, b = codes[40:, 33], codes[[2 * (c % 20) for c in range(40, 120)] + [2 * (c % 20) + 1 for c in range(40, 120)], 33]
    conflicts = np.sum(np.abs(np.r_[a, a].astype(int) - b) == 2)
    assert found["value"].iloc[0] == pytest.approx(conflicts / 160)
    assert result.summary["snp_conflicts"] == {"pairs": 160, "checked": True, "removed": 1}


def test_duplicates_drop_the_second():
    g = population()
    codes = g.codes.copy()
    codes[30] = codes[5]
    codes[30, 100] = (codes[5, 100] + 1) % 3  # one discordant call of 600
    codes[30, 200:230] = -1  # and 30 missing: concordance 569 / 570
    codes[40] = codes[6]
    codes[40, :10] = (codes[6, :10] + 1) % 3  # 590 / 600 < 0.99: not a duplicate
    result = qc_genotypes(with_codes(g, codes))
    found = rows(result, "animal", "duplicate genotype")
    assert found[["id", "other"]].values.tolist() == [["A030", "A005"]]
    assert found["value"].iloc[0] == pytest.approx(569 / 570)
    assert "A005" in result.genotypes.ids and "A030" not in result.genotypes.ids
    assert result.summary["duplicates"]["list"][0] == {"kept": "A005", "removed": "A030",
                                                       "concordance": pytest.approx(569 / 570), "snps": 570}


def test_duplicate_search_finds_every_pair_all_pairs_find():
    """Banded search against every pair compared one by one, on related animals with missing
    calls (many candidates near, and some above, the threshold)."""
    rng = np.random.default_rng(11)
    g = population(seed=4, n=150, m=800)
    codes = g.codes.copy()
    for k in range(60, 150):  # copies of earlier animals with 0–3 % of calls changed or missing
        source = rng.integers(0, k)
        codes[k] = codes[source]
        changed = rng.random(800) < rng.uniform(0, 0.02)
        codes[k, changed] = (codes[k, changed] + 1) % 3
        codes[k, rng.random(800) < 0.01] = -1
    threshold = 0.985
    result = qc_genotypes(with_codes(g, codes), QCSettings(duplicate_threshold=threshold))
    found = {(d["kept"], d["removed"]) for d in result.summary["duplicates"]["list"]}
    expected = set()
    for i in range(150):
        for k in range(i + 1, 150):
            both = (codes[i] >= 0) & (codes[k] >= 0)
            if np.mean(codes[i][both] == codes[k][both]) >= threshold:
                expected.add((g.ids[i], g.ids[k]))
    assert len(expected) > 20
    assert found == expected


def test_genotyped_animals_not_in_the_pedigree_are_listed_and_kept():
    g = population()
    pedigree = pd.DataFrame({"id": [f"A{k:03d}" for k in range(N - 3)], "sire": "0", "dam": "0"})
    result = qc_genotypes(g, pedigree=pedigree)
    found = rows(result, "animal", "not in the pedigree")
    assert found["id"].tolist() == ["A077", "A078", "A079"] and set(found["action"]) == {"kept"}
    assert result.genotypes.shape == (N, M)
    assert any("not in the pedigree" in w and "single-step" in w for w in result.summary["warnings"])


def test_summary_distributions():
    g = population()
    result = qc_genotypes(g)
    maf = result.summary["maf"]
    p = g.codes.sum(axis=0) / (2 * N)
    assert maf["n"] == M and maf["mean"] == pytest.approx(np.minimum(p, 1 - p).mean())
    assert sum(maf["histogram"]["counts"]) == M
    assert result.summary["call_rate_snp"]["quantiles"]["p0"] == 1.0


def test_counts_against_numpy():
    """The one-pass counts of a row and column subset against numpy on the subset."""
    from henderson.genotypes import count

    rng = np.random.default_rng(21)
    codes = rng.integers(-1, 3, (57, 233)).astype(np.int8)
    rows, columns = rng.random(57) < 0.6, rng.random(233) < 0.4
    stats = count(codes, rows, columns)
    sub = codes[rows][:, columns]
    for g in range(3):
        np.testing.assert_array_equal(stats.genotype_counts[g], (sub == g).sum(axis=0))
    np.testing.assert_array_equal(stats.called_animal, (sub >= 0).sum(axis=1))
    called = np.where(sub >= 0, sub, 0).sum(axis=0) / (2 * (sub >= 0).sum(axis=0))
    np.testing.assert_allclose(stats.allele_frequency, called, rtol=0, atol=1e-15)
    np.testing.assert_allclose(stats.call_rate_snp, (sub >= 0).mean(axis=0), rtol=0, atol=1e-15)
