"""Saving and loading the kept genotype matrix.

``save_genotypes(prefix, g)`` writes, for ``prefix = results/clean/genotypes``:

- ``genotypes.npy``: the n × m int8 matrix (C order, uncompressed: ``np.load(mmap_mode="r")``
  maps it without reading it);
- ``genotypes.npy.meta.json``: henderson version, shape, and the caller's metadata (e.g. the
  input digest);
- ``genotypes.ids.parquet``: column ``id``, the animals in row order;
- ``genotypes.snps.parquet``: ``snp``, ``chromosome`` and ``position`` where known,
  ``allele_frequency`` (of the counted allele) and ``call_rate`` of the saved matrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from henderson import __version__
from henderson.errors import InputError
from henderson.genotypes.matrix import Genotypes, count
from henderson.io import sidecar_path, write_json, write_parquet


def genotype_paths(prefix: str | Path) -> dict[str, Path]:
    """The files of a saved matrix: ``matrix``, ``meta``, ``ids``, ``snps``."""
    prefix = str(prefix)
    matrix = Path(prefix + ".npy")
    return {"matrix": matrix, "meta": sidecar_path(matrix), "ids": Path(prefix + ".ids.parquet"),
            "snps": Path(prefix + ".snps.parquet")}


def snp_table(genotypes: Genotypes) -> pd.DataFrame:
    """One row per SNP: snp, chromosome and position (if known), allele_frequency, call_rate."""
    stats = count(genotypes.codes)
    table = {"snp": pd.Series(genotypes.snps, dtype=object).astype(str)}
    if genotypes.chromosome is not None:
        table["chromosome"] = pd.Series(genotypes.chromosome, dtype=object).astype(str)
    if genotypes.position is not None:
        table["position"] = np.asarray(genotypes.position, dtype=np.int64)
    table["allele_frequency"] = stats.allele_frequency
    table["call_rate"] = stats.call_rate_snp
    return pd.DataFrame(table)


def save_genotypes(prefix: str | Path, genotypes: Genotypes, meta: dict[str, Any] | None = None) -> None:
    """Write ``genotypes`` under ``prefix`` (see module doc); ``meta`` adds keys to the sidecar."""
    paths = genotype_paths(prefix)
    paths["matrix"].parent.mkdir(parents=True, exist_ok=True)
    np.save(paths["matrix"], np.ascontiguousarray(genotypes.codes, dtype=np.int8), allow_pickle=False)
    write_parquet(pd.DataFrame({"id": pd.Series(genotypes.ids, dtype=object).astype(str)}), paths["ids"])
    write_parquet(snp_table(genotypes), paths["snps"])
    full = {"henderson_version": __version__, "shape": list(genotypes.shape), "dtype": "int8",
            "missing_code": -1, **(meta or {})}
    write_json(full, paths["meta"])


def load_genotypes(prefix: str | Path, mmap: bool = True) -> Genotypes:
    """Read what :func:`save_genotypes` wrote; ``mmap``: map the matrix read-only instead of
    reading it. Checks the sidecar's shape against the matrix, the IDs and the SNPs."""
    paths = genotype_paths(prefix)
    for key in ("matrix", "meta", "ids", "snps"):
        if not paths[key].exists():
            raise InputError(f"{paths[key]}: missing; rerun the clean_genotypes rule.")
    codes = np.load(paths["matrix"], mmap_mode="r" if mmap else None, allow_pickle=False)
    with open(paths["meta"], encoding="utf-8") as handle:
        meta = json.load(handle)
    ids = pd.read_parquet(paths["ids"])["id"].to_numpy(dtype=object)
    snps = pd.read_parquet(paths["snps"])
    shape = [len(ids), len(snps)]
    if list(codes.shape) != list(meta.get("shape", [])) or list(codes.shape) != shape or codes.dtype != np.int8:
        raise InputError(
            f"{paths['matrix']}: shape {codes.shape} ({codes.dtype}) does not match its sidecar "
            f"{meta.get('shape')} or its {shape[0]} IDs and {shape[1]} SNPs; rerun the clean_genotypes rule."
        )
    return Genotypes(
        ids=ids, snps=snps["snp"].to_numpy(dtype=object), codes=codes,
        chromosome=snps["chromosome"].to_numpy(dtype=object) if "chromosome" in snps else None,
        position=snps["position"].to_numpy(dtype=np.int64) if "position" in snps else None,
    )
