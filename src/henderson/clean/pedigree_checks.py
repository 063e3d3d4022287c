"""The consistency checks of a pedigree (on integer codes): an animal its own parent, an ID used as
sire and as dam or a self (unless the species is monoecious), a parent of the wrong sex, a parent
born after its offspring, a cycle, a missing-value code used as a parent. Each raises an
InputError naming the IDs and the file lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from henderson.clean.cells import _LIST_LIMIT, MISSING_VALUES, _isin, _q
from henderson.errors import InputError

_MONOECIOUS_HINT = "If this species is monoecious (plants, trees), set `sexes: monoecious` in the config."


@dataclass(frozen=True)
class _PedigreeRows:
    """Pedigree rows as integer codes: one code per distinct ID string (``names[code]``).

    ``sire``/``dam`` are codes, -1 for an unknown parent. ``year`` is float64 (NaN = missing),
    ``sex`` an object array (``None`` = missing) and ``sex_class`` int8 (1 male, 2 female, 0
    missing or another code); ``None`` when the column is absent.
    """

    lines: np.ndarray
    id: np.ndarray
    sire: np.ndarray
    dam: np.ndarray
    year: np.ndarray | None
    sex: np.ndarray | None
    sex_class: np.ndarray | None

    def take(self, rows: np.ndarray) -> _PedigreeRows:
        return _PedigreeRows(
            lines=self.lines[rows],
            id=self.id[rows],
            sire=self.sire[rows],
            dam=self.dam[rows],
            year=None if self.year is None else self.year[rows],
            sex=None if self.sex is None else self.sex[rows],
            sex_class=None if self.sex_class is None else self.sex_class[rows],
        )


def _check_own_parent(rows: _PedigreeRows, names: np.ndarray, source: str) -> None:
    own = np.flatnonzero((rows.sire == rows.id) | (rows.dam == rows.id))
    if len(own):
        shown = [f"{_q(names[rows.id[i]])} (line {rows.lines[i]})" for i in own[:_LIST_LIMIT]]
        more = f", ... ({len(own)} in all)" if len(own) > _LIST_LIMIT else ""
        raise InputError(
            f"{source}: animal(s) recorded as their own parent: {', '.join(shown)}{more}. "
            "Correct the sire/dam or set it to the unknown-parent code."
        )


def _unknown_code_hint(codes: np.ndarray, likely: dict[int, int], names: np.ndarray) -> str:
    """For the parent `codes` of an error that are likely unknown-parent codes (`likely`: code ->
    offspring), the sentence that says so and what to do; empty when none is."""
    found = [int(c) for c in dict.fromkeys(codes.tolist()) if int(c) in likely]
    if not found:
        return ""
    listed = ", ".join(f"{_q(names[c])} ({likely[c]} offspring)" for c in found[:_LIST_LIMIT])
    return (f" Without a row in the pedigree and with far more offspring than other parents: {listed}; "
            "where such a code marks an unknown parent, add it to `unknown_parent` in the config.")


def _check_sire_and_dam(rows: _PedigreeRows, names: np.ndarray, source: str, likely: dict[int, int]) -> None:
    as_sire = np.zeros(len(names), dtype=bool)
    as_dam = np.zeros(len(names), dtype=bool)
    as_sire[rows.sire[rows.sire >= 0]] = True
    as_dam[rows.dam[rows.dam >= 0]] = True
    both = np.flatnonzero(as_sire & as_dam)
    if len(both):
        shown = []
        for code in both[:_LIST_LIMIT]:
            sire_line = rows.lines[np.argmax(rows.sire == code)]
            dam_line = rows.lines[np.argmax(rows.dam == code)]
            shown.append(f"{_q(names[code])} (sire on line {sire_line}, dam on line {dam_line})")
        more = f", ... ({len(both)} IDs in all)" if len(both) > _LIST_LIMIT else ""
        hint = _unknown_code_hint(both, likely, names)
        raise InputError(
            f"{source}: ID(s) used both as sire and as dam: {'; '.join(shown)}{more}.{hint} "
            f"An animal has one sex; correct the parent IDs. {_MONOECIOUS_HINT}"
        )


def _check_selfing(rows: _PedigreeRows, names: np.ndarray, source: str, likely: dict[int, int]) -> None:
    """An animal with the same sire and dam (selfing), which separate sexes rule out."""
    selfed = np.flatnonzero((rows.sire >= 0) & (rows.sire == rows.dam))
    if len(selfed):
        shown = [
            f"{_q(names[rows.id[i]])} (line {rows.lines[i]}, sire and dam {_q(names[rows.sire[i]])})"
            for i in selfed[:_LIST_LIMIT]
        ]
        more = f", ... ({len(selfed)} in all)" if len(selfed) > _LIST_LIMIT else ""
        hint = _unknown_code_hint(rows.sire[selfed], likely, names)
        raise InputError(
            f"{source}: animal(s) with the same sire and dam (selfing): {', '.join(shown)}{more}.{hint} "
            f"Correct the sire or the dam. {_MONOECIOUS_HINT}"
        )


def _check_parent_sex(
    rows: _PedigreeRows,
    names: np.ndarray,
    sire_pos: np.ndarray,
    dam_pos: np.ndarray,
    source: str,
    column: str = "sex",
) -> None:
    """A sire recorded as female, or a dam as male (by the sex codes)."""
    problems = []
    for pos, role, wrong in ((sire_pos, "sire", 2), (dam_pos, "dam", 1)):
        child = np.flatnonzero(pos >= 0)
        child = child[rows.sex_class[pos[child]] == wrong]
        for c in child[:_LIST_LIMIT]:
            p = pos[c]
            problems.append(
                f"{_q(names[rows.id[p]])} has sex {_q(rows.sex[p])} (line {rows.lines[p]}) but is "
                f"the {role} of {_q(names[rows.id[c]])} (line {rows.lines[c]})"
            )
        if len(child) > _LIST_LIMIT:
            problems.append(f"... ({len(child)} such {role} records in all)")
    if problems:
        raise InputError(
            f"{source}: parent sex contradicts the {column} column: {'; '.join(problems)}. "
            "Correct the sex or the parent ID (or `sex_codes` in the config)."
        )


def _check_birth_order(
    rows: _PedigreeRows, names: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """A parent born in a later year than its offspring (same year is allowed)."""
    year = rows.year
    problems = []
    count = 0
    for pos, role in ((sire_pos, "sire"), (dam_pos, "dam")):
        child = np.flatnonzero(pos >= 0)
        with np.errstate(invalid="ignore"):
            child = child[year[pos[child]] > year[child]]
        count += len(child)
        for c in child[: _LIST_LIMIT - len(problems)]:
            p = pos[c]
            problems.append(
                f"{_q(names[rows.id[c]])} (born {int(year[c])}, line {rows.lines[c]}) has {role} "
                f"{_q(names[rows.id[p]])} born {int(year[p])} (line {rows.lines[p]})"
            )
    if problems:
        more = f"; ... ({count} in all)" if count > len(problems) else ""
        raise InputError(
            f"{source}: parent(s) born after their offspring: {'; '.join(problems)}{more}. "
            "Correct the birth years or the parent IDs."
        )


# Generations peeled by `_peels_off` before the compiled search decides (bounds its cost to a few
# passes over the pedigree when it is deeper, or has a loop).
PEEL_GENERATIONS = 64


def _peels_off(sire_pos: np.ndarray, dam_pos: np.ndarray) -> bool:
    """True when the pedigree has no loop, shown by removing it generation by generation: first
    the animals without known parents, then those whose known parents are removed, and so on
    (positions, -1 = unknown). False when animals are left after PEEL_GENERATIONS generations:
    a loop, or a deeper pedigree. Vectorised numpy, so a clean pedigree does not load the
    compiled pedigree kernels (numba) for the check."""
    n = sire_pos.size
    removed = np.zeros(n + 1, dtype=bool)
    removed[n] = True  # an unknown parent (-1) reads position n
    sire = np.where(sire_pos >= 0, sire_pos, n)
    dam = np.where(dam_pos >= 0, dam_pos, n)
    left = np.arange(n)
    for _ in range(PEEL_GENERATIONS):
        if not left.size:
            return True
        ready = removed[sire[left]] & removed[dam[left]]
        if not ready.any():
            return False
        removed[left[ready]] = True
        left = left[~ready]
    return not left.size


def _check_cycles(
    rows: _PedigreeRows, names: np.ndarray, sire_pos: np.ndarray, dam_pos: np.ndarray, source: str
) -> None:
    """An animal that is its own ancestor; the message prints the loop, child -> parent."""
    if _peels_off(sire_pos, dam_pos):
        return
    from henderson.pedigree import find_cycle  # imported late: pedigree builds on clean

    loop = find_cycle(sire_pos, dam_pos)
    if loop is None:
        return
    path = " -> ".join(str(names[rows.id[i]]) for i in [*loop, loop[0]])
    at = ", ".join(f"{_q(names[rows.id[i]])} line {rows.lines[i]}" for i in loop[:_LIST_LIMIT])
    raise InputError(
        f"{source}: the pedigree has a cycle: {path} (each animal followed by one of its "
        f"parents; {at}). An animal cannot be its own ancestor: fix the parent of one of them."
    )


def _check_missing_code_parents(
    rows: _PedigreeRows, names: np.ndarray, added_parents: np.ndarray, source: str
) -> None:
    """A parent without a row whose ID is a missing-value code ("NA", ".") is almost surely an
    unknown parent that ``unknown_parent`` does not list; adding it as an animal would give
    all its "offspring" a common parent."""
    suspect = added_parents[_isin(names[added_parents], MISSING_VALUES)]
    if len(suspect):
        shown = []
        for code in suspect[:_LIST_LIMIT]:
            first = np.flatnonzero((rows.sire == code) | (rows.dam == code))
            shown.append(f"{_q(names[code])} (first on line {rows.lines[first[0]]}, "
                         f"{len(first)} rows)")
        raise InputError(
            f"{source}: parent ID(s) {', '.join(shown)} look like missing-value codes but are "
            "not unknown-parent codes. Add them to unknown_parent in the config, or give the "
            "parent a row of its own if it is a real animal."
        )
