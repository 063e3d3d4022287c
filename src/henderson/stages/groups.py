"""Unknown parent groups and metafounders in the relationships stage: assign the unknown parents
to groups, build K⁻¹ over the animals and groups (Quaas' A*⁻¹, with I/r for random groups, or
A^Γ⁻¹ of metafounders) and save it; reload it as the relationship of the additive effect."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.errors import InputError
from henderson.pedigree import Pedigree
from henderson.pedigree.ainv_groups import GroupedPedigree, ainv_groups
from henderson.pedigree.groups import GroupsSpec, assign_groups, grouped_pedigree
from henderson.pedigree.metafounders import ainv_metafounders
from henderson.relationship import Relationship
from henderson.relationship_groups import group_relationship

if TYPE_CHECKING:
    from henderson.genotypes import Genotypes

log = logging.getLogger("henderson")

__all__ = ["GroupsResult", "groups_stage", "load_group_relationship", "pedigree_with_columns"]


@dataclass(frozen=True, eq=False)
class GroupsResult:
    """K⁻¹ ((n + G) × (n + G): animals in `table` order, then the groups), the per-animal table
    (id, sire, dam, sire_group, dam_group, F, b; F and b with Γ for metafounders), the
    per-group table (group, size, animals, first_year, last_year, merged, type) and the sidecar
    metadata (kind, ratio, gamma, log_det, levels)."""

    kinv: sp.csc_matrix
    table: pd.DataFrame
    groups: pd.DataFrame
    meta: dict
    grouped: GroupedPedigree


def pedigree_with_columns(cleaned: pd.DataFrame, raw: pd.DataFrame | None, columns: Sequence[str],
                          source: str = "pedigree") -> pd.DataFrame:
    """The cleaned pedigree with the group-rule `columns` (breed, origin, …) of the raw pedigree
    joined on the ID (stripped, Unicode NFC as the clean stage writes IDs); animals the clean
    stage added get a missing value."""
    if not columns:
        return cleaned
    from henderson.clean.cells import normalise_ids

    if raw is None:
        raise InputError(f"{source}: the group rules read columns {list(columns)} of the pedigree file, which was not given.")
    absent = [c for c in columns if c not in raw.columns]
    if absent:
        raise InputError(f"{source}: `groups.by` names column(s) {absent}, which the pedigree file does not have; "
                         f"its columns are {list(raw.columns)}.")
    key = normalise_ids(raw["id"].astype(object)).astype(str)
    extra = raw[list(columns)].set_axis(key, axis=0)
    extra = extra[~extra.index.duplicated()]
    out = cleaned.copy()
    for c in columns:
        out[c] = extra[c].reindex(out["id"].astype(str)).to_numpy(dtype=object)
    return out


def groups_stage(pedigree: pd.DataFrame, spec: GroupsSpec, inbreeding: np.ndarray | None = None,
                 *, source: str = "pedigree", genotypes: Genotypes | None = None) -> GroupsResult:
    """Assign groups (:func:`henderson.pedigree.groups.assign_groups`) on the cleaned pedigree
    (with the rule columns joined) and build K⁻¹. `inbreeding`: F of the ordinary pedigree in
    sorted order, when already computed (not used for metafounders, whose F depends on Γ).
    `genotypes`: the clean genotypes, from which Γ is estimated when the spec asks for it
    (:func:`henderson.genomic.metafounder_gamma.estimate_gamma`; the estimate's summary goes to
    the metadata as ``gamma_estimate``)."""
    from henderson.pedigree import inbreeding as compute_inbreeding
    from henderson.pedigree import mendelian_variances

    start = time.perf_counter()
    assignment = assign_groups(pedigree, spec, source=source)
    grouped = grouped_pedigree(assignment)
    log.info("groups: %d groups (%s) over %d unknown parents (%.2f s)", grouped.n_groups, spec.type,
             int(assignment.groups["size"].sum()), time.perf_counter() - start)
    ratio = spec.ratio if spec.type == "random" else None
    gamma = None
    estimate = None
    if spec.type == "metafounders":
        if spec.estimate_gamma:
            if genotypes is None:
                raise InputError(f"{source}: Γ of the metafounders is to be estimated from genotypes, and none were given.")
            from henderson.genomic.metafounder_gamma import estimate_gamma

            estimate = estimate_gamma(grouped, np.asarray(genotypes.ids, dtype=object).astype(str),
                                      np.asarray(genotypes.codes), source=source)
            gamma = estimate.gamma
        else:
            gamma = np.asarray(spec.gamma, dtype=float)
        kinv, f, b, logdet = ainv_metafounders(grouped, gamma)
    else:
        f = compute_inbreeding(grouped.ped) if inbreeding is None else np.asarray(inbreeding, dtype=float)
        b = mendelian_variances(grouped.ped, f)
        kinv = ainv_groups(grouped, f, ratio)
        logdet = float(np.sum(np.log(b))) + (grouped.n_groups * float(np.log(ratio)) if ratio else 0.0)
    log.info("groups: K-inverse over %d animals and %d groups, %d nonzeros (%.2f s)", grouped.n, grouped.n_groups,
             kinv.nnz, time.perf_counter() - start)
    codes = np.asarray(grouped.groups, dtype=object)
    none = np.append(np.asarray(grouped.ped.ids, dtype=object), None)
    table = pd.DataFrame({
        "id": pd.Series(grouped.ped.ids, dtype=object),
        "sire": pd.Series(none[grouped.ped.sire], dtype=object),
        "dam": pd.Series(none[grouped.ped.dam], dtype=object),
        "sire_group": pd.Series(np.append(codes, None)[grouped.sire_group], dtype=object),
        "dam_group": pd.Series(np.append(codes, None)[grouped.dam_group], dtype=object),
        "F": f, "b": b,
    })
    groups = assignment.groups.copy()
    groups["type"] = spec.type
    meta = {
        "kind": spec.type, "ratio": ratio, "gamma": None if gamma is None else gamma.tolist(),
        "log_det": logdet, "groups": [str(c) for c in codes], "animals": grouped.n,
        "messages": list(assignment.messages),
        "gamma_estimate": None if estimate is None else estimate.summary(codes),
    }
    return GroupsResult(kinv, table, groups, meta, grouped)


def load_group_relationship(kinv_path: str | Path, table_path: str | Path) -> Relationship:
    """The relationship of the additive effect with groups, from the files the relationships
    stage wrote (`ainv_groups.npz` with its sidecar, `group_pedigree.parquet`)."""
    from henderson.io import load_matrix

    kinv, meta = load_matrix(kinv_path)
    table = pd.read_parquet(table_path)
    ids = table["id"].astype(str).to_numpy(dtype=object)
    index = pd.Index(ids, dtype=object)
    codes = pd.Index(meta["groups"], dtype=object)
    if kinv.shape[0] != len(ids) + len(codes):
        raise InputError(f"{kinv_path}: does not match {table_path}; rerun the relationships stage.")
    ped = Pedigree(ids, index.get_indexer(table["sire"].astype(object)), index.get_indexer(table["dam"].astype(object)))
    grouped = GroupedPedigree(ped, tuple(codes), codes.get_indexer(table["sire_group"].astype(object)),
                              codes.get_indexer(table["dam_group"].astype(object)))
    return group_relationship(
        grouped, meta["kind"], kinv, table["F"].to_numpy(dtype=float), table["b"].to_numpy(dtype=float),
        ratio=meta.get("ratio"), gamma=None if meta.get("gamma") is None else np.asarray(meta["gamma"]),
    )


def groups_meta(result: GroupsResult, extra: Mapping) -> dict:
    """The sidecar of `ainv_groups.npz`: the stage's metadata and `extra` (input digest, version)."""
    return {**result.meta, **extra, "levels": [str(i) for i in result.table["id"]] + result.meta["groups"]}
