"""Unknown parent groups: the `groups:` config block and the assignment of every unknown parent
to a group, explicitly (group codes written in the sire/dam fields) or by rules (as BLUPF90's
UPG_TYPE: the animal's birth-year interval, the sex of the missing parent, a pedigree column such
as breed or origin), with a minimum group size and the merging of small groups.

The size of a group is the number of unknown parents it replaces (a founder with both parents
unknown counts twice: once per missing parent). With rules, a group below `min_size` is merged
into its nearest neighbour by birth year among the groups that agree on every other key (the
earlier one on a tie), smallest group first, until every group is large enough; a group with no
such neighbour (no `birth_year` key, or the only one of its kind) stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from henderson.errors import ConfigError, InputError
from henderson.pedigree.ainv_groups import GroupedPedigree
from henderson.pedigree.structure import sort_pedigree

log = logging.getLogger("henderson")

__all__ = ["GroupAssignment", "GroupsSpec", "assign_groups", "group_codes_as_unknown", "grouped_pedigree", "groups_spec", "without_group_codes"]

_YEAR, _SEX = "birth_year", "sex_of_parent"
_ROLES = ("sire", "dam")
_LISTED = 10


@dataclass(frozen=True)
class GroupsSpec:
    """The `groups:` block. assign: "explicit" (`codes` stand in the sire/dam fields) or "rules"
    (`by`: keys among birth_year, sex_of_parent and pedigree columns; `intervals` or `width` of
    the birth years). type: "fixed" | "random" (`ratio` = σ²g/σ²a) | "metafounders" (`gamma`:
    Γ in the order of `codes`, or None with `estimate_gamma`: Γ from the genotypes,
    :mod:`henderson.genomic.metafounder_gamma`)."""

    assign: str
    codes: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    intervals: tuple[tuple[int, int], ...] = ()
    width: int | None = None
    type: str = "fixed"
    ratio: float | None = None
    min_size: int = 1
    gamma: tuple[tuple[float, ...], ...] | None = None
    estimate_gamma: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Pedigree columns the rules read besides the birth year."""
        return tuple(k for k in self.by if k not in (_YEAR, _SEX))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"assign": self.assign, "type": self.type, "min_size": self.min_size}
        if self.codes:
            out["codes"] = list(self.codes)
        if self.by:
            out["by"] = list(self.by)
        if self.intervals:
            out["birth_year_intervals"] = [list(i) for i in self.intervals]
        if self.width is not None:
            out["width"] = self.width
        if self.ratio is not None:
            out["ratio"] = self.ratio
        if self.gamma is not None:
            out["metafounders"] = {"gamma": [list(r) for r in self.gamma]}
        elif self.estimate_gamma:
            out["metafounders"] = {"gamma": "estimate"}
        return out


def groups_spec(block: Mapping[str, Any] | None, where: str = "groups") -> GroupsSpec | None:
    """Validate the `groups:` block (after the schema) into a :class:`GroupsSpec`; None when
    absent. Raises ConfigError naming the key."""
    if not block:
        return None
    assign = block.get("assign", "explicit")
    codes = tuple(str(c) for c in block.get("codes", ()))
    by = tuple(block.get("by", ()))
    intervals = tuple((int(a), int(b)) for a, b in block.get("birth_year_intervals", ()))
    width = block.get("width")
    kind = block.get("type", "fixed")
    ratio = block.get("ratio")
    meta = block.get("metafounders")
    if assign == "explicit":
        if not codes:
            raise ConfigError(f"{where}.codes: `assign: explicit` needs the group codes, e.g. `codes: [G1, G2]`.")
        if len(set(codes)) != len(codes):
            raise ConfigError(f"{where}.codes: a code is listed twice ({list(codes)}).")
        if by or intervals or width is not None:
            raise ConfigError(f"{where}: `by`, `birth_year_intervals` and `width` belong to `assign: rules`.")
    else:
        if codes:
            raise ConfigError(f"{where}.codes: codes belong to `assign: explicit`; rules name their groups.")
        if not by:
            raise ConfigError(f"{where}.by: `assign: rules` needs keys, e.g. `by: [birth_year, sex_of_parent]`.")
        if len(set(by)) != len(by):
            raise ConfigError(f"{where}.by: a key is listed twice ({list(by)}).")
        if _YEAR in by and not intervals and width is None:
            raise ConfigError(f"{where}: grouping by birth_year needs `birth_year_intervals` or `width`.")
        if (intervals or width is not None) and _YEAR not in by:
            raise ConfigError(f"{where}: birth-year intervals are given but `by` has no birth_year.")
        if intervals and width is not None:
            raise ConfigError(f"{where}: give `birth_year_intervals` or `width`, not both.")
        for (a, b), (c, _) in zip(sorted(intervals), sorted(intervals)[1:]):
            if c <= b:
                raise ConfigError(f"{where}.birth_year_intervals: [{a}, {b}] overlaps the next interval.")
        if any(a > b for a, b in intervals):
            raise ConfigError(f"{where}.birth_year_intervals: an interval [first, last] has first > last.")
    gamma = None
    estimate = meta is not None and isinstance(meta.get("gamma"), str)
    if meta is not None:
        if "type" in block and kind != "metafounders":
            raise ConfigError(f"{where}: with `metafounders`, leave out `type` (or write `type: metafounders`).")
        kind = "metafounders"
    if estimate:
        if meta["gamma"] != "estimate":
            raise ConfigError(f"{where}.metafounders.gamma: give Γ as a matrix or `estimate` (from the genotypes); "
                              f"got {meta['gamma']!r}.")
    elif meta is not None:
        if assign != "explicit":
            raise ConfigError(f"{where}.metafounders: Γ is given in the order of `codes`; use `assign: explicit`.")
        matrix = np.asarray(meta["gamma"], dtype=float)
        from henderson.pedigree.metafounders import check_gamma

        try:
            matrix = check_gamma(matrix, len(codes))
        except ValueError as error:
            raise ConfigError(f"{where}.metafounders.gamma: {error}") from None
        gamma = tuple(tuple(float(v) for v in row) for row in matrix)
    elif kind == "metafounders":
        raise ConfigError(f"{where}: `type: metafounders` needs `metafounders: {{gamma: [[...]]}}`.")
    if kind == "random" and not (ratio is not None and ratio > 0):
        raise ConfigError(f"{where}.ratio: random groups need the variance ratio σ²g/σ²a, e.g. `ratio: 0.5`.")
    if kind != "random" and ratio is not None:
        raise ConfigError(f"{where}.ratio: applies to `type: random` only.")
    return GroupsSpec(assign, codes, by, tuple(sorted(intervals)), width, kind, ratio,
                      int(block.get("min_size", 1)), gamma, estimate)


@dataclass(frozen=True, eq=False)
class GroupAssignment:
    """Per animal (table order): ids, sires, dams (None = unknown or grouped), sire_group and
    dam_group (group code or None); `groups`: one row per group (group, size, animals, first_year,
    last_year, merged); `messages`: what was merged or assumed."""

    ids: np.ndarray
    sires: np.ndarray
    dams: np.ndarray
    sire_group: np.ndarray
    dam_group: np.ndarray
    groups: pd.DataFrame
    messages: tuple[str, ...] = field(default=())


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()


def _listed(values: Sequence[Any]) -> str:
    shown = ", ".join(f"'{v}'" for v in list(values)[:_LISTED])
    return shown + (f" and {len(values) - _LISTED} more" if len(values) > _LISTED else "")


def assign_groups(pedigree: pd.DataFrame, spec: GroupsSpec, *, source: str = "pedigree") -> GroupAssignment:
    """Assign the unknown parents of `pedigree` (the cleaned table: id, sire, dam as text, None
    unknown; birth_year, sex, origin and other columns as the rules need) to groups by `spec`."""
    table = pedigree.reset_index(drop=True)
    if spec.assign == "explicit":
        return _explicit(table, spec, source)
    return _rules(table, spec, source)


def _explicit(table: pd.DataFrame, spec: GroupsSpec, source: str) -> GroupAssignment:
    codes = set(spec.codes)
    own = table["id"].astype(str).isin(codes).to_numpy()
    origin = table["origin"].astype(str).to_numpy() if "origin" in table.columns else np.full(len(table), "pedigree")
    clash = own & (origin != "added parent")
    if clash.any():
        rows = table.loc[clash, "id"].astype(str).tolist()
        raise InputError(
            f"{source}: group code(s) {_listed(rows)} of `groups.codes` are also animal IDs (a row of "
            "the pedigree or a phenotyped animal). A group code stands for an unknown parent; rename the "
            "group (e.g. G_2001) or the animal."
        )
    if own.any():
        log.info("groups: %s (added by the clean stage as parents without a row of their own) are group "
                 "codes, not animals", ", ".join(table.loc[own, "id"].astype(str)))
    table = table.loc[~own].reset_index(drop=True)
    groups = {}
    sizes = dict.fromkeys(spec.codes, 0)
    for role in _ROLES:
        values = table[role].astype(object)
        text = values.where(values.notna(), None).astype(str)
        grouped = text.isin(codes).to_numpy()
        groups[role] = np.where(grouped, text.to_numpy(dtype=object), None)
        for code, count in text[grouped].value_counts().items():
            sizes[code] += int(count)
    empty = [c for c, s in sizes.items() if s == 0]
    if empty:
        raise InputError(
            f"{source}: group code(s) {_listed(empty)} of `groups.codes` stand in no sire or dam field, so "
            "the group would be empty; remove them from `groups.codes`."
        )
    small = [f"{c} ({s})" for c, s in sizes.items() if s < spec.min_size]
    if small:
        raise InputError(
            f"{source}: group(s) {', '.join(small)} replace fewer unknown parents than `groups.min_size` "
            f"({spec.min_size}); explicit groups are not merged: merge the codes in the pedigree or lower "
            "`min_size`."
        )
    sires = np.where(groups["sire"] == None, table["sire"].to_numpy(dtype=object), None)
    dams = np.where(groups["dam"] == None, table["dam"].to_numpy(dtype=object), None)
    summary = _summary(table, groups["sire"], groups["dam"], list(spec.codes), {})
    return GroupAssignment(table["id"].astype(str).to_numpy(dtype=object), sires, dams,
                           groups["sire"], groups["dam"], summary)


def _year_bins(years: np.ndarray, spec: GroupsSpec, ids: np.ndarray, source: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Interval index per year (NaN-free input) and the intervals."""
    if spec.intervals:
        intervals = list(spec.intervals)
    else:
        first, last = int(years.min()), int(years.max())
        w = int(spec.width)
        intervals = [(y, y + w - 1) for y in range(first, last + 1, w)]
    lows = np.array([a for a, _ in intervals])
    highs = np.array([b for _, b in intervals])
    k = np.searchsorted(lows, years, side="right") - 1
    outside = (k < 0) | (years > highs[np.maximum(k, 0)])
    if outside.any():
        bad = list(dict.fromkeys(f"'{i}' ({int(y)})" for i, y in zip(ids[outside], years[outside])))
        shown = ", ".join(bad[:_LISTED]) + (f" and {len(bad) - _LISTED} more" if len(bad) > _LISTED else "")
        raise InputError(
            f"{source}: animal(s) {shown} with an unknown parent are born outside every interval of "
            "`groups.birth_year_intervals`; widen the intervals."
        )
    return k, intervals


def _rules(table: pd.DataFrame, spec: GroupsSpec, source: str) -> GroupAssignment:
    n = len(table)
    ids = table["id"].astype(str).to_numpy(dtype=object)
    slots_animal = []
    slots_role = []
    for r, role in enumerate(_ROLES):
        unknown = np.flatnonzero(_missing(table[role].astype(object)))
        slots_animal.append(unknown)
        slots_role.append(np.full(unknown.size, r))
    animal = np.concatenate(slots_animal)
    role = np.concatenate(slots_role)
    parts: list[np.ndarray] = []
    messages: list[str] = []
    year_bin = np.zeros(animal.size, dtype=np.int64)
    intervals: list[tuple[int, int]] = []
    for key in spec.by:
        if key == _YEAR:
            if "birth_year" not in table.columns:
                raise InputError(f"{source}: `groups.by` has birth_year, but the pedigree has no birth year or date column.")
            years = pd.to_numeric(table["birth_year"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[animal]
            unknown = np.isnan(years)
            if unknown.all():
                raise InputError(f"{source}: no animal with an unknown parent has a birth year; groups by birth_year need them.")
            if unknown.any():
                fill = np.nanmin(years)
                who = pd.unique(ids[animal[unknown]])
                messages.append(
                    f"{len(who)} animal(s) with an unknown parent have no birth year (e.g. {_listed(who[:3])}; "
                    f"mostly parents added as founders): their unknown parents go to the earliest birth-year group."
                )
                years = np.where(unknown, fill, years)
            year_bin, intervals = _year_bins(years, spec, ids[animal], source)
            parts.append(np.array([f"{a}-{b}" for a, b in intervals], dtype=object)[year_bin])
        elif key == _SEX:
            parts.append(np.array(_ROLES, dtype=object)[role])
        else:
            if key not in table.columns:
                raise InputError(f"{source}: `groups.by` names the column '{key}', which the pedigree does not have.")
            values = table[key].astype(object)
            text = np.where(_missing(values), "NA", values.astype(str).to_numpy(dtype=object))
            if (text[animal] == "NA").any():
                messages.append(f"column '{key}' is missing for some animals with an unknown parent: level NA.")
            parts.append(text[animal])
    other = [p for key, p in zip(spec.by, parts) if key != _YEAR]
    other_key = (pd.Series(other[0], dtype=object).str.cat([pd.Series(p, dtype=object) for p in other[1:]], sep="|")
                 .to_numpy(dtype=object) if other else np.full(animal.size, "", dtype=object))
    # groups: (year bin, other key); labels joined in the order of `by`
    frame = pd.DataFrame({"bin": year_bin, "other": other_key})
    keys = frame.drop_duplicates().sort_values(["other", "bin"]).itertuples(index=False)
    members = {(int(k.bin), k.other): 0 for k in keys}
    for (b, o), count in frame.value_counts().items():
        members[(int(b), o)] = int(count)
    if intervals and spec.intervals:
        used = {int(b) for b in year_bin}
        empty = [f"[{a}, {c}]" for k, (a, c) in enumerate(intervals) if k not in used]
        if empty:
            raise InputError(
                f"{source}: birth-year interval(s) {', '.join(empty)} of `groups.birth_year_intervals` hold no "
                "animal with an unknown parent, so their groups would be empty; remove or widen them."
            )
    # merging: a group's span of bins [lo, hi]; merge the smallest below min_size into the nearest
    span = {key: (key[0], key[0]) for key in members}
    target = {key: key for key in members}
    merged: dict[tuple[int, str], list[str]] = {key: [] for key in members}

    def label(key: tuple[int, str]) -> str:
        lo, hi = span[key]
        other = iter(key[1].split("|") if key[1] else ())
        return ":".join(f"{intervals[lo][0]}-{intervals[hi][1]}" if k == _YEAR else next(other) for k in spec.by)

    while True:
        small = [k for k in members if members[k] < spec.min_size]
        if not small:
            break
        key = min(small, key=lambda k: (members[k], k[1], k[0]))
        peers = [k for k in members if k != key and k[1] == key[1]]
        if _YEAR not in spec.by or not peers:
            raise InputError(
                f"{source}: group {label(key)} replaces {members[key]} unknown parent(s), fewer than "
                f"`groups.min_size` ({spec.min_size}), and has no neighbour by birth year to be merged with; "
                "lower `min_size` or use wider rules."
            )
        mid = 0.5 * (intervals[span[key][0]][0] + intervals[span[key][1]][1])

        def distance(k: tuple[int, str], mid: float = mid) -> tuple[float, int]:
            other_mid = 0.5 * (intervals[span[k][0]][0] + intervals[span[k][1]][1])
            return abs(other_mid - mid), span[k][0]

        into = min(peers, key=distance)
        messages.append(f"group {label(key)} ({members[key]} unknown parents) merged into {label(into)} "
                        f"({members[into]}): below min_size {spec.min_size}")
        merged[into] += [label(key)] + merged.pop(key)
        members[into] += members.pop(key)
        span[into] = (min(span[into][0], span[key][0]), max(span[into][1], span[key][1]))
        span.pop(key)
        for k, v in target.items():
            if v == key:
                target[k] = into
    final = {k: label(k) for k in members}
    keys = pd.DataFrame([(b, o, final[target[(b, o)]]) for b, o in target], columns=["bin", "other", "code"])
    codes = frame.merge(keys, on=["bin", "other"], how="left")["code"].to_numpy(dtype=object)
    if len(set(final.values())) != len(final):
        raise InputError(f"{source}: the group rules give two groups one label; use other keys.")
    clash = sorted(set(final.values()) & set(ids))
    if clash:
        raise InputError(f"{source}: group label(s) {_listed(clash)} are also animal IDs; rename the animals.")
    sire_group = np.full(n, None, dtype=object)
    dam_group = np.full(n, None, dtype=object)
    sire_group[animal[role == 0]] = codes[role == 0]
    dam_group[animal[role == 1]] = codes[role == 1]
    order = sorted(final, key=lambda k: (k[1], span[k][0]))
    labels = [final[k] for k in order]
    merged_labels = {final[k]: merged[k] for k in members}
    for message in messages:
        log.info("groups: %s", message)
    summary = _summary(table, sire_group, dam_group, labels, merged_labels)
    sires = np.where(sire_group == None, table["sire"].to_numpy(dtype=object), None)
    dams = np.where(dam_group == None, table["dam"].to_numpy(dtype=object), None)
    return GroupAssignment(ids, sires, dams, sire_group, dam_group, summary, tuple(messages))


def _summary(table: pd.DataFrame, sire_group: np.ndarray, dam_group: np.ndarray, labels: list[str],
             merged: Mapping[str, list[str]]) -> pd.DataFrame:
    """One row per group: size (unknown parents replaced), animals (with a parent in it), the
    birth years of those animals and the groups merged into it."""
    years = (pd.to_numeric(table["birth_year"], errors="coerce") if "birth_year" in table.columns
             else pd.Series(np.nan, index=table.index))
    rows = []
    for code in labels:
        is_sire = sire_group == code
        is_dam = dam_group == code
        either = is_sire | is_dam
        y = years[either]
        rows.append({
            "group": code, "size": int(is_sire.sum() + is_dam.sum()), "animals": int(either.sum()),
            "first_year": None if y.isna().all() else int(y.min()), "last_year": None if y.isna().all() else int(y.max()),
            "merged": ", ".join(merged.get(code, [])),
        })
    out = pd.DataFrame(rows, columns=["group", "size", "animals", "first_year", "last_year", "merged"])
    out["first_year"] = out["first_year"].astype("Int64")
    out["last_year"] = out["last_year"].astype("Int64")
    return out


def without_group_codes(pedigree: pd.DataFrame, spec: GroupsSpec | None) -> pd.DataFrame:
    """The pedigree of the ordinary A⁻¹: with explicit groups, rows for the group codes (a clean
    stage not told of the groups adds them as parents) are removed and the codes in the sire/dam
    fields read as unknown parents (:func:`group_codes_as_unknown`); otherwise `pedigree` itself."""
    if spec is None or spec.assign != "explicit":
        return pedigree
    kept = pedigree.loc[~pedigree["id"].astype(str).isin(list(spec.codes))]
    return group_codes_as_unknown(kept, spec.codes).reset_index(drop=True)


def group_codes_as_unknown(pedigree: pd.DataFrame, codes: Sequence[str]) -> pd.DataFrame:
    """`pedigree` with the sire and dam fields that hold one of the group `codes` set to None."""
    codes = [str(c) for c in codes]
    return pedigree.assign(**{role: pedigree[role].where(~pedigree[role].astype(str).isin(codes), None)
                              for role in _ROLES if role in pedigree.columns})


def grouped_pedigree(assignment: GroupAssignment) -> GroupedPedigree:
    """The sorted pedigree with group indices (in the order of `assignment.groups`)."""
    ped = sort_pedigree(assignment.ids, assignment.sires, assignment.dams)
    codes = list(assignment.groups["group"])
    index = pd.Index(codes, dtype=object)
    where = pd.Index(assignment.ids).get_indexer(ped.ids)
    sire_group = index.get_indexer(assignment.sire_group[where]).astype(np.int64)
    dam_group = index.get_indexer(assignment.dam_group[where]).astype(np.int64)
    return GroupedPedigree(ped, tuple(codes), sire_group, dam_group)
