"""SNP effects back-solved from genomic breeding values (VanRaden 2008; Wang et al. 2012).

Under G = Z Z' / s (s = 2Σpq) the GEBV â = Z ĝ, so the marker effects that give â are ::

    ĝ = (1/s) Z' G*⁻¹ â                  (m,)

with the same allele frequencies p (Z = M − 2p, missing → 0) as G. For single step use â of the
genotyped animals and G*⁻¹ of the same options (Wang et al. 2012 with D = I): build the genomic
relationship of the genotyped animals with :func:`henderson.genomic.genomic_relationship` and pass
it here. A genotyped animal predicted later gets z' ĝ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from henderson.errors import InputError
from henderson.genomic.vanraden import (
    centred_block,
    check_codes,
    frequencies_for,
    scale_of,
)
from henderson.relationship import Relationship

__all__ = ["snp_effects"]


def snp_effects(
    codes: np.ndarray,
    gebv: np.ndarray | pd.Series,
    genomic: Relationship,
    *,
    frequencies: np.ndarray | None = None,
    snp_names: Sequence[str] | None = None,
    block: int = 4096,
) -> pd.DataFrame:
    """Frame (snp, estimate) of ĝ = (1/s) Z' K⁻¹ â (module docstring). `codes` (n_g × m) and
    `gebv` (n_g,) in the order of ``genomic.levels`` (a Series is aligned on them by index);
    K⁻¹ of `genomic` is G*⁻¹ (its dense block) or G_APY⁻¹; `frequencies` as used for G (default:
    from `codes`)."""
    codes = check_codes(codes)
    n, m = codes.shape
    if n != genomic.q:
        raise InputError(f"SNP effects: {n} genotyped animals' codes for a relationship of {genomic.q} animals.")
    if isinstance(gebv, pd.Series):
        a = gebv.reindex(genomic.levels.astype(str))
        if a.isna().any():
            raise InputError(f"SNP effects: no GEBV for animal(s) {list(a.index[a.isna()][:10])}.")
        a = a.to_numpy(dtype=float)
    else:
        a = np.asarray(gebv, dtype=float)
    if a.shape != (n,):
        raise InputError(f"SNP effects: {a.shape} GEBV for {n} genotyped animals.")
    p = frequencies_for(codes, frequencies)
    s = scale_of(p)
    alpha = genomic.kinv_times(a)
    g = np.zeros(m)
    for i in range(0, n, block):
        g += centred_block(codes[i : i + block], p).T @ alpha[i : i + block]
    names = [f"snp{j + 1}" for j in range(m)] if snp_names is None else [str(x) for x in snp_names]
    if len(names) != m:
        raise InputError(f"SNP effects: {len(names)} SNP names for {m} SNPs.")
    return pd.DataFrame({"snp": names, "estimate": g / s})
