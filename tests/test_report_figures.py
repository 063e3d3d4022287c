"""The report's SVG figures: what they draw is what the data say.

Checked through the public functions: the SVG is well-formed; the bars of a histogram stand on
numpy's counts over the same bins (heights proportional to the counts to the pixel rounding);
ticks are nice steps inside the axis range, labelled exactly; the points of a line plot keep
their order and relative positions; user text is escaped; equal data give equal bytes.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from henderson.report.figures import (
    decimals,
    histogram,
    histogram_counts,
    line_plot,
    nice_step,
    tick_label,
    ticks,
)

SVG = "{http://www.w3.org/2000/svg}"


def svg(uri: str) -> ET.Element:
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    return ET.fromstring(base64.b64decode(uri[len(prefix):]).decode("utf-8"))


def bars(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of the bars (rects other than the white background)."""
    return [tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))
            for r in root.iter(f"{SVG}rect") if r.get("x") is not None]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_nice_steps_and_labels():
    assert nice_step(10.0, 5) == 2.0
    assert nice_step(1.0, 4) == 0.25
    assert nice_step(7.0, 6) == 2.0 and nice_step(7.0, 6, integer=True) == 2.0
    assert nice_step(3.0, 6, integer=True) == 1.0  # not 0.5
    assert nice_step(0.01, 6, integer=True) == 1.0  # whole steps, however short the span
    assert nice_step(0.003, 6) == pytest.approx(0.0005)
    assert nice_step(12_345.0, 6) == 2500.0
    for span in np.geomspace(1e-6, 1e7, 200):
        step = nice_step(span, 6)
        mantissa = step / 10 ** np.floor(np.log10(step) + 1e-12)
        assert step * 6 >= span * (1 - 1e-12)
        assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-9
    assert list(ticks(-0.3, 1.1, 0.5)) == [0.0, 0.5, 1.0]
    assert list(ticks(0.0, 1.0, 0.25)) == [0.0, 0.25, 0.5, 0.75, 1.0]  # both ends
    assert decimals(0.25) == 2 and decimals(5.0) == 0 and decimals(2.5) == 1 and decimals(0.0005) == 4
    assert tick_label(-1.5, 1) == "\u22121.5"
    assert tick_label(-0.0000001, 2) == "0.00"  # no −0
    assert tick_label(2015.0, 0) == "2015"  # years without separators


def test_histogram_bars_are_numpys_counts():
    rng = np.random.default_rng(3)
    values = rng.normal(10.0, 3.0, 5_000)
    counts, edges = np.histogram(values, bins=np.histogram_bin_edges(values, bins="auto"))
    got_counts, got_edges = histogram_counts(values)
    np.testing.assert_array_equal(got_counts, counts)
    np.testing.assert_array_equal(got_edges, edges)
    root = svg(histogram(values, "EBV, wwg", "EBV (kg)"))
    drawn = bars(root)
    nonzero = counts[counts > 0]
    assert len(drawn) == nonzero.size
    heights = np.array([b[3] for b in drawn])
    # heights ∝ counts (coordinates carry one decimal: 0.1 px)
    scale = heights.max() / nonzero.max()
    np.testing.assert_allclose(heights, nonzero * scale, atol=0.11)
    # bars side by side from left to right, equal widths for equal bins
    xs = np.array([b[0] for b in drawn])
    assert np.all(np.diff(xs) > 0)
    widths = np.array([b[2] for b in drawn])
    np.testing.assert_allclose(widths, widths[0], atol=0.11)
    assert "EBV, wwg" in texts(root) and "EBV (kg)" in texts(root) and "animals" in texts(root)


def test_histogram_range_bins_and_non_finite_values():
    values = np.array([0.1, 0.12, 0.5, 0.55, 0.56, 0.99, np.nan, np.inf, 1.5])
    counts, edges = histogram_counts(values, value_range=(0.0, 1.0), bins=20)
    assert counts.sum() == 6  # NaN, inf and the value outside the range are not counted
    np.testing.assert_allclose(edges, np.linspace(0, 1, 21))
    root = svg(histogram(values, "Reliability", "reliability", value_range=(0.0, 1.0), bins=20))
    assert len(bars(root)) == np.count_nonzero(counts)
    labels = texts(root)
    assert "0.0" in labels and "1.0" in labels  # the x axis spans the whole range


def test_histogram_y_ticks_are_whole_counts_from_zero():
    root = svg(histogram(np.array([1.0, 2.0, 2.0, 3.0]), "t", "x", ylabel="levels"))
    labels = texts(root)
    assert "0" in labels and "levels" in labels
    y_labels = [t for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert all(float(t.text) == int(float(t.text)) for t in y_labels)
    assert len(y_labels) >= 2


def test_constant_and_empty_values_still_draw():
    root = svg(histogram(np.full(10, 3.0), "t", "x"))
    assert len(bars(root)) == 1
    root = svg(histogram(np.array([]), "t", "x"))
    assert bars(root) == []
    root = svg(line_plot(np.array([1.0]), np.array([-5.0]), "t", "x", "y"))
    assert len(list(root.iter(f"{SVG}circle"))) == 1


def test_line_plot_points():
    x = np.arange(2010, 2021, dtype=float)
    y = -3.0 + 0.37 * (x - 2010) ** 1.3
    root = svg(line_plot(x, y, "Genetic trend, wwg", "birth year", "mean EBV"))
    circles = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]
    assert len(circles) == x.size
    cx, cy = np.array(circles).T
    # canvas x is affine in x, canvas y affine and decreasing in y (to the 0.1-px rounding)
    np.testing.assert_allclose(np.diff(cx), np.diff(cx)[0], atol=0.11)
    slope = (cy[-1] - cy[0]) / (y[-1] - y[0])
    assert slope < 0
    np.testing.assert_allclose(cy, cy[0] + slope * (y - y[0]), atol=0.15)
    x_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert "2010" in x_labels and "2020" in x_labels
    assert not any("." in t for t in x_labels if t and t[0].isdigit())  # whole years


def test_text_is_escaped_and_output_deterministic():
    values = np.linspace(0, 1, 50)
    title = 'Growth & <weight> "kg"'
    one = histogram(values, title, "x")
    assert one == histogram(values.copy(), title, "x")
    assert title in texts(svg(one))  # parsed back unchanged, so it was escaped on the way
    plot = line_plot(np.array([1.0, 2.0, 3.0]), np.array([-100.5, -90.25, -90.2]), "REML", "it", "logL")
    assert plot == line_plot(np.array([1.0, 2.0, 3.0]), np.array([-100.5, -90.25, -90.2]), "REML", "it", "logL")
    assert any(t.startswith("\u2212") for t in texts(svg(plot)))
