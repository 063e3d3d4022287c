"""Unknown parent groups through the workflow: explicit codes in Mrode's Example 3.1 pedigree
against the dense explicit-group model, rules with a pedigree column, metafounders with REML,
and a group code that is also an animal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_workflow import MRODE_DATA, mrode_config, setup_dir, snakemake

from henderson.pedigree import relationship_matrix_dense, sort_pedigree

pytestmark = pytest.mark.workflow

# Mrode's Example 3.1 with the unknown sires in group G1 and the unknown dams in G2
GROUPED_PEDIGREE = "id,sire,dam\n1,G1,G2\n2,G1,G2\n3,G1,G2\n4,1,G2\n5,3,2\n6,1,2\n7,4,5\n8,3,6\n"


def test_explicit_fixed_groups_match_the_dense_explicit_model(tmp_path):
    """solutions.parquet has `group` rows (G2, the larger group, is the reference at 0) and the
    animal rows are â + Qĝ of y = Xb + ZQg + Za + e solved densely (tolerance 1e-9)."""
    config = mrode_config() | {"groups": {"assign": "explicit", "codes": ["G1", "G2"], "type": "fixed"}}
    work = setup_dir(tmp_path, config, pedigree=GROUPED_PEDIGREE)
    snakemake(work)
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])
    groups = pd.read_parquet(work / "results/relationships/groups.parquet").set_index("group")
    assert groups.loc["G1", "size"] == 3 and groups.loc["G2", "size"] == 4
    assert sol.loc[("group", "G2"), "estimate"] == 0.0 and np.isnan(sol.loc[("group", "G2"), "se"])
    # dense: animals 1..8 in order, Q from the pedigree by hand
    ped = sort_pedigree([str(i) for i in range(1, 9)], [None, None, None, "1", "3", "1", "4", "3"],
                        [None, None, None, None, "2", "2", "5", "6"])
    a = relationship_matrix_dense(ped)
    q = np.zeros((8, 2))
    q[:3] = [0.5, 0.5]
    q[3] = 0.5 * q[0] + [0, 0.5]
    for i, (s, d) in {4: (2, 1), 5: (0, 1), 6: (3, 4), 7: (2, 5)}.items():
        q[i] = 0.5 * (q[s] + q[d])
    data = pd.read_csv(pd.io.common.StringIO(MRODE_DATA), dtype={"animal": str})
    x = np.column_stack([data["sex"] == "M", data["sex"] == "F"]).astype(float)
    z = np.zeros((5, 8))
    z[np.arange(5), data["animal"].astype(int) - 1] = 1.0
    w = np.hstack([x, z @ q[:, [0]], z])
    c = w.T @ w
    c[3:, 3:] += np.linalg.inv(a) * 40.0 / 20.0
    s = np.linalg.solve(c, w.T @ data["wwg"].to_numpy())
    ebv = s[3:] + q[:, 0] * s[2]
    assert sol.loc[("group", "G1"), "estimate"] == pytest.approx(s[2], abs=1e-9)
    for i in range(8):
        assert sol.loc[("animal", str(i + 1)), "estimate"] == pytest.approx(ebv[i], abs=1e-9)
    assert sol.loc[("sex", "M"), "estimate"] == pytest.approx(s[0], abs=1e-9)
    animals = pd.read_parquet(work / "results/wwg/animals.parquet").set_index("id")
    assert animals.loc["7", "ebv_animal"] == pytest.approx(ebv[6], abs=1e-9)
    assert not animals.index.isin(["G1", "G2"]).any()  # group codes are not animals
    assert animals.loc["1", "sire"] == "G1" and animals.loc["1", "dam"] == "G2"
    report = (work / "results/wwg/report.html").read_text()
    assert "Unknown parent groups" in report and "G1" in report


RULES_PEDIGREE = (
    "id,sire,dam,birth_year,breed\n"
    "s1,0,0,1990,A\ns2,0,0,1991,A\ns3,0,0,1995,B\nd1,0,0,1990,A\nd2,0,0,1994,B\nd3,0,0,1996,B\n"
    "c1,s1,d1,1997,A\nc2,s2,d2,1998,B\nc3,s3,d3,1999,B\nc4,s1,0,2000,A\nc5,0,d3,2001,B\nc6,c1,c2,2002,A\n"
)
RULES_DATA = "id,herd,y\n" + "".join(
    f"{a},{h},{v}\n" for a, h, v in zip(
        ["c1", "c2", "c3", "c4", "c5", "c6", "s1", "d2"], ["h1", "h2", "h1", "h2", "h1", "h2", "h1", "h2"],
        [10.2, 11.5, 9.8, 12.1, 10.9, 11.7, 9.5, 10.4])
)


def test_rules_groups_with_a_pedigree_column_random(tmp_path):
    """Groups by breed (a pedigree column) and 5-year intervals, random with ratio 0.5: one
    `group` row (with se and reliability) per group of groups.parquet, whose sizes add up to the
    14 unknown parents; the breed column is read from the pedigree file."""
    config = {
        "pedigree": "pedigree.csv", "phenotypes": "data.csv", "id_column": "id",
        "groups": {"assign": "rules", "by": ["breed", "birth_year"], "width": 5, "min_size": 2,
                   "type": "random", "ratio": 0.5},
        "models": {"y": {"traits": ["y"], "fixed": ["herd"], "random": {"animal": "additive"},
                         "variances": {"animal": 2.0, "residual": 1.0}, "estimate": "none"}},
    }
    work = setup_dir(tmp_path, config, pedigree=RULES_PEDIGREE, data=RULES_DATA)
    snakemake(work)
    groups = pd.read_parquet(work / "results/relationships/groups.parquet")
    assert groups["size"].sum() == 14 and (groups["size"] >= 2).all()
    sol = pd.read_parquet(work / "results/y/solutions.parquet")
    rows = sol[sol["effect"] == "group"]
    assert sorted(rows["level"]) == sorted(groups["group"])
    assert rows["se"].notna().all() and rows["reliability"].notna().all()
    log = (work / "logs/relationships/relationships.log").read_text()
    assert "groups:" in log


GAMMA = [[0.4, 0.1], [0.1, 0.3]]


def test_metafounders_with_reml(tmp_path):
    config = mrode_config(wwg={"estimate": "ai"}) | {
        "groups": {"assign": "explicit", "codes": ["G1", "G2"], "metafounders": {"gamma": GAMMA}}}
    work = setup_dir(tmp_path, config, pedigree=GROUPED_PEDIGREE)
    snakemake(work)
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet")
    assert sorted(sol.loc[sol["effect"] == "group", "level"]) == ["G1", "G2"]
    table = pd.read_parquet(work / "results/relationships/group_pedigree.parquet").set_index("id")
    # animal 5 (parents 3 and 2, both children of G1 × G2): F = a(3, 2)/2 = [(γ11 + 2γ12 + γ22)/4]/2
    expected = (GAMMA[0][0] + 2 * GAMMA[0][1] + GAMMA[1][1]) / 8
    assert table.loc["5", "F"] == pytest.approx(expected, abs=1e-12)
    report = (work / "results/wwg/report.html").read_text()
    assert "Γ" in report


def test_a_group_code_that_is_an_animal_stops_the_run(tmp_path):
    pedigree = GROUPED_PEDIGREE + "G1,0,0\n"
    config = mrode_config() | {"groups": {"assign": "explicit", "codes": ["G1", "G2"]}}
    work = setup_dir(tmp_path, config, pedigree=pedigree)
    result = snakemake(work, check=False)
    assert result.returncode != 0
    log = (work / "logs/relationships/relationships.log").read_text()
    assert "'G1' of `groups.codes` are also animal IDs" in log
    assert "Traceback" not in log
