"""Figures as embedded SVG: histograms and line plots drawn as SVG elements by this module.

The report needs two kinds of plot, a histogram and a line with markers. Drawn here as vector
graphics they stay sharp at any zoom and in print, their text is text, and making one costs
milliseconds (a plotting library's import and layout took about a second of every report).
Coordinates are written with one decimal and labels with a fixed format, so equal data give
equal bytes. Every text passes through XML escaping (titles carry user-given trait and effect
names).

Layout, in pixels of a 600 × 340 canvas: a title line on top, the x tick labels and the x label
below the plot area, the rotated y label and the y tick labels to its left, the left margin
sized to the widest y tick label (estimated from a character width; no font metrics are read).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np

WIDTH, HEIGHT = 600, 340
FONT = 12  # px, tick and axis labels
TITLE_FONT = 14
CHAR = 0.62 * FONT  # estimated width of a digit or letter, px
BAR = "#3b6ea5"
LINE = "#b5482e"
GRID = "#dcdcdc"
AXIS = "#333333"
MINUS = "\u2212"
_MANTISSAS = (1.0, 2.0, 2.5, 5.0, 10.0)


# ------------------------------------------------------------------------------------------
# Ticks
# ------------------------------------------------------------------------------------------
def nice_step(span: float, target: int, *, integer: bool = False) -> float:
    """The smallest step m · 10^e (m ∈ {1, 2, 2.5, 5}) that divides `span` into at most `target`
    intervals; with `integer` only whole steps (≥ 1)."""
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    if integer and raw <= 1:
        return 1.0
    exponent = math.floor(math.log10(raw))
    for e in (exponent - 1, exponent, exponent + 1):
        for m in _MANTISSAS:
            step = m * 10.0**e
            if step >= raw * (1 - 1e-12) and (not integer or (step >= 1 and step == round(step))):
                return step
    return 10.0 ** (exponent + 2)


def ticks(lo: float, hi: float, step: float) -> np.ndarray:
    """The multiples of `step` in [lo, hi] (ends included up to rounding)."""
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return np.arange(first, last + 1, dtype=float) * step


def decimals(step: float) -> int:
    """The fewest decimals that write every multiple of `step` exactly (step 0.25 → 2, 5 → 0)."""
    for d in range(13):
        if abs(round(step, d) - step) <= 1e-9 * step:
            return d
    return 12


def tick_label(value: float, places: int) -> str:
    """`value` with `places` decimals (no thousands separators: years are values too); a true
    minus sign; no −0."""
    text = f"{value:.{places}f}"
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def _axis_ticks(lo: float, hi: float, target: int, room: float | None, *, integer: bool = False
                ) -> tuple[np.ndarray, list[str]]:
    """Ticks and labels in [lo, hi]: the finest nice step with at most `target` intervals whose
    labels, side by side, fill at most 70 % of `room` pixels (None: no width limit)."""
    step = nice_step(hi - lo, target, integer=integer)
    while True:
        values = ticks(lo, hi, step)
        labels = [tick_label(v, decimals(step)) for v in values]
        if room is None or len(values) <= 2 or sum(len(s) for s in labels) * CHAR <= 0.7 * room:
            return values, labels
        step = nice_step(2.0 * step, 1, integer=integer)


# ------------------------------------------------------------------------------------------
# The canvas
# ------------------------------------------------------------------------------------------
def _num(x: float) -> str:
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


class _Axes:
    """A plot area mapping data [x0, x1] × [y0, y1] onto the canvas, with its SVG elements."""

    def __init__(self, title: str, xlabel: str, ylabel: str, x: tuple[float, float],
                 y: tuple[float, float], *, x_integer: bool = False, y_integer: bool = False):
        self.x0, self.x1 = _widen(*x)
        self.y0, self.y1 = _widen(*y)
        self.yticks, ylabels = _axis_ticks(self.y0, self.y1, 6, None, integer=y_integer)
        label_width = max((len(s) for s in ylabels), default=1) * CHAR
        self.left = 8 + FONT + 10 + label_width + 6
        self.right = WIDTH - 16
        self.top = 12 + TITLE_FONT + 12
        self.bottom = HEIGHT - (8 + FONT + 10 + FONT + 8)
        self.xticks, xlabels = _axis_ticks(self.x0, self.x1, 8, self.right - self.left, integer=x_integer)
        self.items: list[str] = []
        self.items += [_line(self.left, self.sy(v), self.right, self.sy(v), GRID) for v in self.yticks]
        self.items += [_line(self.sx(v), self.top, self.sx(v), self.bottom, GRID) for v in self.xticks]
        self.labels = [
            _text(WIDTH / 2, 12 + TITLE_FONT, title, TITLE_FONT, anchor="middle"),
            _text((self.left + self.right) / 2, HEIGHT - 10, xlabel, FONT, anchor="middle"),
            _text(8 + FONT, (self.top + self.bottom) / 2, ylabel, FONT, anchor="middle", rotate=True),
        ]
        for value, label in zip(self.yticks, ylabels):
            self.labels.append(_line(self.left - 4, self.sy(value), self.left, self.sy(value), AXIS))
            self.labels.append(_text(self.left - 6, self.sy(value) + FONT * 0.35, label, FONT, anchor="end"))
        for value, label in zip(self.xticks, xlabels):
            self.labels.append(_line(self.sx(value), self.bottom, self.sx(value), self.bottom + 4, AXIS))
            self.labels.append(_text(self.sx(value), self.bottom + 6 + FONT, label, FONT, anchor="middle"))
        self.labels.append(_line(self.left, self.top, self.left, self.bottom, AXIS))
        self.labels.append(_line(self.left, self.bottom, self.right, self.bottom, AXIS))

    def sx(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def sy(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def uri(self) -> str:
        """The figure as a ``data:image/svg+xml;base64,...`` URI."""
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">')
        svg = "\n".join([
            head,
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
            *self.items,
            *self.labels,
            "</svg>",
        ])
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _widen(lo: float, hi: float) -> tuple[float, float]:
    """A non-empty finite interval containing [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi > lo:
        return lo, hi
    pad = 0.5 if lo == 0 else abs(lo) * 0.05
    return lo - pad, hi + pad


def _line(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return (f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" '
            f'stroke="{colour}" stroke-width="1"/>')


def _text(x: float, y: float, text: str, size: int, *, anchor: str, rotate: bool = False) -> str:
    turn = f' transform="rotate(-90 {_num(x)} {_num(y)})"' if rotate else ""
    return (f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{AXIS}"{turn}>{escape(text)}</text>')


# ------------------------------------------------------------------------------------------
# The plots
# ------------------------------------------------------------------------------------------
def _bins(values: np.ndarray, limit: int = 50) -> np.ndarray | int:
    edges = np.histogram_bin_edges(values, bins="auto")
    return edges if len(edges) - 1 <= limit else limit


def histogram_counts(values: np.ndarray, value_range: tuple[float, float] | None = None,
                     bins: int | Sequence[float] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) that :func:`histogram` draws: the finite `values` in `bins` (default
    numpy's "auto" rule, at most 50 bins) over `value_range` (default their range)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if bins is None:
        bins = _bins(finite) if finite.size else 10
    return np.histogram(finite, bins=bins, range=value_range)


def histogram(
    values: np.ndarray, title: str, xlabel: str, value_range=None, bins=None, ylabel: str = "animals"
) -> str:
    """A histogram of the finite ``values`` (y axis: counts of ``ylabel``) as an SVG data URI."""
    counts, edges = histogram_counts(values, value_range, bins)
    top = float(counts.max()) if counts.size else 0.0
    step = nice_step(max(top, 1.0), 6, integer=True)
    axes = _Axes(title, xlabel, ylabel, (float(edges[0]), float(edges[-1])),
                 (0.0, math.ceil(max(top, 1.0) * 1.04 / step) * step), y_integer=True)  # headroom
    for count, lo, hi in zip(counts, edges[:-1], edges[1:]):
        if count == 0:
            continue
        x, y = axes.sx(lo), axes.sy(count)
        axes.items.append(
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(axes.sx(hi) - x)}" '
            f'height="{_num(axes.bottom - y)}" fill="{BAR}" stroke="#ffffff" stroke-width="0.5"/>'
        )
    return axes.uri()


def line_plot(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str) -> str:
    """A line with markers through the finite points (x, y) as an SVG data URI (whole-number x
    ticks when every x is whole; both axes padded by 5 % of their range)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not x.size:
        x, y = np.zeros(1), np.zeros(1)
    whole = bool(np.all(x == np.round(x)))
    (x0, x1), (y0, y1) = _widen(float(x.min()), float(x.max())), _widen(float(y.min()), float(y.max()))
    pad_x, pad_y = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
    axes = _Axes(title, xlabel, ylabel, (x0 - pad_x, x1 + pad_x), (y0 - pad_y, y1 + pad_y), x_integer=whole)
    points = " ".join(f"{_num(axes.sx(a))},{_num(axes.sy(b))}" for a, b in zip(x, y))
    axes.items.append(f'<polyline points="{points}" fill="none" stroke="{LINE}" stroke-width="1.6"/>')
    axes.items += [f'<circle cx="{_num(axes.sx(a))}" cy="{_num(axes.sy(b))}" r="2.6" fill="{LINE}"/>'
                   for a, b in zip(x, y)]
    return axes.uri()
