"""Genotypes and genomic relationships in a model's report: the genotype QC (animals and SNPs in
and kept, removals by reason, call rates, minor allele frequencies, parent–offspring conflicts,
duplicates), the model's genomic relationship (kind, options) with G against A22, and GEBV
against the EBV of a pedigree model of the same traits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from henderson.report.format import DASH, Table, fmt_count, fmt_sig, text

__all__ = ["genomic_section"]


def _quantiles(block: dict | None) -> str:
    if not block or "quantiles" not in block:
        return DASH
    q = block["quantiles"]
    return " / ".join(fmt_sig(q.get(k, np.nan)) for k in ("p0", "p5", "p50", "p95", "p100"))


def _qc_tables(qc: dict) -> list[Table]:
    rows = [
        ("animals", fmt_count(qc.get("input", {}).get("animals", 0)), fmt_count(qc.get("kept", {}).get("animals", 0))),
        ("SNPs", fmt_count(qc.get("input", {}).get("snps", 0)), fmt_count(qc.get("kept", {}).get("snps", 0))),
    ]
    tables = [Table("Genotypes", ("", "read", "kept"), tuple(rows), (False, True, True),
                    f"file {qc.get('file', DASH)}; missing calls {fmt_sig(100 * qc.get('input', {}).get('missing_share', 0))} %.")]
    removed = []
    for kind, reasons in (qc.get("removed") or {}).items():
        for reason, count in (reasons or {}).items():
            removed.append((text(kind), text(reason), fmt_count(count)))
    if removed:
        tables.append(Table("Removed by the genotype QC", ("kind", "reason", "count"), tuple(removed),
                            (False, False, True), "every removal is listed in results/clean/genotypes_rejected.parquet."))
    po = qc.get("parent_offspring") or {}
    dup = qc.get("duplicates") or {}
    stats = [
        ("call rate per SNP", _quantiles(qc.get("call_rate_snp"))),
        ("call rate per animal", _quantiles(qc.get("call_rate_animal"))),
        ("minor allele frequency", _quantiles(qc.get("maf"))),
        ("parent–offspring conflict rate", _quantiles(po.get("conflict_rate"))),
    ]
    tables.append(Table("Distributions (min / 5 % / median / 95 % / max)", ("quantity", "quantiles"), tuple(stats),
                        (False, False), ""))
    checks = [
        ("parent–offspring pairs checked", fmt_count(po.get("pairs_checked", 0))),
        ("pairs with conflicts above the limit", fmt_count(po.get("pairs_flagged", 0))),
        ("duplicate genotypes (pairs)", fmt_count(dup.get("pairs", 0))),
        ("genotyped animals not in the pedigree", fmt_count((qc.get("not_in_pedigree") or {}).get("count", 0))),
    ]
    tables.append(Table("Checks", ("check", "count"), tuple(checks), (False, True), ""))
    return tables


def _relationship_tables(rel: dict) -> list[Table]:
    options = rel.get("options", {})
    rows = [
        ("relationship", text(rel.get("kind", DASH))),
        ("levels", fmt_count(rel.get("levels", 0))),
        ("genotyped animals", fmt_count(rel.get("genotyped", 0))),
        ("SNPs", fmt_count(rel.get("snps", 0))),
        ("G*", (f"(1 − {fmt_sig(options.get('blend', 0))}) G + {fmt_sig(options.get('blend', 0))} A22, tuning "
               f"{text(options.get('tune', 'none'))}, + {fmt_sig(options.get('ridge', 0))} I")),
    ]
    if rel.get("kind") == "single_step":
        rows.append(("H⁻¹", (f"A⁻¹ + [0 0; 0 {fmt_sig(options.get('tau', 1))} G*⁻¹ − "
                            f"{fmt_sig(options.get('omega', 1))} A22⁻¹]")))
    tables = [Table("Genomic relationship", ("", "value"), tuple(rows), (False, False), "")]
    cmp = rel.get("g_vs_a22")
    if cmp and cmp.get("animals", 0) >= 2:
        pairs = [
            ("mean diagonal", fmt_sig(cmp["mean_diagonal_g"]), fmt_sig(cmp["mean_diagonal_a22"])),
            ("mean off-diagonal", fmt_sig(cmp["mean_offdiagonal_g"]), fmt_sig(cmp["mean_offdiagonal_a22"])),
            ("correlation of the diagonals", fmt_sig(cmp["correlation_diagonal"]), DASH),
            ("correlation of the off-diagonals", fmt_sig(cmp["correlation_offdiagonal"]), DASH),
            ("regression of G on A22 (off-diagonal)", (f"{fmt_sig(cmp['regression_intercept'])} + "
             f"{fmt_sig(cmp['regression_slope'])} A22"), DASH),
        ]
        which = f"{fmt_count(cmp['animals'])} genotyped animals" + (" drawn at random" if cmp.get("sampled") else "")
        if cmp.get("metafounders"):
            title = "G (centred at allele frequency ½, before blending) against A^Γ22 (with metafounders)"
            advice = ("With metafounders G and A^Γ share one base: G far above or below A^Γ22 on average points at a Γ "
                      "that does not fit these genotypes (estimate it: `gamma: estimate`).")
        else:
            title = "G (VanRaden, before blending) against A22"
            advice = ("G far above or below A22 on average (or a slope far from 1) points at allele frequencies or a "
                      "base that differ from the pedigree's: consider `tune: mean` or blending.")
        tables.append(Table(title, ("", "G", "A22"), tuple(pairs), (False, True, True), f"over {which}. {advice}"))
    return tables


def _against_ebv(sol: pd.DataFrame, effect: str, pedigree_solutions: pd.DataFrame | None,
                 pedigree_model: str | None, genotyped: set[str]) -> list[Table]:
    if pedigree_solutions is None or effect is None:
        return []
    rows = []
    for trait, part in sol[sol["effect"] == effect].groupby("trait", sort=False):
        other = pedigree_solutions[(pedigree_solutions["effect"] == effect) & (pedigree_solutions["trait"] == trait)]
        both = part.merge(other, on="level", suffixes=("_g", "_p"))
        both = both[both["level"].astype(str).isin(genotyped)]
        if len(both) < 2:
            continue
        x, y = both["estimate_p"].to_numpy(float), both["estimate_g"].to_numpy(float)
        var = float(np.var(x))
        slope = float(np.cov(x, y, bias=True)[0, 1] / var) if var > 0 else float("nan")
        corr = float(np.corrcoef(x, y)[0, 1]) if var > 0 and np.std(y) > 0 else float("nan")
        rows.append((text(trait), fmt_count(len(both)), fmt_sig(corr), fmt_sig(slope), fmt_sig(float(np.mean(y - x)))))
    if not rows:
        return []
    return [Table(f"GEBV against the EBV of model {pedigree_model}",
                  ("trait", "genotyped animals", "correlation", "regression of GEBV on EBV", "mean GEBV − EBV"),
                  tuple(rows), (False, True, True, True, True),
                  "over the genotyped animals in both models.")]


def genomic_section(sol: pd.DataFrame, relationship: dict | None, genotype_qc: dict | None, *,
                    effect: str | None = None, pedigree_solutions: pd.DataFrame | None = None,
                    pedigree_model: str | None = None, genotyped: set[str] | None = None) -> dict[str, Any]:
    """{"tables": [...], "warnings": [...]} — empty without genotypes; the warnings (of the
    genotype QC and of the model's relationship) go to the top of the report. `relationship`: ``relationship`` of the
    model's mme_summary.json (None for a pedigree model); `genotype_qc`: genotype_qc.json;
    `pedigree_solutions`: the solutions of a pedigree model with the same traits (model
    `pedigree_model`), compared on the additive effect `effect` over the `genotyped` IDs."""
    tables: list[Table] = []
    warnings: list[str] = []
    if genotype_qc:
        tables += _qc_tables(genotype_qc)
        warnings += [f"Genotypes: {w}" for w in genotype_qc.get("warnings", ())]
    if relationship:
        tables += _relationship_tables(relationship)
        tables += _against_ebv(sol, effect, pedigree_solutions, pedigree_model, genotyped or set())
        warnings += [str(w) for w in relationship.get("warnings", ())]
    return {"tables": tables, "warnings": warnings}
