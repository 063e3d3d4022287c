"""Tests of henderson.report: the per-model HTML report.

Inputs are built by hand at the size of Mrode (2014), Linear Models for the Prediction of Animal
Breeding Values, 3rd ed., Example 3.1 (p. 37-41): 8 animals, 5 with a weaning-gain record, a sex
effect, σ²a = 20 and σ²e = 40 (so h² = 20 / 60). The solutions are the book's, rounded to 3
decimals (Table on p. 40); the report only formats them, so their exact values matter only for
the ranking (animal 8 has the highest EBV, 0.183).

The report renders typed records: the model as a ModelSpec (henderson.config.model_from_dict) and
its variance components as a ComponentsRecord read back (henderson.reml.read_components) from a
`variance_components.json` document written by henderson.reml.given_components_json or
components_json, exactly as the workflow does.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import re
from html import unescape
from html.parser import HTMLParser
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from henderson import __version__
from henderson.config import model_from_dict
from henderson.covariance import VarianceComponents
from henderson.errors import ConfigError, InputError
from henderson.reml import (
    ConvergenceCriteria,
    REMLFit,
    components_json,
    given_components_json,
    read_components,
)
from henderson.report import (
    fmt_count,
    fmt_fixed,
    fmt_sig,
    genetic_trend,
    render_report,
    top_animals,
    write_report,
)

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


MATERNAL = {"animal": "additive", "dam": {"type": "maternal", "column": "dam", "of": "animal"}}
# Two traits with a maternal effect: G0 over (animal, dam) x (bw, ww), R0 over (bw, ww).
G_AA = [[20.0, 5.0], [5.0, 30.0]]
G_MM = [[8.0, 2.0], [2.0, 10.0]]
G_AM = [[-2.0, 1.0], [0.5, -3.0]]  # direct on the row trait x maternal on the column trait
R_2 = [[40.0, 10.0], [10.0, 90.0]]


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


def model_spec(has_pedigree=True, **changes):
    return model_from_dict("wwg_blup", model_block(**changes), has_pedigree=has_pedigree)


def as_read(layout, content):
    """The record as the report stage reads it: through a JSON file."""
    return read_components(layout, json.loads(json.dumps(content)))


def given_record(spec, variances=None, log_likelihood=None):
    """The record of variances used as given (default: the spec's own)."""
    layout = spec.layout()
    vc = VarianceComponents.from_named(layout, variances or spec.variances)
    return as_read(layout, given_components_json(vc, log_likelihood))


def fitted_record(spec, variances, se, **changes):
    """The record of a REML fit at `variances` with standard errors `se` (by parameter name;
    sampling covariance diag(se²), so ratio SEs follow by the delta method)."""
    layout = spec.layout()
    vc = VarianceComponents.from_named(layout, variances)
    se_vector = np.array([se[name] for name in layout.names], dtype=float)
    fit = REMLFit(
        method="ai",
        converged=True,
        iterations=6,
        log_likelihood=-12.3456,
        components=vc,
        se_vector=se_vector,
        covariance=np.diag(se_vector**2),
        fixed=np.zeros(len(se_vector), dtype=bool),
        boundary=(),
        trace=pd.DataFrame(),
        criteria=ConvergenceCriteria(),
        messages=(),
    )
    return as_read(layout, components_json(dataclasses.replace(fit, **changes)))


def maternal_two_trait():
    """Spec and given-variances record of a two-trait (bw, ww) maternal model."""
    spec = model_from_dict(
        "mat2",
        model_block(traits=["bw", "ww"], random=MATERNAL,
                    variances={"animal": G_AA, "dam": G_MM, "residual": R_2}),
        has_pedigree=True,
    )
    variances = {"animal": G_AA, "dam": G_MM, "animal.dam": G_AM, "residual": R_2}
    return spec, variances


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
    spec = changes.pop("spec", None) or model_spec()
    arguments = {
        "model_name": "wwg_blup",
        "spec": spec,
        "record": changes.pop("record", None) or given_record(spec),
        "solutions": solutions_table(),
        "clean_summary": CLEAN_SUMMARY,
        "rejected": rejected_table(),
        "relationships_summary": RELATIONSHIPS,
        "inbreeding": inbreeding_table(),
        "pedigree": pedigree_table(),
        "trace": None,
        "top_n": 20,
    }
    arguments.update(changes)
    return render_report(**arguments)


class _Collector(HTMLParser):
    """Collects tags, image sources, link targets and text; fails on unbalanced block tags."""

    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "img", "br", "hr", "link", "input"})

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
        r"<caption>" + re.escape(caption_start) + r".*?</caption>(.*?)</table>", html, re.DOTALL
    )
    assert match, f"no table captioned {caption_start!r}"
    body = match.group(1).split("<tbody>")[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    cells = [re.findall(r"<td.*?>(.*?)</td>", row, re.DOTALL) for row in rows]
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


def test_top_animals_matches_sorted_oracle():
    # Oracle: Python's sorted on (-EBV, id); ties must come out by ID.
    sol = solutions_table()
    sol.loc[(sol["effect"] == "animal") & (sol["level"] == "6"), "estimate"] = 0.183  # tie with 8
    top = top_animals(sol, "animal", "wwg", 4)
    animal = sol[sol["effect"] == "animal"]
    expected = sorted(zip(animal["level"], animal["estimate"]), key=lambda p: (-p[1], p[0]))[:4]
    assert list(top["id"]) == [p[0] for p in expected] == ["6", "8", "1", "4"]
    np.testing.assert_allclose(top["ebv"], [p[1] for p in expected], atol=0)


def test_top_animals_with_ties_at_the_cut_match_the_sorted_oracle():
    # many animals, EBVs on a coarse grid so that ties straddle the n-th place, some missing
    rng = np.random.default_rng(11)
    levels = [f"A{k:04d}" for k in rng.permutation(3_000)]
    estimate = np.round(rng.normal(0, 1, 3_000), 1)
    estimate[::97] = np.nan
    sol = pd.DataFrame({"trait": "wwg", "effect": "animal", "level": levels, "estimate": estimate})
    finite = [(lvl, e) for lvl, e in zip(levels, estimate) if np.isfinite(e)]
    for n in (1, 7, 25, 3_000):
        expected = sorted(finite, key=lambda p: (-p[1], p[0]))[:n]
        top = top_animals(sol, "animal", "wwg", n)
        assert list(top["id"]) == [p[0] for p in expected]
        np.testing.assert_array_equal(top["ebv"], [p[1] for p in expected])


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
    # No external resources at all: every image is an embedded SVG, every link in-page.
    assert not re.search(r"https?://", html)
    assert "url(" not in html and "@import" not in html
    assert all(ref.startswith("#") for ref in doc.refs)
    assert len(doc.images) == 4  # F histogram, EBV, reliability, genetic trend
    for src in doc.images:
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert svg.startswith("<svg ") and svg.endswith("</svg>") and "href" not in svg
    assert f"henderson {__version__}" in html


def test_expected_numbers():
    html = default_html()
    text = " ".join(parse(html).text)
    assert "wwg = sex + animal + residual" in text
    assert "0.333" in text  # h² = 20 / 60
    ratios = table_rows(html, "Phenotypic variance and ratios")
    assert ratios == [["wwg", "60", "0.333"]]
    variances = table_rows(html, "Variances used")
    assert variances == [["animal", "additive", "20", "h² = 0.333"],
                         ["residual", "residual", "40", "—"],
                         ["σ²p (phenotypic)", "sum", "60", "—"]]
    assert "given in the config (estimate: none)" in text
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
    assert "F" not in re.search(r"<caption>Top 8.*?</thead>", html, re.DOTALL).group(0).split("<th")[1:]
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
    spec = model_spec(estimate="ai")
    record = fitted_record(spec, {"animal": 19.5, "residual": 40.5},
                           {"animal": 7.25, "residual": 6.5})
    trace = pd.DataFrame(
        {"iteration": [1, 2, 3, 4, 5, 6],
         "log_likelihood": [-14.0, -13.0, -12.5, -12.36, -12.346, -12.3456],
         "step": ["EM", "AI", "AI", "AI", "AI", "AI"],
         "animal": [10.0, 15.0, 18.0, 19.2, 19.48, 19.5],
         "residual": [50.0, 45.0, 42.0, 40.8, 40.52, 40.5]}
    )
    html = render(spec=spec, record=record, trace=trace)
    status = dict(tuple(r) for r in table_rows(html, "REML fit"))
    assert status == {"Method": "AI-REML", "Converged": "yes", "Iterations": "6",
                      "Restricted log-likelihood": "-12.3456", "Solver": "cholesky"}
    assert table_rows(html, "REML estimates") == [["animal", "19.5", "7.25"],
                                                   ["residual", "40.5", "6.5"]]
    # Oracle: h² = 19.5 / 60; delta method with Cov(θ) = diag(SE²):
    # SE² = (σ²e·SE_a)² / σ²p⁴ + (σ²a·SE_e)² / σ²p⁴.
    se_h2 = math.sqrt((40.5 * 7.25) ** 2 + (19.5 * 6.5) ** 2) / 60.0**2
    assert record.ratios["h2"]["se"] == pytest.approx(se_h2, rel=1e-12)
    assert table_rows(html, "Ratios") == [["h²", "0.325", fmt_fixed(se_h2, 3)]]
    assert table_rows(html, "Variances used")[0] == ["animal", "additive", "19.5", "7.25",
                                                     "h² = 0.325"]
    assert "estimated by AI-REML" in html
    assert "REML log-likelihood" in html
    assert len(parse(html).images) == 5
    assert "did not converge" not in html
    html = render(spec=spec, record=fitted_record(
        spec, {"animal": 19.5, "residual": 40.5}, {"animal": 7.25, "residual": 6.5},
        converged=False, boundary=("animal",), messages=("step halved <3 times>",)))
    assert "REML did not converge" in html
    assert "At the boundary of the parameter space" in html
    assert "step halved &lt;3 times&gt;" in html
    assert parse(html).errors == []


def test_ratios_are_the_records_not_recomputed():
    # A record whose h² disagrees with its components: the report shows the record's.
    spec = model_spec()
    content = given_components_json(VarianceComponents.from_named(spec.layout(), spec.variances))
    content["ratios"]["h2"] = {"estimate": 0.5, "se": None}
    html = render(record=as_read(spec.layout(), content))
    assert table_rows(html, "Phenotypic variance and ratios") == [["wwg", "60", "0.500"]]
    assert table_rows(html, "Variances used")[0][-1] == "h² = 0.500"


def test_record_of_another_model_is_an_error():
    record = given_record(model_spec())
    with pytest.raises(InputError, match="variance stage"):
        render(spec=model_spec(random=MATERNAL, variances={}, estimate="ai"), record=record)


def test_two_trait_solutions():
    g = [[20.0, 5.0], [5.0, 30.0]]
    r = [[40.0, 10.0], [10.0, 90.0]]
    spec = model_spec(traits=["wwg", "ywg"], variances={"animal": g, "residual": r}, estimate="ai")
    se = {"animal[wwg,wwg]": 2.0, "animal[wwg,ywg]": 1.5, "animal[ywg,ywg]": 3.0,
          "residual[wwg,wwg]": 4.0, "residual[wwg,ywg]": 2.5, "residual[ywg,ywg]": 6.0}
    record = fitted_record(spec, {"animal": g, "residual": r}, se)
    html = render(spec=spec, record=record, solutions=solutions_table(("wwg", "ywg")))
    doc = parse(html)
    assert doc.errors == []
    assert "[wwg, ywg] = sex + animal + residual" in html
    assert table_rows(html, "Phenotypic variance and ratios") == [
        ["wwg", "60", "0.333"], ["ywg", "120", "0.250"]]
    assert table_rows(html, "animal: covariance matrix") == [["wwg", "20", "5"],
                                                             ["ywg", "5", "30"]]
    # Genetic correlation 5 / sqrt(20 * 30) = 0.204, residual 10 / sqrt(40 * 90) = 0.167.
    assert table_rows(html, "animal: correlations") == [["wwg", "1.000", "0.204"],
                                                        ["ywg", "0.204", "1.000"]]
    assert table_rows(html, "residual: correlations")[0] == ["wwg", "1.000", "0.167"]
    # REML estimates by parameter (θ order), ratios labelled by trait and trait pair.
    assert table_rows(html, "REML estimates")[:3] == [
        ["animal[wwg,wwg]", "20", "2"], ["animal[ywg,ywg]", "30", "3"],
        ["animal[wwg,ywg]", "5", "1.5"]]
    ratios = {row[0]: row[1:] for row in table_rows(html, "Ratios")}
    for trait in ("wwg", "ywg"):
        entry = record.ratios["h2"][trait]
        assert ratios[f"h² ({trait})"] == [fmt_fixed(entry["estimate"]), fmt_fixed(entry["se"])]
    assert ratios["genetic correlation (wwg, ywg)"][0] == "0.204"
    assert ratios["residual correlation (wwg, ywg)"][0] == "0.167"
    # One top list per trait; ywg EBVs are the wwg ones negated, so animal 7 leads.
    assert table_rows(html, "Top 8 animals by EBV for wwg")[0][1] == "8"
    top_ywg = table_rows(html, "Top 8 animals by EBV for ywg")
    assert top_ywg[0][1:3] == ["7", "0.249"]
    assert top_ywg[0][5] == "-0.249"  # EBV wwg column
    fixed = table_rows(html, "Fixed-effect solutions")
    assert [r[0] for r in fixed] == ["wwg", "wwg", "ywg", "ywg"]
    # EBV, reliability and trend plots per trait, the F histogram and the REML trace (none).
    assert len(doc.images) == 7


def test_per_trait_fixed_effects_give_one_equation_per_trait():
    g = [[20.0, 5.0], [5.0, 30.0]]
    r = [[40.0, 10.0], [10.0, 90.0]]
    spec = model_spec(traits=["wwg", "ywg"], fixed={"wwg": ["sex"], "ywg": ["sex", "herd"]},
                      variances={"animal": g, "residual": r})
    html = render(spec=spec, solutions=solutions_table(("wwg", "ywg")))
    assert "wwg = sex + animal + residual" in html
    assert "ywg = sex + herd + animal + residual" in html
    assert "one solution (BLUE) per level (traits ywg)" in html


def test_large_fixed_table_is_summarised():
    """Small effects stay one full table; an effect with many levels gets a summary row (oracle:
    numpy on the same estimates) instead of 250 rows (details in test_report_quality.py)."""
    sol = solutions_table()
    herds = pd.DataFrame({"trait": "wwg", "effect": "herd", "level": [f"h{i}" for i in range(250)],
                          "estimate": np.arange(250, dtype=float), "se": 1.0,
                          "reliability": math.nan})
    html = render(solutions=pd.concat([sol, herds], ignore_index=True),
                  spec=model_spec(fixed=["sex", "herd"]))
    assert table_rows(html, "Fixed-effect solutions") == [["sex", "M", "4.358", "0.1"],
                                                          ["sex", "F", "3.404", "0.1"]]
    rows = table_rows(html, "Fixed effects with more than")
    assert rows == [["herd", "250", "0", "0", fmt_sig(np.median(np.arange(250.0))), "249", "1", "1"]]
    assert "h125" not in html  # a middle level: not listed


def test_maternal_model_report():
    spec = model_spec(random=MATERNAL,
                      variances={"animal": 20.0, "dam": 8.0, "animal.dam": -2.0, "residual": 40.0})
    sol = solutions_table()
    maternal = sol[sol["effect"] == "animal"].assign(effect="dam",
                                                     estimate=lambda f: f["estimate"] + 0.1)
    html = render(spec=spec, solutions=pd.concat([sol, maternal], ignore_index=True))
    ratios = table_rows(html, "Phenotypic variance and ratios")
    # Oracle (Willham 1963): σ²p = 20 + 8 - 2 + 40 = 66, h² = 20/66, m² = 8/66,
    # r_am = -2/sqrt(20·8).
    assert ratios == [["wwg", "66", "0.303", "0.121", "-0.158"]]
    assert table_rows(html, "Variances used") == [
        ["animal", "additive", "20", "h² = 0.303"],
        ["dam", "maternal", "8", "m² = 0.121"],
        ["animal.dam", "covariance", "-2", "r = -0.158"],
        ["residual", "residual", "40", "—"],
        ["σ²p (phenotypic)", "sum", "66", "—"],
    ]
    assert "Willham" in html
    assert "wwg = sex + animal + dam + residual" in html
    top = table_rows(html, "Top 8 animals")
    assert top[0][1] == "8" and top[0][5] == "0.283"  # maternal EBV column
    assert "<th class=\"num\">maternal EBV (dam)</th>" in html


def test_two_trait_maternal_model_report():
    spec, variances = maternal_two_trait()
    record = given_record(spec, variances, log_likelihood=-25.0)
    sol = solutions_table(("bw", "ww"))
    maternal = sol[sol["effect"] == "animal"].assign(effect="dam",
                                                     estimate=lambda f: f["estimate"] + 0.1)
    html = render(spec=spec, record=record, solutions=pd.concat([sol, maternal], ignore_index=True))
    doc = parse(html)
    assert doc.errors == []
    assert "[bw, ww] = sex + animal + dam + residual" in html
    # Oracle (Willham 1963, per trait): σ²p = σ²a + σ²m + σ_am + σ²e, the direct–maternal
    # covariance on the same trait: bw 20 + 8 - 2 + 40 = 66, ww 30 + 10 - 3 + 90 = 127.
    sp = [66.0, 127.0]
    expected = [
        [t, fmt_sig(sp[i]), fmt_fixed(G_AA[i][i] / sp[i]), fmt_fixed(G_MM[i][i] / sp[i]),
         fmt_fixed(G_AM[i][i] / math.sqrt(G_AA[i][i] * G_MM[i][i]))]
        for i, t in enumerate(("bw", "ww"))
    ]
    assert table_rows(html, "Phenotypic variance and ratios") == expected
    assert expected[0][1:] == ["66", "0.303", "0.121", "-0.158"]
    assert expected[1][1:] == ["127", "0.236", "0.079", "-0.173"]
    # Genetic correlation 5/sqrt(20·30); maternal 2/sqrt(8·10).
    assert table_rows(html, "animal: correlations") == [["bw", "1.000", "0.204"],
                                                        ["ww", "0.204", "1.000"]]
    assert table_rows(html, "dam: correlations")[0] == ["bw", "1.000", "0.224"]
    # Direct (rows) x maternal (columns): covariances as given, r = σ_am / sqrt(σ²a σ²m).
    assert table_rows(html, "animal.dam: covariance matrix") == [["bw", "-2", "1"],
                                                                 ["ww", "0.5", "-3"]]
    r_am = [[fmt_fixed(G_AM[i][j] / math.sqrt(G_AA[i][i] * G_MM[j][j])) for j in range(2)]
            for i in range(2)]
    assert table_rows(html, "animal.dam: correlations") == [["bw", *r_am[0]], ["ww", *r_am[1]]]
    assert "Restricted log-likelihood at these variances: -25.0000." in html
    assert "REML fit" not in html  # given variances: no REML section
    # Maternal EBVs per trait in the top lists.
    assert "<th class=\"num\">maternal EBV (dam) bw</th>" in html
    assert "<th class=\"num\">maternal EBV (dam) ww</th>" in html


def test_two_trait_maternal_reml_ratios_with_se():
    spec, variances = maternal_two_trait()
    se = {name: 0.5 for name in spec.layout().names}
    record = fitted_record(spec, variances, se)
    html = render(spec=spec, record=record, solutions=solutions_table(("bw", "ww")))
    assert parse(html).errors == []
    ratios = {row[0]: row[1:] for row in table_rows(html, "Ratios")}
    for key, label in (("h2", "h²"), ("dam_ratio", "m²")):
        for trait in ("bw", "ww"):
            entry = record.ratios[key][trait]
            assert ratios[f"{label} ({trait})"] == [fmt_fixed(entry["estimate"]),
                                                    fmt_fixed(entry["se"])]
    for a in ("bw", "ww"):
        for b in ("bw", "ww"):
            entry = record.ratios["r_animal_dam"][f"{a}.{b}"]
            assert ratios[f"r_am ({a}, {b})"] == [fmt_fixed(entry["estimate"]),
                                                  fmt_fixed(entry["se"])]
    assert ratios["genetic correlation (bw, ww)"][0] == "0.204"
    assert ratios["correlation dam (bw, ww)"][0] == "0.224"
    assert len(table_rows(html, "REML estimates")) == len(spec.layout().names) == 13


@pytest.mark.parametrize("kind", ["one-trait", "two-trait", "maternal", "two-trait maternal"])
def test_sigma_p_and_h2_are_the_components_values(kind):
    if kind == "one-trait":
        spec, variances = model_spec(), {"animal": 20.0, "residual": 40.0}
    elif kind == "two-trait":
        spec = model_spec(traits=["bw", "ww"], variances={"animal": G_AA, "residual": R_2})
        variances = {"animal": G_AA, "residual": R_2}
    elif kind == "maternal":
        variances = {"animal": 20.0, "dam": 8.0, "animal.dam": -2.0, "residual": 40.0}
        spec = model_spec(random=MATERNAL, variances=variances)
    else:
        spec, variances = maternal_two_trait()
    vc = VarianceComponents.from_named(spec.layout(), variances)
    ratios = vc.ratios()
    html = render(spec=spec, record=given_record(spec, variances),
                  solutions=solutions_table(spec.traits))
    rows = table_rows(html, "Phenotypic variance and ratios")
    assert [r[0] for r in rows] == list(spec.traits)
    for i, trait in enumerate(spec.traits):
        h2 = ratios["h2"] if not spec.multitrait else ratios["h2"][trait]
        assert rows[i][1] == fmt_sig(vc.phenotypic_variance()[i])
        assert rows[i][2] == fmt_fixed(h2["estimate"])
        if "dam_ratio" in ratios:
            m2 = ratios["dam_ratio"] if not spec.multitrait else ratios["dam_ratio"][trait]
            assert rows[i][3] == fmt_fixed(m2["estimate"])


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
    spec = model_spec(has_pedigree=False, random={"herd": "iid"},
                      variances={"herd": 10.0, "residual": 30.0})
    html = render(spec=spec,
                  solutions=pd.concat([sol, herds], ignore_index=True),
                  pedigree=None, inbreeding=None, relationships_summary=None)
    assert "This model has no additive genetic effect: no EBVs." in html
    assert table_rows(html, "Phenotypic variance and ratios") == [["wwg", "40", "0.250"]]
    assert table_rows(html, "Variances used")[0] == ["herd", "iid", "10", "herd/σ²p = 0.250"]
    assert table_rows(html, "Other random effects") == [["herd", "wwg", "2", "0.5", "-0.5", "0.5"]]
    assert parse(html).images == [] and parse(html).errors == []


def test_multitrait_reml_ratios_are_listed_per_trait_and_pair():
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
    g = [[2.0, 1.0], [1.0, 3.0]]
    r = [[4.0, 1.0], [1.0, 5.0]]
    spec = model_from_dict("mt", {"traits": ["a", "b"], "fixed": [], "random": {"animal": "additive"},
                                  "estimate": "ai"}, has_pedigree=True)
    se = {"animal[a,a]": 0.5, "animal[b,b]": 0.6, "animal[a,b]": 0.4,
          "residual[a,a]": 0.7, "residual[b,b]": 0.8, "residual[a,b]": 0.3}
    record = fitted_record(spec, {"animal": g, "residual": r}, se)
    html = render_report(
        model_name="mt", spec=spec, record=record, solutions=solutions, clean_summary={},
        rejected=pd.DataFrame(columns=["file", "line", "id", "model", "action", "reason", "detail"]),
        relationships_summary=None, inbreeding=None, pedigree=None,
    )
    assert "[a, b] = mean + animal + residual" in html
    ratios = {row[0]: row[1:] for row in table_rows(html, "Ratios")}
    assert set(ratios) == {"h² (a)", "h² (b)", "genetic correlation (a, b)",
                           "residual correlation (a, b)"}
    for trait in ("a", "b"):
        entry = record.ratios["h2"][trait]
        assert ratios[f"h² ({trait})"] == [fmt_fixed(entry["estimate"]), fmt_fixed(entry["se"])]
    # r_g = 1 / sqrt(2 · 3) = 0.408.
    assert ratios["genetic correlation (a, b)"][0] == "0.408"
    assert ratios["genetic correlation (a, b)"][1] == fmt_fixed(
        record.ratios["genetic_correlation"]["a.b"]["se"])


def test_banner_at_the_top_names_what_to_check_first():
    """A non-converged or non-identifiable fit, boundary estimates and the clean stage's warnings
    appear in one banner before the key figures (h², top animal); a clean run has no banner."""
    assert 'class="warning banner"' not in default_html()
    spec = model_spec(estimate="ai")
    record = fitted_record(spec, {"animal": 19.5, "residual": 40.5}, {"animal": 7.25, "residual": 6.5},
                           converged=False, boundary=("animal",))
    summary = {**CLEAN_SUMMARY, "warnings": ["384 animals have the sire 'UNKNOWN' <not in the pedigree>"],
               "models": {"wwg_blup": {**CLEAN_SUMMARY["models"]["wwg_blup"],
                                        "warnings": ["column wwg: 90 % of its values are not numbers"]}}}
    html = render(spec=spec, record=record, clean_summary=summary)
    start = html.index('class="warning banner"')
    assert start < html.index('class="cards"')
    block = html[start : html.index("</div>", start)]
    assert "REML did not converge" in block and "boundary" in block and "animal" in block
    assert "&#39;UNKNOWN&#39; &lt;not in the pedigree&gt;" in block or "'UNKNOWN' &lt;not in the pedigree&gt;" in block
    assert "90 % of its values are not numbers" in block
    assert parse(html).errors == []
