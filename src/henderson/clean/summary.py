"""The clean stage's summary over the pedigree and the phenotypes."""

from __future__ import annotations

from henderson.clean.pedigree import CleanedPedigree
from henderson.clean.phenotypes import CleanedPhenotypes
from henderson.clean.rejected import _count_reasons, combine_rejected


def clean_summary(pedigree: CleanedPedigree | None, phenotypes: CleanedPhenotypes) -> dict:
    """The clean stage's report: the pedigree and phenotype summaries (with the count of
    non-numeric values of every trait and covariate column), each model's counts, rejections by
    reason over both files (a row rejected by two models counts twice), and the warnings of both
    (e.g. a phenotype column that lost values that are not numbers)."""
    rejected = combine_rejected(
        pedigree.rejected if pedigree is not None else None, phenotypes.rejected
    )
    summary = phenotypes.summary
    return {
        "pedigree": dict(pedigree.summary) if pedigree is not None else None,
        "phenotypes": {k: summary[k] for k in ("file", "rows", "kept", "columns") if k in summary},
        "models": summary["models"],
        "rejected_by_reason": _count_reasons(rejected),
        "warnings": [
            *(pedigree.summary.get("warnings", []) if pedigree is not None else []),
            *summary.get("warnings", []),
        ],
    }
