"""Genotype quality control with BLUPF90-like defaults (preGSf90: call rates 0.90, MAF 0.05,
monomorphic SNPs removed, parent–progeny conflicts checked).

The edits, in this order (each on what the previous ones kept):

1. SNPs with a call rate below ``min_call_rate_snp``;
2. animals with a call rate (over the kept SNPs) below ``min_call_rate_animal``;
3. monomorphic SNPs (minor allele frequency 0, with ``remove_monomorphic``), then SNPs with a
   minor allele frequency below ``min_maf``;
4. with a pedigree: parent–offspring pairs whose share of opposite homozygotes exceeds
   ``max_parent_conflict_rate`` are reported (the pedigree is never changed) and the offspring's
   genotype is removed (``parent_conflict: remove_offspring``; BLUPF90's genomic module also
   drops genotypes in conflict by default; ``report`` keeps it); then, when at least
   ``min_pairs_snp_conflicts`` consistent pairs are genotyped, SNPs with conflicts in more than
   ``max_snp_conflict_rate`` of them;
5. duplicate genotypes: of two animals whose calls agree at a share ≥ ``duplicate_threshold`` of
   the SNPs called in both, the second (in file order) is removed.

Genotyped animals not in the pedigree are listed and kept (a GBLUP model can use them; a
single-step model needs them in the pedigree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from henderson.genotypes.duplicates import find_duplicates
from henderson.genotypes.matrix import Genotypes, count
from henderson.genotypes.mendel import ParentPairs, count_conflicts, parent_pairs

REJECTED_COLUMNS = ["kind", "id", "snp", "other", "reason", "value", "action"]
"""Columns of ``genotypes_rejected.parquet``: kind (animal, snp or pair), the animal ``id`` or
the ``snp``, the ``other`` animal (the parent of a pair or of a conflicting offspring, the kept
animal of a duplicate), the reason, the value that failed (a rate or share), and the action
(removed, or kept / reported for what is only listed)."""

PARENT_CONFLICT_ACTIONS = ("remove_offspring", "report")
_LIST_LIMIT = 100


@dataclass(frozen=True)
class QCSettings:
    """Thresholds of the genotype QC (config key ``genotype_qc``; see the module doc).
    Rates and shares are fractions in [0, 1]."""

    min_call_rate_snp: float = 0.90
    min_call_rate_animal: float = 0.90
    min_maf: float = 0.05
    remove_monomorphic: bool = True
    max_parent_conflict_rate: float = 0.01
    parent_conflict: str = "remove_offspring"
    max_snp_conflict_rate: float = 0.10
    min_pairs_snp_conflicts: int = 100
    duplicate_threshold: float = 0.99
    missing_codes: tuple[int, ...] = (5, 9)
    id_column: str | None = None

    def __post_init__(self) -> None:
        if self.parent_conflict not in PARENT_CONFLICT_ACTIONS:
            raise ValueError(f"parent_conflict must be one of {PARENT_CONFLICT_ACTIONS}")
        object.__setattr__(self, "missing_codes", tuple(int(c) for c in self.missing_codes))

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None) -> QCSettings:
        """Settings from the config's ``genotype_qc`` mapping (missing keys: defaults)."""
        return cls(**dict(block or {}))


@dataclass(frozen=True)
class QCResult:
    """The kept genotypes, every removed or listed item (`REJECTED_COLUMNS`) and the summary
    (``genotype_qc.json``)."""

    genotypes: Genotypes
    rejected: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def _rows(kind: str, ids: Any = None, snps: Any = None, other: Any = None, reason: Any = "",
          value: Any = np.nan, action: str = "removed") -> pd.DataFrame:
    size = len(ids if ids is not None else snps)

    def column(v: Any) -> np.ndarray:
        if v is None or isinstance(v, str):
            return np.full(size, v, dtype=object)
        return np.asarray(v, dtype=object)

    return pd.DataFrame({
        "kind": column(kind), "id": column(ids), "snp": column(snps), "other": column(other),
        "reason": column(reason), "value": np.broadcast_to(np.asarray(value, float), (size,)).copy(),
        "action": column(action),
    })


def distribution(values: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """Quantiles (0, 1, 5, 25, 50, 75, 95, 99, 100 %) and a histogram (``edges``, ``counts``)
    of the finite ``values``."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    levels = [0, 1, 5, 25, 50, 75, 95, 99, 100]
    quantiles = {f"p{q}": float(np.percentile(values, q)) if values.size else None for q in levels}
    counts, _ = np.histogram(values, bins=edges)
    return {"n": int(values.size), "mean": float(values.mean()) if values.size else None,
            "quantiles": quantiles, "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}


RATE_EDGES = np.round(np.linspace(0.0, 1.0, 21), 3)
MAF_EDGES = np.round(np.linspace(0.0, 0.5, 21), 3)


def qc_genotypes(genotypes: Genotypes, settings: QCSettings = QCSettings(), *,
                 pedigree: pd.DataFrame | None = None, source: str = "genotypes") -> QCResult:
    """Run the QC of the module doc on ``genotypes`` (n × m); ``pedigree``: the cleaned pedigree
    (columns id, sire, dam) or None; ``source``: the file name for messages.
    Returns the kept genotypes (rows and columns in input order), the rejected table and the
    summary."""
    n, m = genotypes.shape
    codes = genotypes.codes
    snp_ok = np.ones(m, dtype=bool)
    animal_ok = np.ones(n, dtype=bool)
    rejected: list[pd.DataFrame] = []
    summary: dict[str, Any] = {"file": source, "settings": asdict(settings), "warnings": []}
    summary["settings"]["missing_codes"] = list(settings.missing_codes)

    initial = count(codes)
    summary["input"] = {"animals": n, "snps": m,
                        "missing_share": float(1 - initial.called_snp.sum() / (n * m)) if n * m else 0.0}
    summary["call_rate_snp"] = distribution(initial.call_rate_snp, RATE_EDGES)

    low = initial.call_rate_snp < settings.min_call_rate_snp
    rejected.append(_rows("snp", snps=genotypes.snps[low], reason="SNP call rate",
                          value=initial.call_rate_snp[low]))
    snp_ok &= ~low

    per_animal = count(codes, None, snp_ok).call_rate_animal
    summary["call_rate_animal"] = distribution(per_animal, RATE_EDGES)
    low = per_animal < settings.min_call_rate_animal
    rejected.append(_rows("animal", ids=genotypes.ids[low], reason="animal call rate", value=per_animal[low]))
    animal_ok &= ~low

    stats = count(codes, animal_ok, snp_ok)
    maf = stats.minor_allele_frequency
    kept_cols = np.flatnonzero(snp_ok)
    mono = (np.nan_to_num(maf, nan=0.0) == 0) if settings.remove_monomorphic else np.zeros(maf.size, bool)
    rare = ~mono & (np.nan_to_num(maf, nan=0.0) < settings.min_maf)
    rejected.append(_rows("snp", snps=genotypes.snps[kept_cols[mono]], reason="monomorphic", value=maf[mono]))
    rejected.append(_rows("snp", snps=genotypes.snps[kept_cols[rare]], reason="minor allele frequency",
                          value=maf[rare]))
    snp_ok[kept_cols[mono | rare]] = False

    if pedigree is not None:
        rejected += _against_pedigree(genotypes, pedigree, settings, animal_ok, snp_ok, summary)

    rejected.append(_duplicates(genotypes, settings, animal_ok, snp_ok, summary))

    kept = genotypes.subset(animal_ok, snp_ok)
    table = pd.concat([r for r in rejected if len(r)] or [_rows("animal", ids=[])], ignore_index=True)
    table = table[REJECTED_COLUMNS]
    final = count(kept.codes)
    summary["kept"] = {"animals": int(animal_ok.sum()), "snps": int(snp_ok.sum())}
    summary["removed"] = _removed_counts(table)
    summary["maf"] = distribution(final.minor_allele_frequency, MAF_EDGES)
    summary["allele_frequency_mean"] = float(np.nanmean(final.allele_frequency)) if kept.shape[1] else None
    return QCResult(kept, table, summary)


def _removed_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    removed = table[table["action"] == "removed"]
    return {kind: {str(k): int(v) for k, v in removed[removed["kind"] == kind]["reason"].value_counts().items()}
            for kind in ("snp", "animal")}


def _against_pedigree(genotypes: Genotypes, pedigree: pd.DataFrame, settings: QCSettings,
                      animal_ok: np.ndarray, snp_ok: np.ndarray, summary: dict) -> list[pd.DataFrame]:
    """Animals not in the pedigree (listed, kept) and the parent–offspring conflicts; updates
    ``animal_ok``, ``snp_ok`` and ``summary`` in place."""
    out = []
    known = pd.Index(pedigree["id"].astype(object))
    absent = animal_ok & ~pd.Index(genotypes.ids).isin(known)
    out.append(_rows("animal", ids=genotypes.ids[absent], reason="not in the pedigree", action="kept"))
    summary["not_in_pedigree"] = {"count": int(absent.sum()),
                                  "first": genotypes.ids[absent][:_LIST_LIMIT].tolist()}
    if absent.any():
        summary["warnings"].append(
            f"{int(absent.sum())} genotyped animal(s) are not in the pedigree (first: "
            f"{', '.join(map(str, genotypes.ids[absent][:5]))}); they are kept for genomic (GBLUP) models, "
            "but a single-step model needs every genotyped animal in the pedigree. Add them to the "
            "pedigree or check their IDs."
        )
    pairs = parent_pairs(genotypes.ids[animal_ok], pedigree)
    rows = np.flatnonzero(animal_ok)
    pairs = ParentPairs(rows[pairs.offspring], rows[pairs.parent], pairs.role)
    columns = np.flatnonzero(snp_ok)
    conflicts = count_conflicts(genotypes.codes, pairs, columns)
    rate = conflicts.pair_rate
    bad = np.nan_to_num(rate, nan=0.0) > settings.max_parent_conflict_rate
    off, par = genotypes.ids[pairs.offspring], genotypes.ids[pairs.parent]
    reasons = np.array([f"{role}–offspring conflicts" for role in pairs.role], dtype=object)
    out.append(_rows("pair", ids=off[bad], other=par[bad], reason=reasons[bad], value=rate[bad],
                     action="reported"))
    summary["parent_offspring"] = {
        "pairs_checked": len(pairs), "pairs_flagged": int(bad.sum()),
        "conflict_rate": distribution(rate, np.round(np.linspace(0.0, 0.2, 21), 3)),
        "flagged": [
            {"offspring": o, "parent": p, "role": r, "conflicts": int(c), "snps": int(s), "rate": float(x)}
            for o, p, r, c, s, x in zip(off[bad][:_LIST_LIMIT], par[bad][:_LIST_LIMIT],
                                        pairs.role[bad][:_LIST_LIMIT], conflicts.pair_conflicts[bad][:_LIST_LIMIT],
                                        conflicts.pair_called[bad][:_LIST_LIMIT], rate[bad][:_LIST_LIMIT], strict=True)
        ],
        "action": settings.parent_conflict,
    }
    if bad.any():
        action = ("the offspring's genotypes are removed" if settings.parent_conflict == "remove_offspring"
                  else "the genotypes are kept")
        summary["warnings"].append(
            f"{int(bad.sum())} parent–offspring pair(s) have more than {settings.max_parent_conflict_rate:.2%} "
            f"of their SNPs as opposite homozygotes (first: offspring {off[bad][0]}, parent {par[bad][0]}, "
            f"{rate[bad][0]:.2%}): the recorded parent or the sample is probably wrong. The pedigree is not "
            f"changed; {action}. Check these parents (results/clean/genotypes_rejected.parquet, kind 'pair')."
        )
    if settings.parent_conflict == "remove_offspring" and bad.any():
        worst = pd.DataFrame({"row": pairs.offspring[bad], "rate": rate[bad], "parent": par[bad]})
        worst = worst.sort_values(["row", "rate"], ascending=[True, False]).drop_duplicates("row")
        out.append(_rows("animal", ids=genotypes.ids[worst["row"].to_numpy()],
                         other=worst["parent"].to_numpy(), reason="parent–offspring conflicts",
                         value=worst["rate"].to_numpy()))
        animal_ok[worst["row"].to_numpy()] = False
    good = ~bad & animal_ok[pairs.offspring] & animal_ok[pairs.parent]
    summary["snp_conflicts"] = {"pairs": int(good.sum()), "checked": False, "removed": 0}
    if good.sum() >= settings.min_pairs_snp_conflicts and columns.size:
        consistent = ParentPairs(pairs.offspring[good], pairs.parent[good], pairs.role[good])
        per_snp = count_conflicts(genotypes.codes, consistent, columns)
        with np.errstate(invalid="ignore", divide="ignore"):
            snp_rate = np.where(per_snp.snp_pairs > 0, per_snp.snp_conflicts / per_snp.snp_pairs, 0.0)
        over = snp_rate > settings.max_snp_conflict_rate
        out.append(_rows("snp", snps=genotypes.snps[columns[over]], reason="Mendelian conflicts",
                         value=snp_rate[over]))
        snp_ok[columns[over]] = False
        summary["snp_conflicts"].update(checked=True, removed=int(over.sum()))
    return out


def _duplicates(genotypes: Genotypes, settings: QCSettings, animal_ok: np.ndarray, snp_ok: np.ndarray,
                summary: dict) -> pd.DataFrame:
    """The second animal of each duplicate pair (removed), updating ``animal_ok`` and ``summary``."""
    found = find_duplicates(genotypes.codes, np.flatnonzero(animal_ok), np.flatnonzero(snp_ok),
                            settings.duplicate_threshold)
    dropped: dict[int, tuple[int, float]] = {}
    for first, second, share in zip(found.first, found.second, found.concordance, strict=True):
        if first in dropped or second in dropped:
            continue
        dropped[int(second)] = (int(first), float(share))
    rows = np.array(sorted(dropped), dtype=np.int64)
    animal_ok[rows] = False
    ids = genotypes.ids
    summary["duplicates"] = {
        "pairs": int(found.first.size), "candidates_checked": found.candidates,
        "removed": int(rows.size),
        "list": [{"kept": ids[f], "removed": ids[s], "concordance": float(c), "snps": int(k)}
                 for f, s, c, k in zip(found.first[:_LIST_LIMIT], found.second[:_LIST_LIMIT],
                                       found.concordance[:_LIST_LIMIT], found.called[:_LIST_LIMIT], strict=True)],
    }
    if rows.size:
        summary["warnings"].append(
            f"{int(found.first.size)} pair(s) of animals have identical genotypes at ≥ "
            f"{settings.duplicate_threshold:.0%} of their SNPs (first: {ids[found.first[0]]} and "
            f"{ids[found.second[0]]}); the second of each pair is removed. Check for mislabelled samples "
            "(or identical twins / clones)."
        )
    return _rows("animal", ids=ids[rows], other=[ids[dropped[r][0]] for r in rows],
                 reason="duplicate genotype",
                 value=[dropped[r][1] for r in rows])


