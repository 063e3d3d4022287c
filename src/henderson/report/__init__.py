"""The per-model HTML report: tables, figures and one self-contained HTML document.

The report is what a breed association hands to people, so it opens offline: figures are SVG
drawn by :mod:`.figures` and embedded as ``data:`` URIs, the CSS is inline, and the document has no
scripts and no links to other resources. Every user-provided string (IDs, levels, file names,
reasons) goes through Jinja2's autoescaping. The output is deterministic: the same inputs give the
same bytes (figures with fixed number formats; stable sort orders); the run date reaches the report
only as an argument (:class:`RunInfo`, collected by the rule script with :func:`collect_run_info`).

The report renders typed records: the model as a :class:`henderson.config.ModelSpec` and its
variance components as a :class:`henderson.reml.ComponentsRecord`. σ²p, ratios, correlations and
their standard errors are taken from the record, never derived again.

Modules: :mod:`.render` (:func:`render_report`, :func:`write_report`), :mod:`.format` (number
formatting, :class:`Table`, :class:`Plot`), :mod:`.frames` (input tables, :func:`top_animals`,
:func:`genetic_trend`), :mod:`.qc` (data-quality numbers), :mod:`.runinfo` (run date, input
checksums, package versions), :mod:`.figures` (plots) and :mod:`.sections` (one module per
group of report sections). The template is the package data file ``templates/report.html``.
"""

from henderson.report.format import DASH, Plot, Table, fmt_count, fmt_fixed, fmt_sig
from henderson.report.frames import genetic_trend, top_animals
from henderson.report.render import render_report, write_report
from henderson.report.runinfo import RunInfo, collect_run_info

__all__ = [
    "DASH",
    "Plot",
    "RunInfo",
    "Table",
    "collect_run_info",
    "fmt_count",
    "fmt_fixed",
    "fmt_sig",
    "genetic_trend",
    "render_report",
    "top_animals",
    "write_report",
]
