"""Tests of henderson.report: the per-model HTML report.

Inputs are built by hand at the size of Mrode (2014), Linear Models for the Prediction of Animal
Breeding Values, 3rd ed., Example 3.1 (p. 37-41): 8 animals, 5 with a weaning-gain record, a sex
effect, σ²a = 20 and σ²e = 40 (so h² = 20 / 60). The solutions are the book's, rounded to 3
decimals (Table on p. 40); the report only formats them, so their exact values matter only for
the ranking (animal 8 has the highest EBV, 0.183).
"""

from __future__ import annotations

import base64
import functools
import math
import re
from html import unescape
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from henderson import __version__
from henderson.errors import ConfigError, InputError
from henderson.report import (
    fmt_count,
    fmt_fixed,
    fmt_sig,
    genetic_trend,
    render_report,
    summarize_variances,
    top_animals,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Mrode Example 3.1: animal, sire, dam, sex, weaning gain (kg); animals 1-3 have no record.
PEDIGREE = [
    ("1", "", "", "M", None),
    ("2", "", "", "F", None),
    ("3", "", "", "F", None),
    ("4", "1", "", "M", 4.5),
    ("5", "3", "2", "F", 2.9),
    ("6", "1", "2", "F", 3.9),
    ("7", "4", "5", "M", 3.5),
    ("8", "3", "6", "M", 5.0),
]
EBV = {"1": 0.098, "2": -0.019, "3": -0.041, "4": -0.009, "5": -0.186, "6": 0.177,
       "7": -0.249, "8": 0.183}
SEX = {"M": 4.358, "F": 3.404}
BIRTH_YEAR = {"1": "2018", "2": "2018", "3": "2018", "4": "2019", "5": "2019", "6": "2020",
              "7": "2021", "8": "2021"}


def model_block(**changes):
    block = {
        "traits": ["wwg"],
        "fixed": ["sex"],
        "covariates": [],
        "random": {"animal": "additive"},
        "variances": {"animal": 20.0, "residual": 40.0},
        "estimate": "none",
    }
    block.update(changes)
    return block


def solutions_table(traits=("wwg",)):
    rows = []
    for k, trait in enumerate(traits):
        for level, value in SEX.items():
            rows.append((trait, "sex", level, value + k, 0.1 + 0.01 * k, math.nan))
        for animal, value in EBV.items():
            reliability = 0.1 + 0.05 * int(animal)
            rows.append((trait, "animal", animal, value * (1 - 2 * k), 4.0 + 0.1 * int(animal),
                         reliability))
    return pd.DataFrame(rows, columns=["trait", "effect", "level", "estimate", "se", "reliability"])


def pedigree_table(ids=None):
    frame = pd.DataFrame(
        {
            "id": [p[0] for p in PEDIGREE],
            "sire": [p[1] or None for p in PEDIGREE],
            "dam": [p[2] or None for p in PEDIGREE],
            "birth_year": [BIRTH_YEAR[p[0]] for p in PEDIGREE],
            "sex": [p[3] for p in PEDIGREE],
            "origin": ["pedigree"] * 7 + ["phenotypes"],
        }
    )
    if ids is not None:
        frame["id"] = ids
    return frame


def inbreeding_table():
    # Mrode 3.1 has no inbreeding; animal 8 is given a made-up F to exercise the histogram.
    return pd.DataFrame({"id": [p[0] for p in PEDIGREE], "F": [0.0] * 7 + [0.125]})


CLEAN_SUMMARY = {
    "pedigree": {"file": "resources/example/pedigree.csv", "rows": 9, "animals": 8,
                 "merged_duplicates": 1, "parents_added": 0, "phenotyped_added": 1},
    "phenotypes": {"file": "resources/example/phenotypes.csv", "rows": 7, "kept": 5},
    "models": {"wwg_blup": {"records": 5, "animals_with_records": 5, "dropped": 2,
                            "set_missing": 0, "by_reason": {"missing_trait": 1, "bad_number": 1}}},
    "rejected_by_reason": {"missing_trait": 3, "bad_number": 1, "duplicate_pedigree_row": 1},
}

RELATIONSHIPS = {"animals": 8, "founders": 3, "sires": 3, "dams": 3, "max_generation": 3,
                 "animals_per_generation": [3, 2, 2, 1], "inbred": 1, "mean_F": 0.015625,
                 "max_F": 0.125, "mean_F_inbred": 0.125}


def rejected_table():
    return pd.DataFrame(
        {
            "file": ["resources/example/phenotypes.csv", "resources/example/phenotypes.csv",
                     "resources/example/pedigree.csv", "resources/example/phenotypes.csv",
                     "resources/example/phenotypes.csv"],
            "line": [9, 3, 5, 4, 6],
            "id": ["9", "10", "4", "11", "12"],
            "model": ["wwg_blup", "wwg_blup", None, "other", "other"],
            "action": ["dropped", "dropped", "merged", "dropped", "dropped"],
            "reason": ["missing_trait", "bad_number", "duplicate_pedigree_row", "missing_trait",
                       "missing_trait"],
            "detail": ["wwg is empty", "wwg = 'abc'", "same parents", "", ""],
        }
    )


@functools.cache
def default_html() -> str:
    """The report of the default inputs, rendered once for the tests that only read it."""
    return render()


def render(**changes):
    arguments = dict(
        model_name="wwg_blup",
        model=model_block(),
        variances={"animal": 20.0, "residual": 40.0},
        solutions=solutions_table(),
        clean_summary=CLEAN_SUMMARY,
        rejected=rejected_table(),
        relationships_summary=RELATIONSHIPS,
        inbreeding=inbreeding_table(),
        pedigree=pedigree_table(),
        variance_components=None,
        trace=None,
        top_n=20,
    )
    arguments.update(changes)
    return render_report(**arguments)


class _Collector(HTMLParser):
    """Collects tags, image sources, link targets and text; fails on unbalanced block tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.images: list[str] = []
        self.refs: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src", "action"):
            if key in attrs and tag != "img":
                self.refs.append(attrs[key])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def table_rows(html: str, caption_start: str) -> list[list[str]]:
    """Cells of the first table whose caption starts with ``caption_start`` (tags stripped)."""
    match = re.search(
        r"<caption>" + re.escape(caption_start) + r".*?</caption>(.*?)</table>", html, re.S
    )
    assert match, f"no table captioned {caption_start!r}"
    body = match.group(1).split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td.*?>(.*?)</td>", row, re.S) for row in rows]
    return [[unescape(re.sub(r"<.*?>", "", c).strip()) for c in row] for row in cells]


# ------------------------------------------------------------------------------------------
# Formatting
# ------------------------------------------------------------------------------------------


def test_number_formatting():
    assert fmt_fixed(0.1834, 3) == "0.183"
    assert fmt_fixed(-0.0001, 3) == "0.000"  # no negative zero
    assert fmt_fixed(math.nan) == "\u2014"
    assert fmt_fixed(None) == "\u2014"
    assert fmt_sig(20.0) == "20"
    assert fmt_sig(1 / 3) == "0.3333"
    assert fmt_sig(123456.7) == "123,457"
    assert fmt_sig(0.00012345) == "1.234e-04" or fmt_sig(0.00012345) == "1.235e-04"
    assert fmt_sig(0.0) == "0"
    assert fmt_count(1234567) == "1,234,567"
    assert fmt_count(np.int64(5)) == "5"


# ------------------------------------------------------------------------------------------
# Numerical pieces against hand-computed oracles
# ------------------------------------------------------------------------------------------


def test_summarize_variances_single_trait():
    # Oracle: σ²p = 20 + 40 = 60, h² = 20 / 60 (exact to rounding, tolerance 1e-12).
    vs = summarize_variances(model_block(), {"animal": 20.0, "residual": 40.0})
    assert vs.phenotypic[0] == pytest.approx(60.0, abs=1e-12)
    assert vs.heritability[0] == pytest.approx(1 / 3, abs=1e-12)
    assert vs.total_heritability is None and vs.am_correlation is None
    assert vs.included == ("animal", "residual")


def test_summarize_variances_maternal_willham():
    # Oracle (Willham 1963, 1972): σ²p = σ²a + σ²m + σ_am + σ²pe + σ²e;
    # h²T = (σ²a + 1.5 σ_am + 0.5 σ²m) / σ²p; r_am = σ_am / sqrt(σ²a σ²m). Tolerance 1e-12.
    model = model_block(random={"animal": "additive",
                                "dam": {"type": "maternal", "column": "dam"},
                                "pe": "iid"})
    variances = {"animal": 20.0, "dam": 8.0, "animal.dam": -2.0, "pe": 5.0, "residual": 40.0}
    vs = summarize_variances(model, variances)
    sigma_p = 20.0 + 8.0 - 2.0 + 5.0 + 40.0
    assert vs.phenotypic[0] == pytest.approx(sigma_p, abs=1e-12)
    assert vs.heritability[0] == pytest.approx(20.0 / sigma_p, abs=1e-12)
    assert vs.ratios["dam"][0] == pytest.approx(8.0 / sigma_p, abs=1e-12)
    assert vs.ratios["pe"][0] == pytest.approx(5.0 / sigma_p, abs=1e-12)
    assert vs.total_heritability[0] == pytest.approx((20 - 3 + 4) / sigma_p, abs=1e-12)
    assert vs.am_correlation[0] == pytest.approx(-2.0 / math.sqrt(160.0), abs=1e-12)
    # The covariance may be keyed either way round.
    flipped = summarize_variances(model, {**{k: v for k, v in variances.items()
                                             if k != "animal.dam"}, "dam.animal": -2.0})
    assert flipped.phenotypic[0] == pytest.approx(sigma_p, abs=1e-12)


def test_summarize_variances_two_traits():
    # Oracle: per trait, σ²p[i] = G[i,i] + R[i,i]; h²[i] = G[i,i] / σ²p[i]. Tolerance 1e-12.
    g = [[20.0, 5.0], [5.0, 30.0]]
    r = [[40.0, 10.0], [10.0, 90.0]]
    vs = summarize_variances(model_block(traits=["wwg", "ywg"]), {"animal": g, "residual": r})
    np.testing.assert_allclose(vs.phenotypic, [60.0, 120.0], atol=1e-12)
    np.testing.assert_allclose(vs.heritability, [1 / 3, 0.25], atol=1e-12)


def test_summarize_variances_missing_and_bad_shape():
    vs = summarize_variances(model_block(), {"animal": 20.0})
    assert vs.missing == ("residual",) and math.isnan(vs.phenotypic[0])
    with pytest.raises(ConfigError, match="2 x 2"):
        summarize_variances(model_block(traits=["a", "b"]), {"animal": 20.0, "residual": 40.0})
    with pytest.raises(ConfigError, match="not a number"):
        summarize_variances(model_block(), {"animal": "twenty", "residual": 40.0})
    with pytest.raises(ConfigError, match="random: animal"):
        summarize_variances(model_block(random={"animal": "genomic"}), {})


def test_top_animals_matches_sorted_oracle():
    # Oracle: Python's sorted on (-EBV, id); ties must come out by ID.
    sol = solutions_table()
    sol.loc[(sol["effect"] == "animal") & (sol["level"] == "6"), "estimate"] = 0.183  # tie with 8
    top = top_animals(sol, "animal", "wwg", 4)
    animal = sol[sol["effect"] == "animal"]
    expected = sorted(zip(animal["level"], animal["estimate"]), key=lambda p: (-p[1], p[0]))[:4]
    assert list(top["id"]) == [p[0] for p in expected] == ["6", "8", "1", "4"]
    np.testing.assert_allclose(top["ebv"], [p[1] for p in expected], atol=0)


def test_genetic_trend_matches_loop_oracle():
    # Oracle: an explicit loop over animals; means to 1e-12.
    ebv = pd.DataFrame({"id": list(EBV), "ebv": list(EBV.values())})
    pedigree = pedigree_table()
    pedigree.loc[pedigree["id"] == "3", "birth_year"] = ""  # unknown year: skipped
    trend = genetic_trend(ebv, pedigree)
    sums: dict[int, list[float]] = {}
    for animal, value in EBV.items():
        year = BIRTH_YEAR[animal] if animal != "3" else ""
        if year:
            sums.setdefault(int(year), []).append(value)
    assert list(trend["birth_year"]) == sorted(sums)
    assert list(trend["n"]) == [len(sums[y]) for y in sorted(sums)]
    np.testing.assert_allclose(
        trend["mean_ebv"], [sum(sums[y]) / len(sums[y]) for y in sorted(sums)], atol=1e-12
    )
    assert genetic_trend(ebv, pedigree.drop(columns="birth_year")).empty


# ------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------


def test_complete_self_contained_document():
    html = default_html()
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    doc = parse(html)
    assert doc.errors == [] and doc.stack == []
    for tag in ("html", "head", "title", "body", "style", "table", "img"):
        assert tag in doc.tags
    assert "script" not in doc.tags
    # No external resources at all: every image is an embedded PNG, every link in-page.
    assert not re.search(r"https?://", html)
    assert "url(" not in html and "@import" not in html
    assert all(ref.startswith("#") for ref in doc.refs)
    assert len(doc.images) == 4  # F histogram, EBV, reliability, genetic trend
    for src in doc.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    assert f"henderson {__version__}" in html


def test_expected_numbers():
    html = default_html()
    text = " ".join(parse(html).text)
    assert "wwg = sex + animal + residual" in text
    assert "0.333" in text  # h² = 20 / 60
    ratios = table_rows(html, "Phenotypic variance and ratios")
    assert ratios == [["wwg", "60", "0.333"]]
    variances = table_rows(html, "Variances used")
    assert variances[0] == ["animal", "additive", "20", "h² = 0.333"]
    assert variances[-1][:3] == ["σ²p (phenotypic)", "sum", "60"]
    # Top animals: Mrode's animal 8 (EBV 0.183) first, then 6 (0.177); 8 rows in all.
    top = table_rows(html, "Top 8 animals by EBV for wwg")
    assert [row[1] for row in top] == ["8", "6", "1", "4", "2", "3", "5", "7"]
    assert top[0][:5] == ["1", "8", "0.183", "4.800", "0.50"]
    assert top[0][5:] == ["0.125", "3", "6", "2021"]  # F, sire, dam, birth year
    assert top[2][6:8] == ["—", "—"]  # animal 1: unknown parents
    # Data counts and rejected rows by reason (this model vs. all).
    counts = dict(tuple(r) for r in table_rows(html, "Data used"))
    assert counts["Records used by this model"] == "5"
    assert counts["Animals with records"] == "5"
    assert counts["Phenotyped animals added (not in the pedigree)"] == "1"
    reasons = table_rows(html, "Rejected or modified input rows by reason")
    assert reasons == [["missing_trait", "1", "3"], ["bad_number", "1", "1"],
                       ["duplicate_pedigree_row", "0", "1"], ["total", "2", "5"]]
    examples = table_rows(html, "First 2 of 2 rejected")
    assert [r[1] for r in examples] == ["3", "9"]  # sorted by line
    assert "results/clean/rejected.parquet" in text
    # Pedigree statistics.
    stats = dict(tuple(r) for r in table_rows(html, "Pedigree statistics"))
    assert stats["Animals"] == "8" and stats["Founders (both parents unknown)"] == "3"
    assert stats["Generations, founders included"] == "4"
    assert stats["Inbred animals (F > 0)"] == "1" and stats["Maximum F"] == "0.1250"
    assert table_rows(html, "Animals per generation") == [["0", "3"], ["1", "2"], ["2", "2"],
                                                          ["3", "1"]]
    # Fixed effects with 4 significant digits.
    fixed = table_rows(html, "Fixed-effect solutions")
    assert fixed == [["sex", "M", "4.358", "0.1"], ["sex", "F", "3.404", "0.1"]]
    # Genetic trend table: 2021 = mean(-0.249, 0.183) = -0.033.
    trend = table_rows(html, "Mean EBV by birth year, wwg")
    assert trend[-1] == ["2021", "2", "-0.033"]


def test_top_n_limits_rows():
    html = render(top_n=3)
    assert [r[1] for r in table_rows(html, "Top 3 animals by EBV for wwg")] == ["8", "6", "1"]
    with pytest.raises(ConfigError, match="top_n"):
        render(top_n=0)


def test_escapes_user_strings():
    evil = '<script>alert("x")</script>'
    ids = [p[0] for p in PEDIGREE]
    ids[7] = evil
    sol = solutions_table()
    sol.loc[sol["level"] == "8", "level"] = evil
    sol.loc[sol["level"] == "M", "level"] = "<b>male</b>"
    rejected = rejected_table()
    rejected.loc[0, "detail"] = "<img src=x onerror=alert(1)>"
    html = render(
        model_name="m<i>1</i>",
        solutions=sol,
        pedigree=pedigree_table(ids),
        inbreeding=inbreeding_table().assign(id=ids),
        rejected=rejected.assign(model="m<i>1</i>"),
        clean_summary={**CLEAN_SUMMARY,
                       "models": {"m<i>1</i>": CLEAN_SUMMARY["models"]["wwg_blup"]}},
    )
    assert "<script" not in html
    assert "<b>male" not in html and "<i>1</i>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    doc = parse(html)
    assert "script" not in doc.tags and doc.errors == []
    # The escaped ID is still the top animal, with its F and parents joined.
    top = table_rows(html, "Top 8 animals")
    assert top[0][1] == evil
    assert top[0][5:8] == ["0.125", "3", "6"]


def test_deterministic_bytes():
    first = default_html().encode("utf-8")
    second = render().encode("utf-8")
    assert first == second


def test_without_inbreeding_or_pedigree():
    html = render(inbreeding=None)
    top = table_rows(html, "Top 8 animals")
    assert "F" not in re.search(r"<caption>Top 8.*?</thead>", html, re.S).group(0).split("<th")[1:]
    assert len(top[0]) == 8  # rank, id, EBV, SE, reliability, sire, dam, birth year
    assert "Inbreeding coefficients were not computed" in html
    assert parse(html).errors == []

    html = render(pedigree=None, inbreeding=None, relationships_summary=None)
    top = table_rows(html, "Top 8 animals")
    assert len(top[0]) == 5 and top[0][1] == "8"
    assert "This model uses no pedigree." in html
    assert "Genetic trend" not in html
    assert parse(html).errors == []
    images = parse(html).images
    assert len(images) == 2  # EBV and reliability histograms


def test_missing_summary_keys_and_no_rejections():
    html = render(clean_summary={}, rejected=rejected_table().iloc[0:0])
    assert "No input row was rejected or modified." in html
    assert parse(html).errors == []
    html = render(clean_summary={"models": {"wwg_blup": {"records": 5}}}, rejected=None)
    assert table_rows(html, "Data used") == [["Records used by this model", "5"]]


def test_with_variance_components_and_trace():
    vc = {
        "method": "AI-REML",
        "converged": True,
        "iterations": 6,
        "log_likelihood": -12.3456,
        "variances": {"animal": 19.5, "residual": 40.5},
        "covariances": {},
        "se": {"animal": 7.25, "residual": 6.5},
        "ratios": {"h2": {"estimate": 0.325, "se": 0.11}},
    }
    trace = pd.DataFrame(
        {"iteration": [1, 2, 3, 4, 5, 6],
         "log_likelihood": [-14.0, -13.0, -12.5, -12.36, -12.346, -12.3456],
         "step": ["EM", "AI", "AI", "AI", "AI", "AI"],
         "animal": [10.0, 15.0, 18.0, 19.2, 19.48, 19.5],
         "residual": [50.0, 45.0, 42.0, 40.8, 40.52, 40.5]}
    )
    html = render(variance_components=vc, trace=trace, variances={"animal": 19.5, "residual": 40.5})
    status = dict(tuple(r) for r in table_rows(html, "REML fit"))
    assert status == {"Method": "AI-REML", "Converged": "yes", "Iterations": "6",
                      "Restricted log-likelihood": "-12.3456"}
    assert table_rows(html, "REML estimates") == [["animal", "19.5", "7.25"],
                                                   ["residual", "40.5", "6.5"]]
    assert table_rows(html, "Ratios") == [["h²", "0.325", "0.110"]]
    assert "estimated by REML" in html
    assert "REML log-likelihood" in html
    assert len(parse(html).images) == 5
    assert "did not converge" not in html
    html = render(variance_components={**vc, "converged": False}, trace=None)
    assert "REML did not converge" in html
    assert parse(html).errors == []


def test_two_trait_solutions():
    g = [[20.0, 5.0], [5.0, 30.0]]
    r = [[40.0, 10.0], [10.0, 90.0]]
    model = model_block(traits=["wwg", "ywg"], variances={"animal": g, "residual": r})
    vc = {"method": "AI-REML", "converged": True, "iterations": 9, "log_likelihood": -20.5,
          "variances": {"animal": g, "residual": r}, "covariances": {},
          "se": {"animal": [[2.0, 1.5], [1.5, 3.0]]},
          "ratios": {"h2": {"estimate": [1 / 3, 0.25], "se": [0.1, 0.12]}}}
    html = render(model=model, variances={"animal": g, "residual": r},
                  solutions=solutions_table(("wwg", "ywg")), variance_components=vc)
    doc = parse(html)
    assert doc.errors == []
    assert "[wwg, ywg] = sex + animal + residual" in html
    assert table_rows(html, "Phenotypic variance and ratios") == [
        ["wwg", "60", "0.333"], ["ywg", "120", "0.250"]]
    assert table_rows(html, "animal: covariance matrix") == [["wwg", "20", "5"],
                                                             ["ywg", "5", "30"]]
    # Genetic correlation 5 / sqrt(20 * 30) = 0.204.
    assert table_rows(html, "animal: correlations")[0] == ["wwg", "1.000", "0.204"]
    # REML matrices by element (upper triangle), per-trait ratios labelled by trait.
    assert table_rows(html, "REML estimates")[:3] == [
        ["animal [wwg, wwg]", "20", "2"], ["animal [wwg, ywg]", "5", "1.5"],
        ["animal [ywg, ywg]", "30", "3"]]
    assert table_rows(html, "Ratios") == [["h² [wwg]", "0.333", "0.100"],
                                          ["h² [ywg]", "0.250", "0.120"]]
    # One top list per trait; ywg EBVs are the wwg ones negated, so animal 7 leads.
    assert table_rows(html, "Top 8 animals by EBV for wwg")[0][1] == "8"
    top_ywg = table_rows(html, "Top 8 animals by EBV for ywg")
    assert top_ywg[0][1:3] == ["7", "0.249"]
    assert top_ywg[0][5] == "-0.249"  # EBV wwg column
    fixed = table_rows(html, "Fixed-effect solutions")
    assert [r[0] for r in fixed] == ["wwg", "wwg", "ywg", "ywg"]
    # EBV, reliability and trend plots per trait, plus the F histogram.
    assert len(doc.images) == 7


def test_large_fixed_table_is_summarised():
    sol = solutions_table()
    herds = pd.DataFrame({"trait": "wwg", "effect": "herd", "level": [f"h{i}" for i in range(250)],
                          "estimate": np.arange(250, dtype=float), "se": 1.0,
                          "reliability": math.nan})
    html = render(solutions=pd.concat([sol, herds], ignore_index=True),
                  model=model_block(fixed=["sex", "herd"]))
    rows = table_rows(html, "Fixed-effect solutions, summarised")
    assert rows == [["sex", "2", "3.404", "3.881", "4.358"], ["herd", "250", "0", "124.5", "249"]]


def test_maternal_model_report():
    model = model_block(random={"animal": "additive",
                                "dam": {"type": "maternal", "column": "dam"}})
    sol = solutions_table()
    maternal = sol[sol["effect"] == "animal"].assign(effect="dam",
                                                     estimate=lambda f: f["estimate"] + 0.1)
    html = render(model=model, solutions=pd.concat([sol, maternal], ignore_index=True),
                  variances={"animal": 20.0, "dam": 8.0, "animal.dam": -2.0, "residual": 40.0})
    ratios = table_rows(html, "Phenotypic variance and ratios")
    # σ²p = 66, h² = 20/66, m² = 8/66, h²T = (20 - 3 + 4)/66, r_am = -2/sqrt(160).
    assert ratios == [["wwg", "66", "0.303", "0.121", "0.318", "-0.158"]]
    assert "Willham" in html
    top = table_rows(html, "Top 8 animals")
    assert top[0][1] == "8" and top[0][5] == "0.283"  # maternal EBV column
    assert "<th class=\"num\">maternal EBV (dam)</th>" in html


def test_bad_solutions_table():
    with pytest.raises(InputError, match="estimate"):
        render(solutions=solutions_table().drop(columns="estimate"))


def test_write_report_file(tmp_path):
    html = default_html()
    path = tmp_path / "results" / "wwg_blup" / "report.html"
    write_report(html, path)
    data = path.read_bytes()
    assert data == html.encode("utf-8")
    assert 10_000 < len(data) < 2_000_000


def test_model_without_additive_effect():
    sol = solutions_table()
    sol = sol[sol["effect"] == "sex"]
    herds = pd.DataFrame({"trait": "wwg", "effect": "herd", "level": ["h1", "h2"],
                          "estimate": [0.5, -0.5], "se": 0.2, "reliability": math.nan})
    html = render(model=model_block(random={"herd": "iid"}),
                  variances={"herd": 10.0, "residual": 30.0},
                  solutions=pd.concat([sol, herds], ignore_index=True),
                  pedigree=None, inbreeding=None, relationships_summary=None)
    assert "This model has no additive genetic effect: no EBVs." in html
    assert table_rows(html, "Phenotypic variance and ratios") == [["wwg", "40", "—", "0.250"]]
    assert table_rows(html, "Other random effects") == [["herd", "wwg", "2", "0.5", "-0.5", "0.5"]]
    assert parse(html).images == [] and parse(html).errors == []


def test_multitrait_reml_ratios_are_listed_per_trait_and_pair():
    from henderson.report import render_report

    solutions = pd.DataFrame(
        {
            "trait": ["a", "b", "a", "b"],
            "effect": ["animal"] * 4,
            "level": ["1", "1", "2", "2"],
            "estimate": [0.5, 0.7, -0.5, -0.7],
            "se": [1.0, 1.1, 1.0, 1.1],
            "reliability": [0.2, 0.3, 0.2, 0.3],
        }
    )
    vc = {
        "method": "ai", "converged": True, "iterations": 5, "log_likelihood": -10.0, "traits": ["a", "b"],
        "variances": {"animal": [[2.0, 1.0], [1.0, 3.0]], "residual": [[4.0, 1.0], [1.0, 5.0]]},
        "se": {"animal": [[0.5, 0.4], [0.4, 0.6]], "residual": [[0.7, 0.3], [0.3, 0.8]]},
        "ratios": {
            "h2": {"a": {"estimate": 0.3333, "se": 0.0712}, "b": {"estimate": 0.375, "se": 0.0813}},
            "genetic_correlation": {"a.b": {"estimate": 0.4082, "se": 0.1234}},
        },
    }
    html = render_report(
        model_name="mt", model={"traits": ["a", "b"], "fixed": [], "random": {"animal": "additive"}},
        variances=vc["variances"], solutions=solutions, clean_summary={}, rejected=pd.DataFrame(
            columns=["file", "line", "id", "model", "action", "reason", "detail"]),
        relationships_summary=None, inbreeding=None, pedigree=None, variance_components=vc,
    )
    for text in ("(a)", "(b)", "(a.b)", "0.071", "0.408", "0.123"):
        assert text in html, text
