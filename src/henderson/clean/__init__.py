"""The clean stage: check and tidy the pedigree and the phenotype table before any numerics.

Cleaning never guesses:

* a fault that makes the data ambiguous (a missing animal ID in the pedigree, conflicting
  duplicate rows, an animal its own parent or ancestor, parents born after their offspring, ...)
  raises :class:`~henderson.errors.InputError` naming the file, the lines or IDs, and the fix;
* a record a model cannot use (a missing or non-numeric value) is dropped or, for one value of a
  multi-trait record, set missing, and is listed in a ``rejected`` table with its reason, so that
  nothing is lost silently.

IDs and class levels stay strings (``"00123"`` is not ``123``). Everything is vectorised over
rows; Python loops run only over columns, models or the few rows quoted in an error message.

Modules: `cells` (missing codes, string columns), `rejected` (the ``rejected`` tables),
`pedigree` (`clean_pedigree`), `phenotypes` (`clean_phenotypes`, `model_records`),
`crosscheck` (phenotype dams and sexes against the pedigree), `summary` (`clean_summary`).
"""

from henderson.clean.cells import MISSING_VALUES
from henderson.clean.pedigree import ORIGINS, CleanedPedigree, clean_pedigree
from henderson.clean.phenotypes import (
    LINE_COLUMN,
    MAGNITUDE_LIMIT,
    CleanedPhenotypes,
    check_model_columns,
    clean_phenotypes,
    model_records,
)
from henderson.clean.rejected import REJECTED_COLUMNS, combine_rejected
from henderson.clean.summary import clean_summary
from henderson.columns import (
    PEDIGREE_COLUMNS,
    PEDIGREE_OPTIONAL,
    PEDIGREE_REQUIRED,
    SEX_CODES,
    ModelColumns,
)

__all__ = [
    "LINE_COLUMN",
    "MAGNITUDE_LIMIT",
    "MISSING_VALUES",
    "ORIGINS",
    "PEDIGREE_COLUMNS",
    "PEDIGREE_OPTIONAL",
    "PEDIGREE_REQUIRED",
    "REJECTED_COLUMNS",
    "SEX_CODES",
    "CleanedPedigree",
    "CleanedPhenotypes",
    "ModelColumns",
    "check_model_columns",
    "clean_pedigree",
    "clean_phenotypes",
    "clean_summary",
    "combine_rejected",
    "model_records",
]
