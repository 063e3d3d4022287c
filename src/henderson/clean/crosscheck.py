"""Phenotype records against the cleaned pedigree: the dam of a maternal effect and the sex of an
animal, where both files give them.

Neither file is corrected: the pedigree is what the relationship matrix (A⁻¹) and the pedigree
checks use, and a model uses the phenotype file's columns as they are (the maternal effect of a
record is the dam in its dam column). A disagreement is reported as a warning with its counts
and first cases, so that the user fixes whichever file is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from henderson.clean.cells import _index, _q, _quote_list
from henderson.clean.pedigree import sex_classes
from henderson.clean.phenotypes import LINE_COLUMN

_SHOWN = 5
"""Cases quoted per kind of disagreement."""


def _pedigree_values(pedigree: pd.DataFrame, ids: np.ndarray, column: str) -> np.ndarray:
    """The pedigree's ``column`` for each of ``ids`` (object array; ``None`` where unknown)."""
    at = _index(pedigree["id"].astype(str)).get_indexer(ids)
    values = np.full(len(ids), None, dtype=object)
    found = at >= 0
    values[found] = pedigree[column].to_numpy(dtype=object)[at[found]]
    values[pd.isna(values)] = None
    return values


def compare_dams(
    table: pd.DataFrame,
    pedigree: pd.DataFrame,
    *,
    id_column: str,
    column: str,
    unknown_parent: Sequence[str],
    source: str,
    pedigree_source: str,
    what: str,
) -> tuple[dict[str, int], str | None]:
    """Rows of the cleaned phenotype ``table`` whose dam in ``column`` disagrees with the dam of
    the same animal in the cleaned ``pedigree`` (columns ``id``, ``dam``).

    A dam that is missing or an ``unknown_parent`` code is unknown. Returns the counts
    ``{"differ", "only_phenotypes", "only_pedigree"}`` (rows naming another dam, a dam where the
    pedigree has none, no dam where the pedigree has one) and a warning naming ``what`` (e.g. the
    model and effect), the counts, the animals and the first cases, or ``None``. Cost: one hash
    lookup of the n record IDs.
    """
    ids = table[id_column].astype(str).to_numpy(dtype=object)
    given = table[column].to_numpy(dtype=object).copy()
    unknown = pd.isna(given) | _index(given).isin([str(c) for c in unknown_parent])
    given[unknown] = None
    expected = _pedigree_values(pedigree, ids, "dam")
    known_here, known_there = ~unknown, pd.notna(expected)
    both = known_here & known_there
    kinds = {
        "differ": both & (given.astype(str) != expected.astype(str)),
        "only_phenotypes": known_here & ~known_there,
        "only_pedigree": ~known_here & known_there,
    }
    counts = {kind: int(mask.sum()) for kind, mask in kinds.items()}
    if not any(counts.values()):
        return counts, None
    lines = table[LINE_COLUMN].to_numpy(dtype=np.int64)

    def cases(mask: np.ndarray) -> str:
        return _quote_list(
            [
                f"{_q(ids[i])} line {lines[i]}: {_q(given[i]) if given[i] else 'none'} here, "
                f"{_q(expected[i]) if expected[i] else 'none'} in the pedigree"
                for i in np.flatnonzero(mask)
            ],
            limit=_SHOWN,
        )

    labels = {
        "differ": "name another dam than the pedigree",
        "only_phenotypes": "name a dam the pedigree does not give",
        "only_pedigree": "have no dam where the pedigree has one",
    }
    parts = [
        f"{counts[kind]} {labels[kind]} ({cases(mask)})"
        for kind, mask in kinds.items()
        if counts[kind]
    ]
    rows = np.logical_or.reduce(list(kinds.values()))
    animals = pd.unique(ids[rows])
    warning = (
        f"{source}: the dam column {_q(column)} ({what}) disagrees with the pedigree "
        f"{pedigree_source} on {int(rows.sum())} record(s) of {len(animals)} animal(s) "
        f"({_quote_list([_q(a) for a in animals], limit=_SHOWN)}): {'; '.join(parts)}. The "
        f"relationship matrix uses the pedigree; the maternal effect uses column {_q(column)} as "
        "given (a record without a dam there has no maternal effect). Correct whichever file is "
        "wrong."
    )
    return counts, warning


def compare_sexes(
    table: pd.DataFrame,
    pedigree: pd.DataFrame,
    *,
    id_column: str,
    column: str,
    sex_codes: Mapping[str, Sequence[str]] | None,
    source: str,
    pedigree_source: str,
) -> tuple[int, str | None]:
    """Rows of the cleaned phenotype ``table`` whose sex in ``column`` is male where the
    pedigree's ``sex`` of the animal is female, or the reverse (both read with ``sex_codes``;
    other codes are not compared). Returns the number of such rows and a warning with the
    number of animals and the first cases, or ``None``."""
    ids = table[id_column].astype(str).to_numpy(dtype=object)
    here = table[column].to_numpy(dtype=object)
    there = _pedigree_values(pedigree, ids, "sex")
    mine = sex_classes(pd.Series(here, dtype=object), sex_codes)
    theirs = sex_classes(pd.Series(there, dtype=object), sex_codes)
    differ = (mine > 0) & (theirs > 0) & (mine != theirs)
    if not differ.any():
        return 0, None
    lines = table[LINE_COLUMN].to_numpy(dtype=np.int64)
    animals = pd.unique(ids[differ])
    shown = _quote_list(
        [
            f"{_q(ids[i])} line {lines[i]}: {_q(here[i])} here, {_q(there[i])} in the pedigree"
            for i in np.flatnonzero(differ)
        ],
        limit=_SHOWN,
    )
    warning = (
        f"{source}: column {_q(column)} disagrees with the sex in the pedigree {pedigree_source} "
        f"on {int(differ.sum())} record(s) of {len(animals)} animal(s): {shown}. The pedigree's "
        "sex is used for the pedigree checks; a model with a sex effect uses the phenotype "
        "file's value. Correct whichever file is wrong."
    )
    return int(differ.sum()), warning
