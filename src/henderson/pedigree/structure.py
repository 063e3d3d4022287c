"""Sorted pedigrees: the `Pedigree` record, sorting parents before offspring with cycle detection,
generations and the pedigree summary."""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numba
import numpy as np
import pandas as pd

from henderson.errors import InputError

#: Values that stand for "no ID" / "unknown parent" in object arrays (pd.isna semantics).
_MISSING = np.array([None, np.nan, pd.NA], dtype=object)

#: How many offending IDs an error message lists before summarising the rest as a count.
_MAX_LISTED = 10


@dataclass(frozen=True, eq=False)
class Pedigree:
    """A sorted pedigree: every known parent comes before its offspring.

    Attributes:
        ids: shape (n,), dtype object (``str``), the animal IDs in pedigree order.
        sire: shape (n,), int64, position of the sire in ``ids``; -1 when unknown.
        dam: shape (n,), int64, position of the dam in ``ids``; -1 when unknown.

    Invariants (checked on construction): equal lengths and ``-1 <= sire[i] < i``,
    ``-1 <= dam[i] < i``. Build one from raw IDs with :func:`sort_pedigree`.
    """

    ids: np.ndarray
    sire: np.ndarray
    dam: np.ndarray

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=object)
        sire = np.ascontiguousarray(self.sire, dtype=np.int64)
        dam = np.ascontiguousarray(self.dam, dtype=np.int64)
        if ids.ndim != 1 or sire.shape != ids.shape or dam.shape != ids.shape:
            raise ValueError(
                f"Pedigree arrays must be 1-D of equal length; got ids {ids.shape}, "
                f"sire {sire.shape}, dam {dam.shape}."
            )
        position = np.arange(ids.size, dtype=np.int64)
        for name, parent in (("sire", sire), ("dam", dam)):
            bad = np.flatnonzero((parent < -1) | (parent >= position))
            if bad.size:
                raise ValueError(
                    f"Pedigree is not sorted: the {name} of animal {ids[bad[0]]!r} (position "
                    f"{bad[0]}) is at position {parent[bad[0]]}; use sort_pedigree()."
                )
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "sire", sire)
        object.__setattr__(self, "dam", dam)

    @property
    def n(self) -> int:
        """Number of animals."""
        return int(self.ids.size)

    @cached_property
    def _id_index(self) -> pd.Index:
        return pd.Index(self.ids, dtype=object)

    def index(self, ids: str | Sequence[str]) -> int | np.ndarray:
        """Position(s) of animal ID(s) in pedigree order.

        A single ``str`` gives an ``int``; a sequence gives an int64 array of the same length.
        Raises :class:`InputError` naming the IDs that are not in the pedigree.
        """
        single = isinstance(ids, str)
        wanted = np.asarray([ids] if single else list(ids), dtype=object)
        found = self._id_index.get_indexer(wanted).astype(np.int64)
        missing = wanted[found < 0]
        if missing.size:
            raise InputError(
                f"ID(s) not in the pedigree: {_list_ids(missing)}. Add them to the pedigree file "
                "or correct the IDs."
            )
        return int(found[0]) if single else found

    def to_frame(self) -> pd.DataFrame:
        """The pedigree as a table: columns ``id``, ``sire``, ``dam`` (IDs, ``None`` if unknown)."""
        with_none = np.append(self.ids, None)
        return pd.DataFrame(
            {
                "id": pd.Series(self.ids, dtype=object),
                "sire": pd.Series(with_none[self.sire], dtype=object),
                "dam": pd.Series(with_none[self.dam], dtype=object),
            }
        )


# --------------------------------------------------------------------------------------------
# Sorting and cycle detection
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _depths_or_cycle(sire: np.ndarray, dam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generation depth of every animal of an unsorted pedigree, or one loop of the parent graph.

    Iterative depth-first search along child -> parent edges with three colours (new, on the
    current path, finished). Returns ``(depth, loop)``: ``depth[i] = 0`` for founders, else
    ``1 + max(depth of known parents)``; ``loop`` is empty, or (when a parent is met that is on
    the current path) the positions ``c_0, ..., c_k`` with ``c_{j+1}`` a parent of ``c_j`` and
    ``c_0`` a parent of ``c_k``; ``depth`` is then incomplete. O(n) time and memory.
    """
    n = sire.size
    depth = np.full(n, -1, dtype=np.int64)
    colour = np.zeros(n, dtype=np.int8)  # 0 new, 1 on the current path, 2 finished
    stack = np.empty(n, dtype=np.int64)
    edge = np.empty(n, dtype=np.int8)  # next parent to visit for each stack entry: 0 sire, 1 dam
    where = np.empty(n, dtype=np.int64)  # stack position of each animal on the path
    for root in range(n):
        if colour[root] != 0:
            continue
        top = 0
        stack[0] = root
        edge[0] = 0
        colour[root] = 1
        where[root] = 0
        while top >= 0:
            v = stack[top]
            e = edge[top]
            if e < 2:
                edge[top] = e + 1
                p = sire[v] if e == 0 else dam[v]
                if p < 0 or colour[p] == 2:
                    continue
                if colour[p] == 1:
                    start = where[p]
                    return depth, stack[start : top + 1].copy()
                top += 1
                stack[top] = p
                edge[top] = 0
                colour[p] = 1
                where[p] = top
            else:
                d = 0
                s = sire[v]
                if s >= 0 and depth[s] + 1 > d:
                    d = depth[s] + 1
                s = dam[v]
                if s >= 0 and depth[s] + 1 > d:
                    d = depth[s] + 1
                depth[v] = d
                colour[v] = 2
                top -= 1
    return depth, np.empty(0, dtype=np.int64)


def find_cycle(sire: np.ndarray, dam: np.ndarray) -> list[int] | None:
    """Positions of one loop in the parent graph (edges child -> parent), or ``None``.

    ``sire``/``dam``: shape (n,), integer positions of the parents (-1 = unknown), in any order.
    The loop ``[c_0, ..., c_k]`` reads "c_1 is a parent of c_0, ..., c_0 is a parent of c_k" and
    is rotated to start at its smallest position, so the answer is deterministic. An animal that
    is its own parent is a loop of length one.
    """
    sire = np.ascontiguousarray(sire, dtype=np.int64)
    dam = np.ascontiguousarray(dam, dtype=np.int64)
    if sire.shape != dam.shape or sire.ndim != 1:
        raise ValueError(f"sire and dam must be 1-D of equal length; got {sire.shape}, {dam.shape}")
    n = sire.size
    for parent in (sire, dam):
        if parent.size and (parent.min() < -1 or parent.max() >= n):
            raise ValueError("parent positions must lie in [-1, n)")
    _, loop = _depths_or_cycle(sire, dam)
    if loop.size == 0:
        return None
    first = int(np.argmin(loop))
    return [int(x) for x in np.roll(loop, -first)]


def _as_object_array(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional; got shape {arr.shape}")
    return arr


def _list_ids(values: np.ndarray | Sequence[Any]) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:_MAX_LISTED])
    if len(values) > _MAX_LISTED:
        shown += f" and {len(values) - _MAX_LISTED} more"
    return shown


def sort_pedigree(
    ids: Sequence[str],
    sires: Sequence[str | None],
    dams: Sequence[str | None],
    *,
    source: str = "pedigree",
) -> Pedigree:
    """Order a pedigree so that parents come before offspring, and renumber the parents.

    Args:
        ids: shape (n,), unique animal IDs (``str``).
        sires, dams: shape (n,), the parents' IDs; ``None`` (or NaN/NA) for an unknown parent.
            Every known parent must itself be in ``ids``.
        source: the file name used in error messages.

    Returns:
        A :class:`Pedigree` ordered by generation depth (founders depth 0, else
        ``1 + max(depth of parents)``), keeping the input order within a depth: a stable sort,
        so the same input always gives the same order.

    Raises:
        InputError: a missing or duplicated ID, a parent ID that is not in ``ids``, an animal
            that is its own sire or dam, or a loop in the pedigree (the message prints it).

    Cost: O(n) hashing plus an O(n) depth-first search and an O(n log n) stable sort.
    """
    ids_arr = _as_object_array(ids, "ids")
    sire_arr = _as_object_array(sires, "sires")
    dam_arr = _as_object_array(dams, "dams")
    n = ids_arr.size
    if sire_arr.size != n or dam_arr.size != n:
        raise ValueError(
            f"ids, sires and dams must have equal lengths; got {n}, {sire_arr.size}, {dam_arr.size}"
        )

    index = pd.Index(ids_arr, dtype=object, copy=False)
    # hashing the IDs once serves the duplicate check, the missing-ID probe and the parent
    # lookup; a full pd.isna pass over scattered string objects would cost as much again
    if index.is_unique:  # a hash probe; get_indexer needs unique keys
        has_missing = bool(np.any(index.get_indexer(pd.Index(_MISSING, dtype=object)) >= 0))
    else:
        has_missing = bool(pd.isna(ids_arr).any())
    if has_missing:
        rows = np.flatnonzero(pd.isna(ids_arr))
        raise InputError(
            f"{source}: {rows.size} animal(s) have no ID (entries {_list_ids(rows + 1)}). "
            "Give every animal an ID."
        )
    if not index.is_unique:
        dupes = pd.unique(ids_arr[index.duplicated(keep="first")])
        raise InputError(
            f"{source}: duplicated animal ID(s): {_list_ids(dupes)}. Keep one row per animal."
        )
    # one lookup for both parent columns; an object-dtype target keeps pandas from inferring
    # (and converting to) its string dtype. Only entries not found are tested for "missing".
    both = np.concatenate([sire_arr, dam_arr])
    pos = index.get_indexer(pd.Index(both, dtype=object, copy=False)).astype(np.int64)
    unresolved = np.flatnonzero(pos < 0)
    unknown_parent: list[tuple[str, str, str]] = []
    for k in unresolved[~pd.isna(both[unresolved])]:
        role = "sire" if k < n else "dam"
        unknown_parent.append((role, str(both[k]), str(ids_arr[k % n])))
    if unknown_parent:
        shown = "; ".join(f"{r} {p} of animal {a}" for r, p, a in unknown_parent[:_MAX_LISTED])
        more = len(unknown_parent) - _MAX_LISTED
        raise InputError(
            f"{source}: {len(unknown_parent)} parent ID(s) are not animals of the pedigree ("
            f"{shown}{f' and {more} more' if more > 0 else ''}). Add the parents as rows with "
            "unknown parents, or mark the parent as unknown."
        )
    sire_pos, dam_pos = pos[:n], pos[n:]

    position = np.arange(n, dtype=np.int64)
    own = [
        f"animal {ids_arr[i]} is its own {role}"
        for role, parent in (("sire", sire_pos), ("dam", dam_pos))
        for i in np.flatnonzero(parent == position)
    ]
    if own:
        raise InputError(
            f"{source}: {_list_ids(own)}. Correct the parent of "
            f"{'this animal' if len(own) == 1 else 'these animals'} or set it to unknown."
        )

    depth, loop = _depths_or_cycle(sire_pos, dam_pos)
    if loop.size:
        first = int(np.argmin(loop))
        names = [str(ids_arr[i]) for i in np.roll(loop, -first)]
        path = " -> ".join([*names, names[0]])
        raise InputError(
            f"{source}: the pedigree has a cycle: {path} (an animal is its own ancestor). "
            "Fix the parent of one of these animals."
        )

    order = np.argsort(depth, kind="stable")
    new_pos = np.empty(n, dtype=np.int64)
    new_pos[order] = position
    with_unknown = np.append(new_pos, -1)  # index -1 maps an unknown parent to -1
    return Pedigree(
        ids=ids_arr[order],
        sire=with_unknown[sire_pos[order]],
        dam=with_unknown[dam_pos[order]],
    )


@numba.njit(cache=True)
def _generations_sorted(sire: np.ndarray, dam: np.ndarray) -> np.ndarray:
    n = sire.size
    gen = np.zeros(n, dtype=np.int64)
    for i in range(n):
        g = 0
        if sire[i] >= 0:
            g = gen[sire[i]] + 1
        if dam[i] >= 0 and gen[dam[i]] + 1 > g:
            g = gen[dam[i]] + 1
        gen[i] = g
    return gen


def generations(ped: Pedigree) -> np.ndarray:
    """Generation numbers, shape (n,), int64: 0 for founders, else 1 + max(parents' generation)."""
    return _generations_sorted(ped.sire, ped.dam)



def pedigree_summary(ped: Pedigree, F: np.ndarray) -> dict[str, Any]:
    """Counts and inbreeding statistics of a pedigree, as plain JSON-ready Python values.

    Keys: ``animals``; ``founders`` (both parents unknown); ``sires``/``dams`` (distinct parents);
    ``max_generation``; ``animals_per_generation`` (list, index = generation); ``inbred``
    (count with F > 0); ``mean_F``, ``max_F``; ``mean_F_inbred`` (mean F over inbred animals,
    0.0 when none is inbred); ``selfed`` (sire = dam).
    """
    F = np.asarray(F, dtype=np.float64)
    if F.shape != (ped.n,):
        raise ValueError(f"F must have shape ({ped.n},); got {F.shape}")
    gen = generations(ped)
    inbred = F > 0.0
    return {
        "animals": ped.n,
        "founders": int(np.count_nonzero((ped.sire < 0) & (ped.dam < 0))),
        "sires": int(np.unique(ped.sire[ped.sire >= 0]).size),
        "dams": int(np.unique(ped.dam[ped.dam >= 0]).size),
        "max_generation": int(gen.max(initial=0)),
        "animals_per_generation": [int(c) for c in np.bincount(gen, minlength=1 if ped.n else 0)],
        "inbred": int(np.count_nonzero(inbred)),
        "mean_F": float(F.mean()) if ped.n else 0.0,
        "max_F": float(F.max(initial=0.0)),
        "mean_F_inbred": float(F[inbred].mean()) if inbred.any() else 0.0,
        "selfed": int(np.count_nonzero((ped.sire >= 0) & (ped.sire == ped.dam))),
    }
