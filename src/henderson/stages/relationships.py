"""The relationships stage: sort the pedigree, inbreeding, A⁻¹ (Henderson's and Quaas' rules,
never inverting A), the Mendelian-sampling variances and log|A|."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson import __version__
from henderson.errors import InputError
from henderson.io import file_digest
from henderson.pedigree import (
    ainv,
    inbreeding,
    mendelian_variances,
    pedigree_summary,
    sort_pedigree,
)
from henderson.relationship import Relationship, pedigree_relationship

log = logging.getLogger("henderson")


@dataclass(frozen=True)
class Relationships:
    """A⁻¹ (n × n, in `ids` order: parents before offspring), inbreeding (n,), the
    Mendelian-sampling variance factors b (n,) and the pedigree summary."""

    ids: np.ndarray
    ainv: sp.csc_matrix
    inbreeding: np.ndarray
    mendelian: np.ndarray
    summary: dict
    grouped: Relationship | None = None
    """K of the additive effect with unknown parent groups or metafounders, when configured."""

    @property
    def log_det(self) -> float:
        """log|A| = Σ log b_i."""
        return float(np.sum(np.log(self.mendelian)))

    def relationship(self) -> Relationship:
        """A as the relationship of a random term (A⁻¹, log|A|, diag(A) = 1 + F), or A with the
        groups (:mod:`henderson.relationship_groups`) when they are configured."""
        if self.grouped is not None:
            return self.grouped
        return pedigree_relationship(self.ids, self.ainv, self.inbreeding, self.mendelian)


def relationships_stage(pedigree: pd.DataFrame) -> Relationships:
    """Sort the cleaned pedigree, compute inbreeding and build A⁻¹ directly (never inverting A)."""
    start = time.perf_counter()
    sires = pedigree["sire"].where(pedigree["sire"].notna(), None)
    dams = pedigree["dam"].where(pedigree["dam"].notna(), None)
    ped = sort_pedigree(pedigree["id"].astype(str).to_numpy(), sires.to_numpy(), dams.to_numpy())
    f = inbreeding(ped)
    _check_not_fully_inbred(ped.ids, f)
    log.info("inbreeding: %d animals, mean F %.4f (%.2f s)", len(f), float(np.mean(f)) if len(f) else 0.0, time.perf_counter() - start)
    selfed = int(np.count_nonzero((ped.sire >= 0) & (ped.sire == ped.dam)))
    if selfed:
        log.info("selfed: %d individuals (sire = dam), max F %.6f", selfed, float(f.max()))
    matrix = ainv(ped, f)
    log.info("A-inverse: %d nonzeros (%.2f s)", matrix.nnz, time.perf_counter() - start)
    return Relationships(
        ids=ped.ids, ainv=matrix, inbreeding=f, mendelian=mendelian_variances(ped, f), summary=pedigree_summary(ped, f)
    )


def _check_not_fully_inbred(ids: np.ndarray, f: np.ndarray) -> None:
    """F = 1 (in float64: after about 53 generations of selfing) leaves no Mendelian sampling
    variance (b = 0): A is singular and A⁻¹ does not exist."""
    full = np.flatnonzero(f >= 1.0)
    if full.size:
        shown = ", ".join(f"'{ids[i]}'" for i in full[:10])
        more = f" and {full.size - 10} more" if full.size > 10 else ""
        raise InputError(
            f"In the pedigree, individual(s) {shown}{more} are fully inbred (F = 1 to machine precision, "
            "e.g. after more than 50 generations of selfing), so A is singular. Enter an inbred "
            "line once, as a founder, instead of its whole selfing history."
        )


def relationships_meta(rel: Relationships, pedigree_path: str | Path) -> dict:
    """Sidecar metadata for A⁻¹: ID order, log|A|, input digest, package version."""
    return {
        "ids": [str(i) for i in rel.ids],
        "log_det": rel.log_det,
        "input": str(pedigree_path),
        "input_sha256": file_digest(pedigree_path),
        "henderson_version": __version__,
    }


def relationships_table(rel: Relationships) -> pd.DataFrame:
    """Per animal (pedigree order): id, inbreeding F and Mendelian-sampling variance factor b."""
    return pd.DataFrame({"id": rel.ids.astype(str), "F": rel.inbreeding, "b": rel.mendelian})


def load_relationships(ainv_path: str | Path, inbreeding_path: str | Path,
                       groups_ainv_path: str | Path | None = None, group_pedigree_path: str | Path | None = None
                       ) -> Relationships:
    """Reload A⁻¹, inbreeding and b written by the relationships stage; check their ID orders
    agree. With the groups' files, the additive effect's relationship has the groups."""
    from henderson.io import load_matrix

    matrix, meta = load_matrix(ainv_path)
    table = pd.read_parquet(inbreeding_path)
    ids = np.asarray(meta["ids"], dtype=object)
    if not np.array_equal(table["id"].astype(str).to_numpy(dtype=object), ids) or "b" not in table.columns:
        raise InputError(f"{inbreeding_path}: does not match {ainv_path}; rerun the relationships stage.")
    grouped = None
    if groups_ainv_path is not None:
        from henderson.stages.groups import load_group_relationship

        grouped = load_group_relationship(groups_ainv_path, group_pedigree_path)
        if grouped.groups.grouped.n != len(ids):
            raise InputError(f"{groups_ainv_path}: does not match {ainv_path}; rerun the relationships stage.")
    return Relationships(
        ids=ids, ainv=matrix, inbreeding=table["F"].to_numpy(dtype=float),
        mendelian=table["b"].to_numpy(dtype=float), summary={}, grouped=grouped,
    )


