"""Figures as embedded PNGs: matplotlib's Agg renderer with a fixed style and no PNG metadata,
so equal data give equal bytes."""

from __future__ import annotations

import base64
import io

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PLOT_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.axisbelow": True,
}
BAR = "#3b6ea5"
LINE = "#b5482e"


def _new_figure(width: float = 6.0, height: float = 3.4) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def png_uri(fig: Figure) -> str:
    """Render with Agg to PNG (no metadata, so the bytes depend only on the drawing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bins(values: np.ndarray, limit: int = 50) -> np.ndarray | int:
    edges = np.histogram_bin_edges(values, bins="auto")
    return edges if len(edges) - 1 <= limit else limit


def histogram(
    values: np.ndarray, title: str, xlabel: str, value_range=None, bins=None, ylabel: str = "animals"
) -> str:
    """A histogram of ``values`` (y axis: counts of ``ylabel``) as a PNG data URI."""
    with matplotlib.style.context("default"), matplotlib.rc_context(PLOT_STYLE):
        fig = _new_figure()
        ax = fig.add_subplot()
        if bins is None:
            bins = _bins(values)
        ax.hist(values, bins=bins, range=value_range, color=BAR, edgecolor="white", linewidth=0.5)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
        return png_uri(fig)


def line_plot(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str) -> str:
    """A line with markers as a PNG data URI (integer x ticks when every x is whole)."""
    with matplotlib.style.context("default"), matplotlib.rc_context(PLOT_STYLE):
        fig = _new_figure()
        ax = fig.add_subplot()
        ax.plot(x, y, color=LINE, marker="o", markersize=3, linewidth=1.2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        if len(x) and np.allclose(x, np.round(x)):
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        return png_uri(fig)
