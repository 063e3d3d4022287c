"""The clean stage's summary over the pedigree and the phenotypes."""

from __future__ import annotations

from henderson.clean.pedigree import CleanedPedigree
from henderson.clean.phenotypes import CleanedPhenotypes
from henderson.clean.rejected import _count_reasons, combine_rejected


def clean_summary(pedigree: CleanedPedigree | None, phenotypes: CleanedPhenotypes) -> dict:
    """The clean stage's report: the pedigree and phenotype summaries, each model's counts, and
    rejections by reason over both files (a row rejected by two models counts twice)."""
    rejected = combine_rejected(
        pedigree.rejected if pedigree is not None else None, phenotypes.rejected
    )
    return {
        "pedigree": dict(pedigree.summary) if pedigree is not None else None,
        "phenotypes": {k: phenotypes.summary[k] for k in ("file", "rows", "kept")},
        "models": phenotypes.summary["models"],
        "rejected_by_reason": _count_reasons(rejected),
    }
