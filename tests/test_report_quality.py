"""Tests of the report's data-quality, pedigree, maternal-trend, fixed-effect and provenance
sections (henderson.report.qc and henderson.report.sections.*).

Inputs are the Mrode (2014) Example 3.1 tables of test_report.py, with a phenotype table made
for each test; the cleaned phenotypes come from henderson.clean.clean_phenotypes, and the
report selects the model's records from them with henderson.clean.model_records, as the
workflow does. Every expected number is computed here from the raw rows with the standard
library (statistics, collections.Counter, hashlib) or an explicit loop, not by the report code.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.metadata
import math
import statistics
from datetime import datetime, timedelta, timezone
from html import unescape

import numpy as np
import pandas as pd
import pytest
import yaml
from test_report import (
    BIRTH_YEAR,
    CLEAN_SUMMARY,
    EBV,
    MATERNAL,
    PEDIGREE,
    given_record,
    maternal_two_trait,
    model_spec,
    parse,
    pedigree_table,
    render,
    solutions_table,
    table_rows,
)
from test_workflow import MRODE_PEDIGREE, mrode_config, setup_dir, snakemake

from henderson import __version__
from henderson.clean import clean_phenotypes
from henderson.config import model_columns_params, model_from_dict
from henderson.report import RunInfo, collect_run_info, fmt_fixed, fmt_sig
from henderson.report.qc import (
    group_sizes,
    pedigree_completeness,
    progeny_counts,
    records_per_animal,
    trait_statistics,
)
from henderson.report.sections.fixed import FIXED_EXTREMES, FIXED_FULL_LEVELS
from henderson.report.sections.quality import SINGLETON_SHARE_LIMIT
from henderson.stages.clean import (
    clean_pedigree_stage,
    clean_phenotypes_stage,
    summarise_clean,
)

# Records of animals 4-8 with a herd; the row of animal 6 in h3 has no wwg (dropped by the
# model), so h3 is a singleton group among the records used; animal 7 has two records.
ROWS = [
    ("4", "h1", "M", "4.5"),
    ("5", "h1", "F", "2.9"),
    ("6", "h2", "F", "3.9"),
    ("7", "h2", "M", "3.5"),
    ("7", "h2", "M", "3.7"),
    ("8", "h3", "M", "5.0"),
    ("6", "h3", "F", ""),
]


def cleaned(rows, columns=("id", "herd", "sex", "wwg"), spec=None, name="wwg_blup"):
    """The cleaned phenotype table (as results/clean/phenotypes.parquet holds it)."""
    raw = pd.DataFrame(list(rows), columns=list(columns), dtype=object)
    raw.index = pd.RangeIndex(2, len(raw) + 2, name="line")
    spec = spec or herd_spec()
    return clean_phenotypes(raw, source="data.csv", id_column="id",
                            models={name: spec.columns}).table


def herd_spec(**changes):
    return model_spec(fixed=["herd", "sex"], **changes)


def used(rows, trait_index=3):
    """The rows the model keeps: those with a number in the trait column."""
    return [r for r in rows if r[trait_index] != ""]


def text_of(html):
    return " ".join(parse(html).text)


def banner_of(html):
    if 'class="warning banner"' not in html:
        return ""
    start = html.index('class="warning banner"')
    return html[start : html.index("</div>", start)]


# ------------------------------------------------------------------------------------------
# 1. Data quality
# ------------------------------------------------------------------------------------------


def test_trait_statistics_and_groups_are_those_of_the_models_records():
    html = render(spec=herd_spec(), phenotypes=cleaned(ROWS), id_column="id")
    kept = used(ROWS)
    values = [float(r[3]) for r in kept]
    stats = table_rows(html, "Trait statistics of the records used")
    assert stats == [["wwg", str(len(values)), fmt_sig(statistics.mean(values)),
                      fmt_sig(statistics.stdev(values)), fmt_sig(min(values)),
                      fmt_sig(max(values))]]
    sizes = collections.Counter(r[1] for r in kept)  # h1: 2, h2: 3, h3: 1
    singletons = [g for g, n in sizes.items() if n == 1]
    share = f"{100 * len(singletons) / len(kept):.1f} %"
    groups = table_rows(html, "Contemporary groups (first class fixed effect)")
    assert groups == [["herd", str(len(sizes)), str(len(kept)),
                       fmt_sig(statistics.median(sizes.values())), str(min(sizes.values())),
                       str(max(sizes.values())), str(len(singletons)), share]]
    assert table_rows(html, "Contemporary groups (herd) by size") == [
        ["1", "1", "1"], ["2", "1", "2"], ["3–5", "1", "3"]]
    per_animal = collections.Counter(collections.Counter(r[0] for r in kept).values())
    assert table_rows(html, "Records per animal") == [
        [str(k), str(per_animal[k])] for k in sorted(per_animal)]
    assert "5 animals with 6 records, 1.20 records per animal" in text_of(html)


def test_qc_helpers_match_loop_oracles():
    records = pd.DataFrame({"id": ["a", "b", "b", "c", "d"], "g": ["x", "x", "y", None, "z"],
                            "t": [1.0, np.nan, 3.0, 4.0, 7.0]})
    stats = trait_statistics(records, ["t"]).iloc[0]
    assert stats["n"] == 4 and stats["mean"] == pytest.approx(statistics.mean([1, 3, 4, 7]))
    assert stats["sd"] == pytest.approx(statistics.stdev([1, 3, 4, 7]), rel=1e-12)
    # the level of a record without a trait value is not counted for that trait; no level, no group
    assert group_sizes(records, "g", "t").to_dict() == {"x": 1, "y": 1, "z": 1}
    assert group_sizes(records, "g").to_dict() == {"x": 2, "y": 1, "z": 1}
    per = records_per_animal(records, "id")
    assert per.to_dict("list") == {"records": [1, 2], "animals": [3, 1]}
    one = trait_statistics(records.head(1), ["t"]).iloc[0]
    assert one["n"] == 1 and math.isnan(one["sd"])


@pytest.mark.parametrize("sizes, warned", [([1, 9], False), ([1, 1, 8], True), ([2, 8], False)])
def test_singleton_warning_above_ten_percent(sizes, warned):
    rows = [(f"a{g}{i}", f"g{g}", "M", str(1.0 + i)) for g, n in enumerate(sizes) for i in range(n)]
    html = render(spec=herd_spec(), phenotypes=cleaned(rows), id_column="id")
    singles = sum(1 for n in sizes if n == 1)
    assert (singles / sum(sizes) > SINGLETON_SHARE_LIMIT) == warned
    banner = banner_of(html)
    assert ("alone in their herd group" in banner) == warned
    if warned:
        assert f"{singles:,} of the {sum(sizes):,} records" in banner
        assert banner.index("alone") > 0 and parse(html).errors == []


def test_two_traits_have_groups_per_trait():
    spec = model_spec(traits=["wwg", "ywg"], fixed=["herd"],
                      variances={"animal": [[20.0, 5.0], [5.0, 30.0]],
                                 "residual": [[40.0, 10.0], [10.0, 90.0]]})
    rows = [("4", "h1", "4.5", "9.1"), ("5", "h1", "2.9", ""), ("6", "h2", "3.9", "8.0"),
            ("7", "h2", "3.5", "7.5"), ("8", "h3", "5.0", "")]
    table = cleaned(rows, columns=("id", "herd", "wwg", "ywg"), spec=spec)
    html = render(spec=spec, solutions=solutions_table(("wwg", "ywg")), phenotypes=table,
                  id_column="id")
    stats = {r[0]: r[1:] for r in table_rows(html, "Trait statistics")}
    ywg = [float(r[3]) for r in rows if r[3]]
    assert stats["ywg"] == [str(len(ywg)), fmt_sig(statistics.mean(ywg)),
                            fmt_sig(statistics.stdev(ywg)), fmt_sig(min(ywg)), fmt_sig(max(ywg))]
    groups = {r[0]: r for r in table_rows(html, "Contemporary groups (first class")}
    # wwg: h1 2, h2 2, h3 1 -> one singleton of 5 records; ywg: h1 1, h2 2 -> one of 3
    assert groups["wwg"][2:4] == ["3", "5"] and groups["wwg"][7:] == ["1", "20.0 %"]
    assert groups["ywg"][2:4] == ["2", "3"] and groups["ywg"][7:] == ["1", "33.3 %"]
    banner = banner_of(html)
    assert "records of wwg" in banner and "records of ywg" in banner


def test_kept_without_level_and_no_groups_without_fixed_class():
    summary = {**CLEAN_SUMMARY, "models": {"wwg_blup": {
        **CLEAN_SUMMARY["models"]["wwg_blup"], "kept_without_level": {"litter": 3, "pen": 0}}}}
    spec = model_spec(fixed=[])
    rows = [("4", "4.5")] * 12 + [("5", "2.9")]
    html = render(spec=spec, clean_summary=summary, id_column="id",
                  phenotypes=cleaned(rows, columns=("id", "wwg"), spec=spec))
    assert table_rows(html, "Records kept without a level") == [["litter", "3"]]
    assert "no class fixed effect: no contemporary groups" in text_of(html)
    # 12 records of one animal fall in the last, pooled row
    assert table_rows(html, "Records per animal") == [["1", "1"], ["≥ 10", "1"]]
    # without the phenotypes: a note, and no quality tables
    html = render(clean_summary=summary)
    assert "were not given to the report" in text_of(html)
    assert "Trait statistics" not in html
    assert table_rows(html, "Records kept without a level") == [["litter", "3"]]


def test_founders_added_warning_reaches_the_banner(tmp_path):
    """The clean stage's warning on phenotyped animals missing from the pedigree (added as
    founders) is in the banner, through the real clean stage and its summary."""
    (tmp_path / "ped.csv").write_text(MRODE_PEDIGREE)
    data = "id,sex,wwg\n" + "".join(f"{i},M,{i}.0\n" for i in (4, 5, 6, 7, 8, 91, 92, 93))
    (tmp_path / "data.csv").write_text(data)
    spec = model_spec()
    ped = clean_pedigree_stage(tmp_path / "ped.csv", tmp_path / "data.csv", id_column="id",
                               unknown_parent=["0"])
    phen = clean_phenotypes_stage(tmp_path / "data.csv", id_column="id",
                                  models=model_columns_params({"wwg_blup": spec}))
    rejected, summary = summarise_clean((ped.rejected, ped.summary), phen)
    html = render(clean_summary=summary, rejected=rejected, phenotypes=phen.table, id_column="id")
    banner = banner_of(html)
    assert "3 of 8 phenotyped animals" in banner and "added as founders" in banner


# ------------------------------------------------------------------------------------------
# 2. Pedigree completeness, top sires, maternal EBVs
# ------------------------------------------------------------------------------------------


def test_pedigree_completeness_by_birth_year():
    pedigree = pedigree_table()
    pedigree.loc[pedigree["id"] == "8", "birth_year"] = None  # unknown year: own row, last
    html = render(pedigree=pedigree)
    years = {p[0]: (BIRTH_YEAR[p[0]] if p[0] != "8" else "unknown") for p in PEDIGREE}
    expected = {}
    for animal, sire, dam, _, _ in PEDIGREE:
        row = expected.setdefault(years[animal], [0, 0, 0, 0])
        row[0] += 1
        row[1] += bool(sire)
        row[2] += bool(dam)
        row[3] += bool(sire and dam)
    order = sorted(y for y in expected if y != "unknown") + ["unknown"]
    total = [sum(expected[y][k] for y in expected) for k in range(4)]

    def pct(part, whole):
        return f"{100 * part / whole:.1f} %"

    rows = [[y, str(n), pct(s, n), pct(d, n), pct(b, n)]
            for y, (n, s, d, b) in [(y, expected[y]) for y in order] + [("all", total)]]
    assert table_rows(html, "Pedigree completeness by birth year") == rows
    frame = pedigree_completeness(pedigree_table().drop(columns="birth_year"))
    assert len(frame) == 1 and frame.iloc[0]["animals"] == 8 and frame.iloc[0]["both"] == 4


def test_top_sires_by_progeny_with_their_ebv():
    phenotypes = cleaned(ROWS)
    html = render(spec=herd_spec(), phenotypes=phenotypes, id_column="id")
    progeny: dict[str, list[str]] = {}
    for animal, sire, _, _, _ in PEDIGREE:
        if sire:
            progeny.setdefault(sire, []).append(animal)
    recorded = {r[0] for r in used(ROWS)}
    order = sorted(progeny, key=lambda s: (-len(progeny[s]), s))
    rows = table_rows(html, "Top 3 sires by number of progeny")
    assert rows == [
        [str(k), s, str(len(progeny[s])), str(sum(a in recorded for a in progeny[s])),
         fmt_fixed(EBV[s], 3), fmt_fixed(0.1 + 0.05 * int(s), 2)]
        for k, s in enumerate(order, start=1)
    ]
    counts = progeny_counts(pedigree_table())
    assert list(counts["sire"]) == order and "with_records" not in counts.columns


def test_maternal_ebv_distribution_and_trend_next_to_the_direct_ones():
    spec = model_spec(random=MATERNAL,
                      variances={"animal": 20.0, "dam": 8.0, "animal.dam": -2.0, "residual": 40.0})
    sol = solutions_table()
    maternal = sol[sol["effect"] == "animal"].assign(effect="dam", estimate=lambda f: f["estimate"] * 2)
    html = render(spec=spec, solutions=pd.concat([sol, maternal], ignore_index=True))
    by_year: dict[str, list[float]] = {}
    for animal, value in EBV.items():
        by_year.setdefault(BIRTH_YEAR[animal], []).append(2 * value)
    assert table_rows(html, "Mean maternal EBV (dam) by birth year, wwg") == [
        [y, str(len(v)), fmt_fixed(sum(v) / len(v), 3)] for y, v in sorted(by_year.items())]
    text = text_of(html)
    for title in ("EBV distribution", "Genetic trend", "Maternal EBV distribution (dam)",
                  "Maternal genetic trend (dam)", "Reliability distribution (dam)"):
        assert title + "." in text
    assert len(parse(html).images) == 7  # F; direct and maternal: EBV, reliability, trend
    # two traits: a maternal trend per trait
    spec2, variances = maternal_two_trait()
    sol2 = solutions_table(("bw", "ww"))
    mat2 = sol2[sol2["effect"] == "animal"].assign(effect="dam")
    html2 = render(spec=spec2, record=given_record(spec2, variances), model_name="mat2",
                   solutions=pd.concat([sol2, mat2], ignore_index=True))
    assert "Mean maternal EBV (dam) by birth year, bw" in html2
    assert "Mean maternal EBV (dam) by birth year, ww" in html2


# ------------------------------------------------------------------------------------------
# 4. Fixed effects at any number of levels
# ------------------------------------------------------------------------------------------


def herd_solutions(n, trait="wwg"):
    estimate = np.arange(n, dtype=float)[::-1] * 0.5  # h0 highest
    se = 1.0 + np.arange(n) / 100.0
    frame = pd.DataFrame({"trait": trait, "effect": "herd", "level": [f"h{i}" for i in range(n)],
                          "estimate": estimate, "se": se, "reliability": math.nan})
    frame.loc[n - 1, "se"] = math.nan  # the level set to zero: estimate 0, no SE
    return frame


def test_many_levels_are_summarised_with_extremes_and_histogram():
    n = 2000
    herds = herd_solutions(n)
    html = render(spec=herd_spec(), solutions=pd.concat([solutions_table(), herds], ignore_index=True))
    est = herds["estimate"].to_numpy()
    se = herds["se"].dropna().to_numpy()
    assert table_rows(html, "Fixed effects with more than") == [
        ["herd", f"{n:,}", "1", fmt_sig(est.min()), fmt_sig(np.median(est)), fmt_sig(est.max()),
         fmt_sig(se.min()), fmt_sig(se.max())]]
    extremes = table_rows(html, "herd: the 5 highest and 5 lowest")
    ranked = sorted(zip(herds["level"], est, herds["se"]), key=lambda r: (-r[1], r[0]))
    chosen = [(k, r) for k, r in enumerate(ranked, start=1)
              if k <= FIXED_EXTREMES or k > n - FIXED_EXTREMES]
    assert extremes == [[f"{k:,}", lvl, fmt_sig(e), fmt_sig(s)] for k, (lvl, e, s) in chosen]
    assert table_rows(html, "Fixed-effect solutions") == [["sex", "M", "4.358", "0.1"],
                                                          ["sex", "F", "3.404", "0.1"]]
    assert 'alt="Histogram of the estimates of herd"' in html
    assert "h1000" not in html and len(html) < 300_000  # not 2,000 rows


def test_full_table_up_to_the_limit_and_per_trait_summaries():
    html = render(spec=herd_spec(),
                  solutions=pd.concat([solutions_table(), herd_solutions(FIXED_FULL_LEVELS)]))
    assert len(table_rows(html, "Fixed-effect solutions")) == 2 + FIXED_FULL_LEVELS
    assert "Fixed effects with more than" not in html
    spec = model_spec(traits=["wwg", "ywg"], fixed=["sex", "herd"],
                      variances={"animal": [[20.0, 5.0], [5.0, 30.0]],
                                 "residual": [[40.0, 10.0], [10.0, 90.0]]})
    sol = pd.concat([solutions_table(("wwg", "ywg")), herd_solutions(40, "wwg"),
                     herd_solutions(50, "ywg")], ignore_index=True)
    html = render(spec=spec, solutions=sol)
    summary = table_rows(html, "Fixed effects with more than")
    assert [r[:3] for r in summary] == [["wwg", "herd", "40"], ["ywg", "herd", "50"]]
    assert "herd, ywg: the 5 highest and 5 lowest of 50 levels" in html
    full = table_rows(html, "Fixed-effect solutions")
    assert [r[:2] for r in full] == [["wwg", "sex"]] * 2 + [["ywg", "sex"]] * 2


# ------------------------------------------------------------------------------------------
# 3. Provenance
# ------------------------------------------------------------------------------------------


def test_provenance_date_checksums_versions_and_config(tmp_path):
    (tmp_path / "ped.csv").write_text(MRODE_PEDIGREE)
    (tmp_path / "data.csv").write_bytes(b"id,wwg\n4,4.5\n")
    local = datetime(2024, 5, 6, 9, 8, 7, tzinfo=timezone(timedelta(hours=2)))
    info = collect_run_info({"pedigree": tmp_path / "ped.csv", "phenotypes": tmp_path / "data.csv",
                             "genotypes": None}, now=local)
    assert info.date == "2024-05-06 07:08:07 UTC"
    spec, variances = maternal_two_trait()
    html = render(spec=spec, record=given_record(spec, variances), model_name="mat2",
                  solutions=solutions_table(("bw", "ww")), run_info=info)
    assert table_rows(html, "Run") == [["Date (UTC)", "2024-05-06 07:08:07 UTC"]]
    assert "on 2024-05-06 07:08:07 UTC" in html  # footer
    digests = table_rows(html, "Input files (SHA-256")
    assert digests == [
        ["pedigree", str(tmp_path / "ped.csv"), hashlib.sha256(MRODE_PEDIGREE.encode()).hexdigest()],
        ["phenotypes", str(tmp_path / "data.csv"), hashlib.sha256(b"id,wwg\n4,4.5\n").hexdigest()],
    ]
    versions = dict(tuple(r) for r in table_rows(html, "Package versions"))
    assert versions["henderson"] == __version__
    assert versions["numpy"] == np.__version__ and versions["pandas"] == pd.__version__
    for name, dist in (("scipy", "scipy"), ("scikit-sparse (sksparse)", "scikit-sparse"),
                       ("snakemake", "snakemake")):
        try:
            assert versions[name] == importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            assert name not in versions
    # the config block: YAML that reads back to the same model
    block = html.split('<pre class="config">', 1)[1].split("</pre>", 1)[0]
    config = yaml.safe_load(unescape(block))
    assert list(config["models"]) == ["mat2"]
    again = model_from_dict("mat2", config["models"]["mat2"], has_pedigree=True)
    assert again == spec


def test_render_is_deterministic_and_dated_only_through_run_info():
    info = RunInfo(date="2024-01-02 03:04:05 UTC", inputs=(("phenotypes", "d.csv", "ab" * 32),),
                   packages=(("henderson", __version__),))
    first = render(run_info=info)
    assert first == render(run_info=info)
    later = render(run_info=RunInfo(date="2025-01-02 03:04:05 UTC", inputs=info.inputs,
                                    packages=info.packages))
    assert first.replace("2024-01-02", "2025-01-02") == later
    plain = render()
    assert "were not recorded" in text_of(plain) and "Date (UTC)" not in plain
    assert "models:\n  wwg_blup:\n    traits: [wwg]" in plain


# ------------------------------------------------------------------------------------------
# The workflow
# ------------------------------------------------------------------------------------------

# Animal 9 is not in the pedigree (added as a founder, a warning of the clean stage); h3 holds
# one record of six.
HERD_DATA = ("animal,herd,sex,wwg\n4,h1,M,4.5\n5,h1,F,2.9\n6,h2,F,3.9\n7,h2,M,3.5\n"
             "8,h3,M,5.0\n9,h1,F,4.1\n")


@pytest.mark.workflow
def test_workflow_report_has_the_new_sections(tmp_path):
    config = mrode_config(wwg={"fixed": ["herd", "sex"]})
    work = setup_dir(tmp_path, config, data=HERD_DATA)
    snakemake(work)
    html = (work / "results/wwg/report.html").read_text(encoding="utf-8")
    assert parse(html).errors == []
    stats = table_rows(html, "Trait statistics of the records used")
    values = [4.5, 2.9, 3.9, 3.5, 5.0, 4.1]
    assert stats == [["wwg", "6", fmt_sig(statistics.mean(values)), fmt_sig(statistics.stdev(values)),
                      "2.9", "5"]]
    assert table_rows(html, "Contemporary groups (first class")[0][-2:] == ["1", "16.7 %"]
    banner = banner_of(html)
    assert "1 of the 6 records" in banner and "alone in their herd group" in banner
    assert "1 of 6 phenotyped animals" in banner and "added as founders" in banner
    assert table_rows(html, "Top 3 sires by number of progeny")[0][:4] == ["1", "1", "2", "2"]
    assert table_rows(html, "Pedigree completeness")[-1][:2] == ["all", "9"]
    digests = {r[0]: r[2] for r in table_rows(html, "Input files (SHA-256")}
    assert digests == {"pedigree": hashlib.sha256((work / "pedigree.csv").read_bytes()).hexdigest(),
                       "phenotypes": hashlib.sha256((work / "data.csv").read_bytes()).hexdigest()}
    assert table_rows(html, "Run")[0][1].endswith(" UTC")
    block = html.split('<pre class="config">', 1)[1].split("</pre>", 1)[0]
    assert yaml.safe_load(block)["models"]["wwg"]["fixed"] == ["herd", "sex"]
    for anchor in ('id="data-quality"', 'id="completeness"', 'id="sires"', 'id="provenance"'):
        assert anchor in html
