"""The genomic (GBLUP) and single-step (ssGBLUP) :class:`~henderson.relationship.Relationship`.

``genomic``: K = G* over the genotyped animals (in the order of the IDs given): K⁻¹ = G*⁻¹ as a
dense block (an empty sparse part), or G_APY⁻¹ (sparse) with APY; log|G*| (log|G_APY|); diag(G*).
``single_step``: K = H over the pedigree's animals (pedigree order), K⁻¹ = H⁻¹ as A⁻¹ (sparse)
plus the dense block D = τG*⁻¹ − ωA22⁻¹ at the genotyped animals, log|H| and diag(H)
(:mod:`henderson.genomic.singlestep`). The dense blocks stay out of sparse matrices
(:mod:`henderson.dense_block`) until an exact solver merges them.

G* = ((1 − blend) G + blend A22, tuned, + ridge I) (:mod:`henderson.genomic.options`), made in
place on G with A22 a block of columns at a time (no n_g × n_g A22); G by VanRaden method 1
(:mod:`henderson.genomic.vanraden`); A22 by Colleau's method
(:mod:`henderson.genomic.pedigree_block`); G*⁻¹ by Cholesky in place
(:mod:`henderson.genomic.dense`). Peak memory: one n_g × n_g array of doubles plus blocks.

Metafounders (Legarra et al. 2015; Christensen 2015): when the pedigree's relationship is A^Γ
(:mod:`henderson.relationship_groups`), single step uses H^Γ⁻¹ = (A^Γ)⁻¹ + [0 0; 0 τG*⁻¹ −
ω(A^Γ22)⁻¹] over the animals and the metafounders (the metafounders are ungenotyped levels), and
G is centred at allele frequency ½ for every SNP (:func:`centring_frequencies`): then G and A^Γ
are on one scale (E[G_ij] = γ for base animals of one metafounder) and G is neither centred on
the data nor tuned (``tune: mean`` is refused); blending uses A^Γ22.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from henderson.dense_block import DenseBlock
from henderson.errors import ConfigError, InputError
from henderson.genomic.apy import APYInverse, apy_core_size, apy_inverse, choose_core
from henderson.genomic.dense import cholesky_inverse
from henderson.genomic.options import (
    GenomicOptions,
    TuneStats,
    adjust_g,
    blend_coefficients,
)
from henderson.genomic.pedigree_block import PedigreeBlocks, pedigree_blocks
from henderson.genomic.singlestep import GenomicInverseOf, single_step_parts
from henderson.genomic.vanraden import (
    check_codes,
    column_sums_z,
    cross_g,
    diagonal_g,
    frequencies_for,
    scale_of,
    vanraden_g,
)
from henderson.relationship import Relationship

if TYPE_CHECKING:
    from henderson.pedigree import Pedigree
    from henderson.stages.relationships import Relationships

__all__ = [
    "centring_frequencies",
    "dense_as_csc",
    "genomic_inverse",
    "genomic_relationship",
    "single_step_relationship",
    "single_step_relationships",
]

log = logging.getLogger("henderson")

_REMEDY = (
    "G* must be positive definite: add a ridge (genomic: ridge, e.g. 0.01) or blend with A22 (genomic: "
    "blend, e.g. 0.05); G is singular when there are more animals than independent SNPs, or identical "
    "genotypes (clones, duplicates)."
)


def dense_as_csc(matrix: np.ndarray) -> sp.csc_matrix:
    """A dense symmetric n × n matrix as CSC with every entry stored (no copy of the values
    when `matrix` is in Fortran order or symmetric C order)."""
    n = matrix.shape[0]
    values = matrix.T.reshape(-1) if matrix.flags.c_contiguous else matrix.reshape(-1, order="F")
    index_dtype = np.int32 if n * n < np.iinfo(np.int32).max else np.int64
    indices = np.tile(np.arange(n, dtype=index_dtype), n)
    indptr = np.arange(0, n * n + 1, n, dtype=index_dtype)
    out = sp.csc_matrix((values, indices, indptr), shape=(n, n))
    out.has_sorted_indices = True
    return out


def _ids(ids: Sequence[str] | np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray([str(i) for i in ids], dtype=object)
    if arr.size != n:
        raise InputError(f"genotypes: {arr.size} IDs for {n} rows of genotype codes.")
    uniq, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise InputError(f"genotypes: animal(s) {list(uniq[counts > 1][:10])} are genotyped more than once; keep one row each.")
    return arr


def _core(options: GenomicOptions, ids: np.ndarray) -> np.ndarray | None:
    """Positions of ``options.apy_core_ids`` among the genotyped `ids` (InputError if absent)."""
    if options.apy_core_ids is None:
        return None
    index = {v: k for k, v in enumerate(ids)}
    absent = [c for c in options.apy_core_ids if str(c) not in index]
    if absent:
        raise InputError(f"genomic: APY core animal(s) {absent[:10]} are not genotyped; list genotyped animals only.")
    return np.unique([index[str(c)] for c in options.apy_core_ids])


def genomic_inverse(
    codes: np.ndarray,
    options: GenomicOptions,
    blocks: PedigreeBlocks | None = None,
    frequencies: np.ndarray | None = None,
    *,
    core: np.ndarray | None = None,
) -> tuple[np.ndarray | APYInverse, float, np.ndarray]:
    """(G*⁻¹ dense n_g × n_g — or the factored G_APY⁻¹ when ``options.use_apy(n_g)`` —, log|G*|,
    diag(G*)) for the genotyped animals in the row order of `codes`; `blocks`: the pedigree
    blocks over the same animals in the same order (needed for blending and tuning); `core`:
    positions of given APY core animals."""
    codes = check_codes(codes)
    n = codes.shape[0]
    if options.use_apy(n):
        return _apy(codes, options, blocks, frequencies, core)
    vr = vanraden_g(codes, frequencies, block_bytes=options.block_bytes, float32=options.float32)
    g = vr.g
    del vr
    if g.dtype != np.float64:  # single precision for the product only; adjust and invert in double
        g = g.astype(np.float64, order="F")
    g = adjust_g(g, blocks if options.needs_a22 else None, options)  # A22 by blocks of columns, in place on G
    diag = np.diagonal(g).astype(float)
    ginv, logdet = cholesky_inverse(g, what="G*", remedy=_REMEDY, overwrite=True)
    return ginv, logdet, diag


def _apy(codes: np.ndarray, options: GenomicOptions, blocks: PedigreeBlocks | None, frequencies: np.ndarray | None,
         given: np.ndarray | None):
    n = codes.shape[0]
    p = frequencies_for(codes, frequencies)
    s = scale_of(p)
    if given is not None:
        size = 0
    elif options.apy_core is None:
        vr = vanraden_g(codes, p, block_bytes=options.block_bytes)
        size = apy_core_size(adjust_g(vr.g, blocks if options.needs_a22 else None, options), options.apy_fraction)
        del vr
    else:
        size = min(options.apy_core, n)
    core = np.sort(np.asarray(given, dtype=np.int64)) if given is not None else choose_core(n, size, options.apy_seed)
    noncore = np.setdiff1d(np.arange(n), core)
    log.info("APY: %d core and %d non-core animals", core.size, noncore.size)
    gcc = cross_g(codes, core, core, p, s, block_bytes=options.block_bytes)
    gcn = cross_g(codes, core, noncore, p, s, block_bytes=options.block_bytes)
    dnn = diagonal_g(codes, p, s, noncore)
    if options.needs_a22:
        if blocks is None:
            adjust_g(gcc, None, options)  # raises the ConfigError naming the missing pedigree
        w = options.blend
        acol = blocks.a22(columns=core)
        adiag = blocks.a22_diagonal()
        a, b = 0.0, 1.0
        if options.tune == "mean":
            dg = np.concatenate([np.diagonal(gcc), dnn])
            mean_g = float(np.sum(column_sums_z(codes, p) ** 2)) / (s * n * n)
            a, b = blend_coefficients(TuneStats(float(dg.mean()), mean_g),
                                      TuneStats(float(adiag.mean()), blocks.a22_mean()), options)
        gcc = b * ((1 - w) * gcc + w * acol[core]) + a
        # Gcn (n_c × n_n, the largest array) in place, a block of columns at a time
        step = max(1, options.block_bytes // (8 * max(1, core.size)))
        for j in range(0, noncore.size, step):
            blk = gcn[:, j : j + step]
            blk *= (1 - w)
            blk += w * acol[noncore[j : j + step]].T
            blk *= b
            blk += a
        del acol
        dnn = b * ((1 - w) * dnn + w * adiag[noncore]) + a
    if options.ridge > 0:
        gcc[np.diag_indices_from(gcc)] += options.ridge
        dnn = dnn + options.ridge
    diag = np.empty(n)
    diag[core] = np.diagonal(gcc)
    diag[noncore] = dnn
    inv = apy_inverse(gcc, gcn, dnn, core, noncore)
    return inv, inv.logdet, diag


def genomic_relationship(
    ids: Sequence[str] | np.ndarray,
    codes: np.ndarray,
    options: GenomicOptions,
    *,
    pedigree: Pedigree | Relationships | None = None,
    frequencies: np.ndarray | None = None,
) -> Relationship:
    """K = G* of the genotyped animals `ids` (n_g,) with int8 `codes` (n_g × m; −1 missing),
    kind ``"genomic"``. `pedigree` (a sorted Pedigree or the relationships stage's A⁻¹ + IDs)
    is needed for blending and tuning (every genotyped animal must be in it); `frequencies`:
    given allele frequencies (m,), else from the data. GBLUP without a pedigree needs
    ``GenomicOptions(blend=0.0)`` (the default blend is 0.05)."""
    codes = check_codes(codes, np.asarray(ids, dtype=object))
    ids_arr = _ids(ids, codes.shape[0])
    blocks = None
    if options.needs_a22 and pedigree is not None:
        blocks = pedigree_blocks(pedigree, ids_arr, block_bytes=options.block_bytes)
    ginv, logdet, diag = genomic_inverse(codes, options, blocks, frequencies, core=_core(options, ids_arr))
    return _genomic(ids_arr, ginv, logdet, diag)


def _genomic(ids: np.ndarray, ginv: np.ndarray | APYInverse, logdet: float, diag: np.ndarray) -> Relationship:
    """K = G* from G*⁻¹ (dense: kept as the dense block of K⁻¹) or G_APY⁻¹ (sparse)."""
    if isinstance(ginv, APYInverse):
        return Relationship(kind="genomic", levels=ids, kinv=ginv.to_sparse(), logdet=logdet, diagonal=diag)
    n = ids.size
    return Relationship(kind="genomic", levels=ids, kinv=sp.csc_matrix((n, n)), logdet=logdet, diagonal=diag,
                        dense=DenseBlock(np.arange(n), ginv))


def single_step_relationship(
    relationships: Pedigree | Relationships | Relationship,
    genotyped_ids: Sequence[str] | np.ndarray,
    codes: np.ndarray,
    options: GenomicOptions | None = None,
    *,
    frequencies: np.ndarray | None = None,
) -> Relationship:
    """K = H over the pedigree's animals (pedigree order), kind ``"single_step"``: kinv = H⁻¹ =
    A⁻¹ + [0 0; 0 τ G*⁻¹ − ω A22⁻¹], log|H|, diag(H) (:mod:`henderson.genomic.singlestep`).
    `relationships`: a sorted Pedigree, the relationships stage's result, or a pedigree
    Relationship; with metafounders (either of the last two) H^Γ over the animals and the
    metafounders (module docstring). Genotyped animals missing from it are an InputError.
    `options` default: ``GenomicOptions()``."""
    return _single_step(relationships, genotyped_ids, codes, options, frequencies, keep_genomic=False)[0]


def single_step_relationships(
    relationships: Pedigree | Relationships | Relationship,
    genotyped_ids: Sequence[str] | np.ndarray,
    codes: np.ndarray,
    options: GenomicOptions | None = None,
    *,
    frequencies: np.ndarray | None = None,
) -> tuple[Relationship, Relationship]:
    """(H, G*): the single-step relationship (:func:`single_step_relationship`) and the genomic
    one of the genotyped animals (:func:`genomic_relationship`, with A22 from the same pedigree)
    from one G*⁻¹, e.g. for SNP effects back-solved from single-step GEBV. The genomic one holds
    no array of its own: its products are G*⁻¹x = (Dx + ωA22⁻¹x)/τ from H's block D and solves
    with the sparse factor of A¹¹ (:class:`~henderson.genomic.singlestep.GenomicInverseOf`)."""
    return _single_step(relationships, genotyped_ids, codes, options, frequencies, keep_genomic=True)


def _pedigree_source(relationships):
    """(the source of A for the pedigree blocks, the metafounders among its levels or None): A^Γ
    when the relationships carry metafounders; other groups are refused."""
    rel = relationships if isinstance(relationships, Relationship) else getattr(relationships, "grouped", None)
    if rel is None or rel.groups is None:
        return (relationships if rel is None else rel), None
    if rel.groups.kind != "metafounders":
        raise ConfigError(
            f"single step with {rel.groups.kind} unknown parent groups is not supported: use metafounders "
            "(`groups.metafounders`), which single step takes as ungenotyped levels of H."
        )
    if not np.any(rel.diagonal[rel.groups.grouped.n:] > 0):
        raise ConfigError("single step with metafounders needs Γ positive definite (Γ = 0 leaves A^Γ singular).")
    return rel, rel.groups


def centring_frequencies(relationships, snps: int) -> np.ndarray | None:
    """The allele frequencies that centre G: ½ for every one of the `snps` SNPs when the pedigree
    carries metafounders (module docstring), else None (from the data, or as given)."""
    if relationships is None:
        return None
    return None if _pedigree_source(relationships)[1] is None else np.full(snps, 0.5)


def _single_step(relationships, genotyped_ids, codes, options, frequencies, *, keep_genomic: bool
                 ) -> tuple[Relationship, Relationship | None]:
    options = GenomicOptions() if options is None else options
    codes = check_codes(codes, np.asarray(genotyped_ids, dtype=object))
    ids_arr = _ids(genotyped_ids, codes.shape[0])
    source, metafounders = _pedigree_source(relationships)
    if metafounders is not None:
        if options.tune != "none":
            raise ConfigError("genomic.tune: with metafounders G is centred at ½ and on the scale of A^Γ, so it is "
                              "not tuned; set `tune: none`.")
        if frequencies is None:
            frequencies = centring_frequencies(relationships, codes.shape[1])
    blocks = pedigree_blocks(source, ids_arr, block_bytes=options.block_bytes)
    ginv, logdet_g, diag_g = genomic_inverse(codes, options, blocks, frequencies, core=_core(options, ids_arr))
    genomic = None
    if keep_genomic and isinstance(ginv, APYInverse):
        genomic = _genomic(ids_arr, ginv, logdet_g, diag_g)
    if isinstance(ginv, APYInverse) and (options.tau != 1.0 or options.omega != 1.0):
        ginv = ginv.to_dense()  # τ, ω ≠ 1: log|τG⁻¹ + (1 − ω)A22⁻¹| needs the dense block
    parts = single_step_parts(
        blocks, ginv, logdet_g, diag_g, tau=options.tau, omega=options.omega,
        max_factor_entries=options.max_factor_entries,
    )
    notes = () if parts.diagonal_exact else (
        (f"diag(H) of the {blocks.ids.size - ids_arr.size:,} ungenotyped animals is approximated by 1 + F (H⁻¹ is "
        "too large for its selected inverse): their reliabilities ignore the genomic information reaching them "
        "through genotyped relatives."),
    )
    single = Relationship(kind="single_step", levels=blocks.ids, kinv=parts.ainv, logdet=parts.logdet,
                          diagonal=parts.diagonal, notes=notes, dense=parts.block, groups=metafounders,
                          diagonal_exact=parts.diagonal_exact)
    if keep_genomic and genomic is None:
        # G*⁻¹ = (D + ωA22⁻¹)/τ as products: no second n_g × n_g array beside D
        n = ids_arr.size
        genomic = Relationship(kind="genomic", levels=ids_arr, kinv=sp.csc_matrix((n, n)), logdet=logdet_g,
                               diagonal=diag_g, dense=GenomicInverseOf(parts.block, blocks, options.tau, options.omega))
    return single, genomic
