"""Simulated genetic values and phenotype records: `simulate` and its result `SimulatedData`.

Genetics
--------
With ``q`` genetic effects per animal (``q = t`` direct effects, or ``2t`` when a maternal effect
is simulated: ``[a_1..a_t, m_1..m_t]``) and base covariance ``G0`` (q x q):

* every animal: ``u_i = (u_s + u_d) / 2 + phi_i``, ``phi_i ~ N(0, b_i G0)`` with the Mendelian
  sampling factor ``b_i = 1/2 - (F_s + F_d) / 4``, where ``F_s, F_d`` are the parents' true
  inbreeding coefficients (exact, from `henderson.pedigree`, cohort by cohort);
* an unknown parent is an unrelated, non-inbred base animal outside the pedigree: its
  ``u ~ N(0, G0)`` is drawn but not recorded. Founders thus have ``u_i ~ N(0, G0)``, and the
  maternal effect on a record of an animal with unknown dam is that unrecorded dam's ``m``.

The recorded pedigree is therefore exact for the simulated values: the numerator relationship
matrix of ``pedigree.csv`` is the true covariance structure, ``Var(u) = A (x) G0``. (The maternal
effects of unrecorded dams are not in the pedigree; a model sees them as residual noise.)

With ``spec.qtl = K > 0`` the values come from the genome instead: ``u_i = sum_k (x_ik - 2 p_k)
alpha_k`` over K QTL dropped through the pedigree cohort by cohort together with the SNPs, with
base covariance exactly ``G0`` (:mod:`henderson.simulate.qtl`). ``A (x) G0`` is then their
expected covariance, and the realised one follows the genome, which genotypes can see.

Phenotypes
----------
For record ``r`` (0-based, taken in year ``birth_year + r``) of phenotyped animal ``i``, trait ``k``::

    y = mu_k + hy[herd, year, k] + sex_k [i is male] + b_k * age + a_ik (+ m_dam(i),k) (+ pe_ik) + e_k

with herd-year effects ``hy ~ N(0, HERD_YEAR_SHARE * (sigma2_a + sigma2_e))`` (treated as fixed
when evaluating), ``age`` the integer age in days at recording, ``pe ~ N(0, P0)`` per animal when
``records_per_animal > 1`` and ``e ~ N(0, R0)`` per record. Animals are born in their dam's herd.
With selection on, parents are chosen by truncation on the animal's own first-trait phenotype
(mean of its observed records; unphenotyped candidates rank last) or on its true breeding value.
The pedigree structure is described in `henderson.simulate.population`.

Everything is drawn from ``numpy.random.default_rng`` streams spawned from ``seed`` (one for the
pedigree structure, one for genetic values, one for herds and records), so a given spec gives the
same tables, and without selection the pedigree equals ``simulate_pedigree(n_animals, seed)``.
Genotypes draw from a fourth stream and QTL (choice, effects, alleles of unrecorded dams) from a
fifth, so that SNPs without QTL leave the other tables as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from henderson import __version__
from henderson.genotypes import Genotypes
from henderson.pedigree import inbreeding_from_parents
from henderson.simulate.genotypes import (
    HISTORY_SIZE,
    GeneDropping,
    choose_genotyped,
    simulate_genotypes,
    snp_names,
)
from henderson.simulate.population import (
    _SEX_LABELS,
    DAM_KEEP,
    DAM_YEARS,
    SIRE_YEARS,
    _build_structure,
    _cohort_offsets,
    _pedigree_frame,
    _streams,
    _Structure,
    _take,
)
from henderson.simulate.qtl import QtlEffects, draw_qtl, qtl_names
from henderson.simulate.spec import (
    Matrix,
    SimulationSpec,
    _command_line,
    _trait_defaults,
)

HERD_YEAR_SHARE = 0.5
"""Herd-year effect variance as a share of ``sigma2_a + sigma2_e`` (per trait)."""
AGE_RANGE_DAYS = (150, 250)
"""Age at recording, uniform integer days (inclusive)."""
TBV_DECIMALS = 4
PHENOTYPE_DECIMALS = 2
INBREEDING_DECIMALS = 6


def _mendelian_factor(sire: np.ndarray, dam: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``b_i = 1/2 - (F_s + F_d)/4`` with an unknown parent counting as F = 0 (both ``(n,)``)."""
    fs = np.where(sire >= 0, f[np.maximum(sire, 0)], 0.0)
    fd = np.where(dam >= 0, f[np.maximum(dam, 0)], 0.0)
    return 0.5 - (fs + fd) / 4.0


@dataclass(frozen=True)
class SimulatedData:
    """A simulated evaluation data set.

    Attributes:
        pedigree: columns id, sire, dam, birth_year, sex (see :func:`simulate_pedigree`).
        phenotypes: one row per record: id, herd_year (``"H03_2021"``), sex, age (days, int),
            dam (maternal runs only), then one float column per trait (NaN = missing).
        truth: one row per animal: id, ``tbv_<trait>``, ``mtbv_<trait>`` (maternal),
            ``pe_<trait>`` (repeated records), inbreeding.
        parameters: every simulated parameter (spec, covariances, fixed effects, seed), JSON-able.
    """

    pedigree: pd.DataFrame
    phenotypes: pd.DataFrame
    truth: pd.DataFrame
    parameters: dict[str, Any]
    genotypes: Genotypes | None = None
    """SNP genotypes of the genotyped animals (``spec.snps > 0``), see
    :mod:`henderson.simulate.genotypes`."""
    snps: pd.DataFrame | None = None
    """One row per SNP: snp, chromosome, position, allele_frequency (the base population's p)."""
    qtl: pd.DataFrame | None = None
    """One row per QTL (``spec.qtl > 0``): qtl, chromosome, position, allele_frequency,
    ``effect_<trait>`` (and ``meffect_<trait>``), see :class:`henderson.simulate.qtl.QtlEffects`."""
    qtl_genotypes: Genotypes | None = None
    """Genotypes at the QTL of the genotyped animals (same rows as `genotypes`); not written, as
    a SNP chip would not see them."""


def _fixed_effect_values(spec: SimulationSpec) -> dict[str, np.ndarray]:
    names = spec.trait_names
    defaults = _trait_defaults(names)
    va = np.diag(np.array(spec.genetic_covariance))
    ve = np.diag(np.array(spec.residual_covariance))
    sd_scale = np.sqrt((va + ve) / np.array([d["va"] + d["ve"] for d in defaults]))
    return {
        "mean": np.array([d["mean"] for d in defaults]),
        "sex": np.array([d["sex"] for d in defaults]) * sd_scale,
        "age_slope": np.array([d["age_slope"] for d in defaults]) * sd_scale,
        "herd_year_variance": HERD_YEAR_SHARE * (va + ve),
    }


def _herd_labels(n_herds: int) -> np.ndarray:
    width = max(2, len(str(n_herds)))
    return np.array([f"H{h + 1:0{width}d}" for h in range(n_herds)])


def simulate(spec: SimulationSpec) -> SimulatedData:
    """Simulate pedigree, records and true values as described in the module docstring.

    Shapes: ``n = spec.n_animals`` pedigree and truth rows; about
    ``fraction_phenotyped * n * records_per_animal`` phenotype rows, ordered by animal then
    record. Values are rounded to 2 decimals (phenotypes), 4 (true values) and 6 (inbreeding),
    exactly as they are written to disk.
    """
    n, t = spec.n_animals, spec.traits
    rng_ped, rng_gen, rng_rec = _streams(spec.seed)
    g0 = spec.genetic_block()
    q = g0.shape[0]
    chol_g = np.linalg.cholesky(g0)
    chol_r = np.linalg.cholesky(np.array(spec.residual_covariance))
    chol_pe = None if spec.pe_covariance is None else np.linalg.cholesky(np.array(spec.pe_covariance))
    fixed = _fixed_effect_values(spec)
    k_rec = spec.records_per_animal
    n_years = spec.n_generations + k_rec - 1
    herd_year = rng_rec.standard_normal((spec.n_herds, n_years, t)) * np.sqrt(fixed["herd_year_variance"])
    cohort = np.repeat(
        np.arange(spec.n_generations, dtype=np.int64), np.diff(_cohort_offsets(n, spec.n_generations))
    )

    u = np.zeros((n, q))  # true genetic values [a_1..a_t | m_1..m_t]
    f = np.zeros(n)  # true inbreeding
    pe = np.zeros((n, t))
    m_dam = np.zeros((n, t))  # maternal value of the (possibly unrecorded) dam, per offspring
    herd = np.zeros(n, dtype=np.int64)
    score_value = np.full(n, np.nan)
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    lo_age, hi_age = AGE_RANGE_DAYS
    genome = qtl = None
    if spec.qtl:
        rng_snp, rng_qtl = _genome_streams(spec.seed)
        genome = GeneDropping(n, spec.snps + spec.qtl, rng_snp, ld=spec.ld, history=spec.history)
        qtl = draw_qtl(genome.frequencies, spec.qtl, g0, rng_qtl)

    def on_cohort(start: int, stop: int, sire: np.ndarray, dam: np.ndarray, male: np.ndarray) -> None:
        size = stop - start
        dm = dam[start:stop]
        if genome is not None:
            f[start:stop] = inbreeding_from_parents(sire[:stop], dam[:stop])[start:stop]
            members = np.arange(start, stop)
            genome.drop(members, sire, dam)
            u[start:stop] = qtl.values(genome.codes(members, qtl.loci))
            if spec.maternal:
                m_dam[start:stop] = _dam_maternal_values(genome, qtl, members, dm, u, t, rng_qtl)
        else:
            _polygenic(start, stop, sire, dam)
        if chol_pe is not None:
            pe[start:stop] = rng_gen.standard_normal((size, t)) @ chol_pe.T
        _records(start, stop, dm, male)

    def _polygenic(start: int, stop: int, sire: np.ndarray, dam: np.ndarray) -> None:
        size = stop - start
        s, dm = sire[start:stop], dam[start:stop]
        # Every animal, founders included, is the offspring of its parents; an unknown parent is
        # an unrecorded base animal (a "phantom", u ~ N(0, G0), F = 0). So founders get
        # u = (z1 + z2)/2 + sqrt(1/2) z0 ~ N(0, G0), and their records carry the maternal value
        # of their phantom dam, correlated with their own value as for any dam.
        z = rng_gen.standard_normal((3, size, q)) @ chol_g.T  # Mendelian, phantom sire, phantom dam
        b = _mendelian_factor(s, dm, f)
        # exact F of the new cohort (all its ancestors are earlier rows)
        f[start:stop] = inbreeding_from_parents(sire[:stop], dam[:stop])[start:stop]
        us = np.where((s >= 0)[:, None], u[np.maximum(s, 0)], z[1])
        ud = np.where((dm >= 0)[:, None], u[np.maximum(dm, 0)], z[2])
        u[start:stop] = 0.5 * (us + ud) + np.sqrt(b)[:, None] * z[0]
        if spec.maternal:
            m_dam[start:stop] = ud[:, t:]

    def _records(start: int, stop: int, dm: np.ndarray, male: np.ndarray) -> None:
        size = stop - start
        random_herd = rng_rec.integers(0, spec.n_herds, size)
        herd[start:stop] = np.where(dm >= 0, herd[np.maximum(dm, 0)], random_herd)
        phenotyped = np.flatnonzero(rng_rec.random(size) < spec.fraction_phenotyped)
        animals = start + np.repeat(phenotyped, k_rec)
        nr = animals.size
        year = cohort[animals] + np.tile(np.arange(k_rec), phenotyped.size)
        age = rng_rec.integers(lo_age, hi_age + 1, nr)
        e = rng_rec.standard_normal((nr, t)) @ chol_r.T
        missing = rng_rec.random((nr, t)) < spec.missing_fraction
        fallback = rng_rec.integers(0, t, nr)
        none_left = np.flatnonzero(missing.all(axis=1))
        missing[none_left, fallback[none_left]] = False
        y = (
            fixed["mean"]
            + herd_year[herd[animals], year]
            + male[animals][:, None] * fixed["sex"]
            + age[:, None] * fixed["age_slope"]
            + u[animals, :t]
            + m_dam[animals]
            + pe[animals]
            + e
        )
        y = np.round(y, PHENOTYPE_DECIMALS)
        y[missing] = np.nan
        chunks.append((animals, year, age, y))
        if spec.selection == "tbv":
            score_value[start:stop] = u[start:stop, 0]
        elif spec.selection == "phenotype":
            first = y[:, 0]
            ok = ~np.isnan(first)
            sums = np.bincount(animals[ok] - start, weights=first[ok], minlength=size)
            counts = np.bincount(animals[ok] - start, minlength=size)
            score_value[start:stop] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    score = None if spec.selection == "none" else (lambda cand: score_value[cand])
    structure = _build_structure(
        n, rng_ped, spec.n_generations, spec.sire_fraction, spec.max_sires, spec.unknown_sire,
        spec.unknown_dam,
        score=score, on_cohort=on_cohort,
    )
    pedigree, ids = _pedigree_frame(structure, spec.start_year)
    animals = np.concatenate([c[0] for c in chunks])
    year = np.concatenate([c[1] for c in chunks])
    age = np.concatenate([c[2] for c in chunks])
    y = np.concatenate([c[3] for c in chunks])
    herd_labels = _herd_labels(spec.n_herds)
    hy_labels = pa.array(
        [f"{h}_{spec.start_year + yr}" for h in herd_labels for yr in range(n_years)], type=pa.string()
    )
    columns: dict[str, Any] = {
        "id": _take(ids, animals),
        "herd_year": _take(hy_labels, herd[animals] * n_years + year),
        "sex": _take(_SEX_LABELS, structure.male[animals].astype(np.int64)),
        "age": age.astype(np.int64),
    }
    if spec.maternal:
        columns["dam"] = pedigree["dam"].iloc[animals].reset_index(drop=True)
    for k, name in enumerate(spec.trait_names):
        columns[name] = y[:, k]
    phenotypes = pd.DataFrame(columns)

    truth_cols: dict[str, Any] = {"id": pd.Series(ids, dtype="str")}
    for k, name in enumerate(spec.trait_names):
        truth_cols[f"tbv_{name}"] = np.round(u[:, k], TBV_DECIMALS)
    if spec.maternal:
        for k, name in enumerate(spec.trait_names):
            truth_cols[f"mtbv_{name}"] = np.round(u[:, t + k], TBV_DECIMALS)
    if chol_pe is not None:
        for k, name in enumerate(spec.trait_names):
            truth_cols[f"pe_{name}"] = np.round(pe[:, k], TBV_DECIMALS)
    truth_cols["inbreeding"] = np.round(f, INBREEDING_DECIMALS) + 0.0  # no "-0.0"
    truth = pd.DataFrame(truth_cols)

    parameters = _parameters(spec, fixed, herd_year, herd_labels, structure, f, len(phenotypes))
    genotypes = snps = qtl_table = qtl_genotypes = None
    if genome is not None:
        panel = np.setdiff1d(np.arange(genome.n_loci), qtl.loci)
        qtl_table = qtl.table(genome.chromosome[qtl.loci], genome.base_pairs()[qtl.loci], spec.trait_names)
        if spec.snps:
            chosen = choose_genotyped(n, spec.genotyped, rng_snp)
            id_array = pedigree["id"].astype(str).to_numpy(dtype=object)
            names = snp_names(spec.snps)
            genotypes = genome.genotypes(id_array, chosen, panel, names)
            snps = genome.locus_table(panel, names)
            qtl_genotypes = genome.genotypes(id_array, chosen, qtl.loci, qtl_names(spec.qtl))
    elif spec.snps:
        # a fourth random stream: the pedigree, genetic values and records stay as without genotypes
        rng_snp = _genome_streams(spec.seed)[0]
        genotypes, snps = simulate_genotypes(pedigree, spec.genotyped, spec.snps, rng_snp, ld=spec.ld,
                                             history=spec.history)
    return SimulatedData(pedigree=pedigree, phenotypes=phenotypes, truth=truth, parameters=parameters,
                         genotypes=genotypes, snps=snps, qtl=qtl_table, qtl_genotypes=qtl_genotypes)


def _genome_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The fourth (genotypes) and fifth (QTL) random streams of ``seed``; the first three are
    :func:`henderson.simulate.population._streams`."""
    children = np.random.SeedSequence(int(seed)).spawn(5)
    return np.random.default_rng(children[3]), np.random.default_rng(children[4])


def _dam_maternal_values(genome: GeneDropping, qtl: QtlEffects, members: np.ndarray, dam: np.ndarray,
                         u: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    """(len(members), t) maternal values of the dams of ``members`` (``dam``: their dam rows,
    -1 unknown): a recorded dam's ``m``; for an unknown dam, an unrecorded base animal, the
    ``m`` of the QTL genotype made of the allele it transmitted plus one drawn with frequency p."""
    values = u[np.maximum(dam, 0), t:]
    unknown = np.flatnonzero(dam < 0)
    if unknown.size:
        transmitted = genome.alleles(members[unknown], qtl.loci)[:, 1]
        other = rng.random((unknown.size, qtl.loci.size)) < qtl.frequencies
        values[unknown] = qtl.values(transmitted + other)[:, t:]
    return values


def _per_trait(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(names, values)}


def _parameters(
    spec: SimulationSpec,
    fixed: dict[str, np.ndarray],
    herd_year: np.ndarray,
    herd_labels: np.ndarray,
    structure: _Structure,
    f: np.ndarray,
    n_records: int,
) -> dict[str, Any]:
    names = spec.trait_names
    hy = {
        f"{herd_labels[h]}_{spec.start_year + yr}": _per_trait(names, herd_year[h, yr])
        for h in range(herd_year.shape[0])
        for yr in range(herd_year.shape[1])
    }
    non_base = structure.cohort > 0

    def matrix(value: Matrix | None) -> list[list[float]] | None:
        return None if value is None else [list(row) for row in value]

    settings = {k: (matrix(v) if k.endswith("covariance") else v) for k, v in asdict(spec).items()}
    for key in ("qtl", "history"):
        if not settings[key]:
            del settings[key]  # absent when 0: the files of a simulation without them keep their bytes
    if spec.qtl:
        genetics = {
            "genetic_values": (f"sum over {spec.qtl} QTL of (x - 2p) alpha, no polygenic part; base "
                               "covariance sum 2p(1 - p) alpha alpha' = G0 exactly (qtl.csv)"),
            "qtl_loci": (f"{spec.qtl} of the {spec.snps + spec.qtl} simulated loci, at random among those "
                         "segregating in the base; none written as a SNP"),
            "unknown_parents": "unrelated, non-inbred base animals transmitting a base-population gamete",
        }
    else:
        genetics = {
            "mendelian_sampling": "variance (1/2 - (F_sire + F_dam)/4) G0 with the parents' exact F",
            "unknown_parents": "unrelated, non-inbred base animals with values drawn from N(0, G0)",
        }

    return {
        "generator": f"henderson.simulate (henderson {__version__})",
        "seed": spec.seed,
        "arguments": _command_line(spec),
        "spec": settings,
        "traits": names,
        "variances": {
            "genetic_covariance": matrix(spec.genetic_covariance),
            "maternal_covariance": matrix(spec.maternal_covariance),
            "direct_maternal_covariance": matrix(spec.direct_maternal_covariance),
            "pe_covariance": matrix(spec.pe_covariance),
            "residual_covariance": matrix(spec.residual_covariance),
            "herd_year_variance": _per_trait(names, fixed["herd_year_variance"]),
        },
        "fixed_effects": {
            "mean": _per_trait(names, fixed["mean"]),
            "sex": {"F": _per_trait(names, np.zeros(len(names))), "M": _per_trait(names, fixed["sex"])},
            "age_slope_per_day": _per_trait(names, fixed["age_slope"]),
            "herd_year": hy,
        },
        "design": {
            "model": "y = mean + herd_year + sex + age_slope * age + a (+ m of dam) (+ pe) + e",
            **genetics,
            **({"base_haplotypes": (f"gametes of the last of {spec.history} generations of random mating in a "
                                    f"historical population of {HISTORY_SIZE} animals; allele frequencies are "
                                    "theirs")} if spec.history else {}),
            "selection": spec.selection,
            "sire_years": SIRE_YEARS,
            "dam_years": DAM_YEARS,
            "dam_keep": DAM_KEEP,
            "age_range_days": list(AGE_RANGE_DAYS),
            "record_year": "birth_year + record number (0-based)",
        },
        "summary": {
            "n_animals": int(structure.sire.size),
            "n_records": int(n_records),
            "n_unknown_sire_after_base": int((structure.sire[non_base] < 0).sum()),
            "n_unknown_dam_after_base": int((structure.dam[non_base] < 0).sum()),
            "mean_inbreeding": float(np.round(f.mean(), INBREEDING_DECIMALS)),
            "max_inbreeding": float(np.round(f.max(), INBREEDING_DECIMALS)),
        },
    }
