"""What to simulate: `SimulationSpec`, its defaults and checks, and the trait names.

Defaults per named trait (mean, sex effect, age slope, direct genetic and residual variance) and
the default genetic, residual, maternal and permanent-environment covariances live here; every
field is validated when a spec is built.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from henderson.errors import ConfigError

Matrix = tuple[tuple[float, ...], ...]

SELECTION_METHODS = ("phenotype", "tbv", "none")
TRAIT_NAMES = ("weaning_weight", "yearling_weight", "fat_depth")

# Per named trait: population mean, male-minus-female effect, slope on age (per day),
# direct genetic and residual variance. Further traits use _GENERIC_TRAIT.
_TRAIT_DEFAULTS: dict[str, dict[str, float]] = {
    "weaning_weight": {"mean": 220.0, "sex": 6.0, "age_slope": 0.05, "va": 20.0, "ve": 40.0},
    "yearling_weight": {"mean": 380.0, "sex": 10.0, "age_slope": 0.08, "va": 30.0, "ve": 50.0},
    "fat_depth": {"mean": 10.0, "sex": -0.8, "age_slope": 0.01, "va": 1.0, "ve": 2.0},
}
_GENERIC_TRAIT = {"mean": 100.0, "sex": 4.0, "age_slope": 0.05, "va": 20.0, "ve": 40.0}
# Genetic / residual correlations among the three named traits; others correlate 0.2 / 0.1.
_RG = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.3], [0.2, 0.3, 1.0]])
_RE = np.array([[1.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.0]])
_RG_OTHER, _RE_OTHER = 0.2, 0.1
_MATERNAL_RATIO = 0.5  # default sigma2_m / sigma2_a
_DIRECT_MATERNAL_CORR = -0.3  # default corr(a_k, m_k)
_PE_RATIO = 0.25  # default P0 = 0.25 R0


def trait_names(n_traits: int) -> list[str]:
    """Trait column names: the three named traits, then ``trait4``, ``trait5``, ..."""
    return [TRAIT_NAMES[k] if k < len(TRAIT_NAMES) else f"trait{k + 1}" for k in range(n_traits)]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _as_matrix(name: str, value: Any, t: int) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"SimulationSpec.{name}: not a numeric matrix ({exc}).") from exc
    if arr.ndim == 0 and t == 1:
        arr = arr.reshape(1, 1)
    if arr.shape != (t, t):
        raise ConfigError(
            f"SimulationSpec.{name}: expected a {t} x {t} matrix (one row per trait), got shape "
            f"{arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"SimulationSpec.{name}: contains a non-finite value.")
    return arr


def _check_covariance(name: str, arr: np.ndarray) -> None:
    if not np.allclose(arr, arr.T, rtol=0.0, atol=1e-12 * max(1.0, float(np.abs(arr).max()))):
        raise ConfigError(f"SimulationSpec.{name}: the matrix is not symmetric.")
    if np.linalg.eigvalsh(arr).min() <= 0.0:
        raise ConfigError(
            f"SimulationSpec.{name}: the matrix is not positive definite; check variances "
            "(> 0) and correlations (|r| < 1)."
        )


def _to_tuple(arr: np.ndarray) -> Matrix:
    return tuple(tuple(float(x) for x in row) for row in np.asarray(arr, dtype=float))


def _trait_defaults(names: list[str]) -> list[dict[str, float]]:
    return [_TRAIT_DEFAULTS.get(name, _GENERIC_TRAIT) for name in names]


def _correlation(t: int, base: np.ndarray, other: float) -> np.ndarray:
    corr = np.full((t, t), other)
    m = min(t, base.shape[0])
    corr[:m, :m] = base[:m, :m]
    np.fill_diagonal(corr, 1.0)
    return corr


def _scale(corr: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Covariance from correlations and variances, rounded to 6 decimals (so that the values
    written to config.yaml and truth.json are exactly the simulated ones)."""
    sd = np.sqrt(variances)
    cov = np.round(corr * np.outer(sd, sd), 6)
    np.fill_diagonal(cov, np.round(variances, 6))
    return cov


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate. Defaults are filled in (and every field validated) on construction.

    Attributes:
        n_animals: total number of animals (pedigree rows), ``>= 10 * n_generations``.
        seed: seed of all random draws (non-negative integer).
        n_generations: number of yearly birth cohorts, the first being the base (``>= 1``).
        n_herds: number of herds (contemporary groups are herd x year of recording).
        traits: number of traits ``t >= 1``.
        genetic_covariance: direct additive covariance ``G0_aa`` (t x t). Default: one trait
            ``sigma2_a = 20``; several traits with correlations 0.6 / 0.2 / 0.3.
        residual_covariance: residual covariance ``R0`` (t x t). Default ``sigma2_e = 40`` for
            one trait; correlations 0.5 / 0.1 / 0.2 for several.
        maternal: add a maternal genetic effect of the dam on its offspring's records.
        maternal_covariance: ``G0_mm`` (t x t), default ``0.5 * G0_aa``; None when not maternal.
        direct_maternal_covariance: ``G0_am = Cov(a, m')`` (t x t), default
            ``-0.3 * sqrt(0.5) * G0_aa`` (correlation -0.3); None when not maternal.
        records_per_animal: records per phenotyped animal; > 1 adds a permanent environment.
        pe_covariance: permanent-environment covariance ``P0`` (t x t), default ``0.25 * R0``;
            None when ``records_per_animal == 1``.
        fraction_phenotyped: probability that an animal has records (``0 < f <= 1``).
        selection: ``"phenotype"`` (truncation on own first-trait phenotype), ``"tbv"`` (on the
            true first-trait breeding value) or ``"none"`` (random parents).
        missing_fraction: probability that a trait is missing from a record (multi-trait);
            default 0.1 with several traits, 0 with one. A record keeps at least one trait.
        h2: if given, residual variances are set so that
            ``sigma2_a / (sigma2_a + sigma2_m + sigma2_pe + sigma2_e) = h2`` for every trait
            (residual correlations kept; values rounded to 6 decimals).
        sire_fraction: sires used per cohort as a fraction of the cohort size (at least 2).
        max_sires: at most this many sires per cohort (keeps inbreeding accruing in large runs).
        unknown_sire: fraction of non-base animals whose sire is recorded as unknown.
        unknown_dam: fraction of non-base animals whose dam is recorded as unknown.
        start_year: birth year of the base cohort.
        genotyped: fraction of the animals with SNP genotypes (0: none).
        snps: number of SNPs (0: no genotypes); both set or both 0.
        ld: SNPs linked on chromosomes (recombination), else unlinked.
        genotype_format: ``csv`` (genotypes.csv) or ``plink`` (genotypes.bed/.bim/.fam).
        qtl: number of QTL (0: polygenic values drawn through the pedigree). With ``K > 0`` the
            true values are ``sum_k (x_k - 2 p_k) alpha_k`` over K loci dropped through the
            pedigree beside the ``snps`` written ones, with base covariance exactly G0
            (:mod:`henderson.simulate.qtl`); ``K >= q``, the number of genetic effects.
        history: generations of random mating in a historical population of
            ``HISTORY_SIZE`` animals before the pedigree (0: base gametes in linkage
            equilibrium), which gives the base population LD (with ``ld``) and drifted allele
            frequencies (:mod:`henderson.simulate.genotypes`); needs ``snps`` or ``qtl``.
    """

    n_animals: int
    seed: int
    n_generations: int = 10
    n_herds: int = 20
    traits: int = 1
    genetic_covariance: Matrix | None = None
    residual_covariance: Matrix | None = None
    maternal: bool = False
    maternal_covariance: Matrix | None = None
    direct_maternal_covariance: Matrix | None = None
    records_per_animal: int = 1
    pe_covariance: Matrix | None = None
    fraction_phenotyped: float = 0.8
    selection: str = "phenotype"
    missing_fraction: float | None = None
    h2: float | None = None
    sire_fraction: float = 0.02
    max_sires: int = 100
    unknown_sire: float = 0.03
    unknown_dam: float = 0.02
    start_year: int = 2010
    genotyped: float = 0.0
    snps: int = 0
    ld: bool = False
    genotype_format: str = "csv"
    qtl: int = 0
    history: int = 0

    def __post_init__(self) -> None:
        _check_pedigree_args(
            self.n_animals, self.seed, self.n_generations, self.sire_fraction, self.max_sires,
            self.unknown_sire, self.unknown_dam, self.start_year, "SimulationSpec.",
        )
        for name, minimum in (("n_herds", 1), ("traits", 1), ("records_per_animal", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < minimum:
                raise ConfigError(f"SimulationSpec.{name} must be an integer >= {minimum}, got {value!r}.")
        if not isinstance(self.maternal, (bool, np.bool_)):
            raise ConfigError(f"SimulationSpec.maternal must be True or False, got {self.maternal!r}.")
        if self.selection not in SELECTION_METHODS:
            raise ConfigError(
                f"SimulationSpec.selection must be one of {list(SELECTION_METHODS)}, got {self.selection!r}."
            )
        _check_fraction("fraction_phenotyped", self.fraction_phenotyped, low_open=True)
        t = int(self.traits)
        missing = self.missing_fraction
        if missing is None:
            missing = 0.1 if t > 1 else 0.0
        _check_fraction("missing_fraction", missing, high_open=True)
        if t == 1 and missing > 0:
            raise ConfigError(
                "SimulationSpec.missing_fraction applies to several traits; use 0 with one trait."
            )
        object.__setattr__(self, "missing_fraction", float(missing))

        defaults = _trait_defaults(trait_names(t))
        if self.genetic_covariance is None:
            ga = _scale(_correlation(t, _RG, _RG_OTHER), np.array([d["va"] for d in defaults]))
        else:
            ga = _as_matrix("genetic_covariance", self.genetic_covariance, t)
        _check_covariance("genetic_covariance", ga)

        gm = gam = None
        if self.maternal:
            gm = (np.round(_MATERNAL_RATIO * ga, 6) if self.maternal_covariance is None
                  else _as_matrix("maternal_covariance", self.maternal_covariance, t))
            _check_covariance("maternal_covariance", gm)
            gam = (np.round(_DIRECT_MATERNAL_CORR * math.sqrt(_MATERNAL_RATIO) * ga, 6)
                   if self.direct_maternal_covariance is None
                   else _as_matrix("direct_maternal_covariance", self.direct_maternal_covariance, t))
            _check_covariance("genetic_covariance with maternal effects", np.block([[ga, gam], [gam.T, gm]]))
        elif self.maternal_covariance is not None or self.direct_maternal_covariance is not None:
            raise ConfigError("SimulationSpec: maternal covariances were given but maternal=False.")

        if self.residual_covariance is None:
            re = _scale(_correlation(t, _RE, _RE_OTHER), np.array([d["ve"] for d in defaults]))
        else:
            re = _as_matrix("residual_covariance", self.residual_covariance, t)
        _check_covariance("residual_covariance", re)

        pe = None
        if self.records_per_animal > 1:
            pe = (np.round(_PE_RATIO * re, 6) if self.pe_covariance is None
                  else _as_matrix("pe_covariance", self.pe_covariance, t))
            _check_covariance("pe_covariance", pe)
        elif self.pe_covariance is not None:
            raise ConfigError("SimulationSpec: pe_covariance was given but records_per_animal is 1.")

        if self.h2 is not None:
            h2 = self.h2
            if not isinstance(h2, (int, float, np.floating)) or isinstance(h2, bool) or not 0.0 < h2 < 1.0:
                raise ConfigError(f"SimulationSpec.h2 must be a number strictly between 0 and 1, got {h2!r}.")
            va = np.diag(ga)
            other = (np.diag(gm) if gm is not None else 0.0) + (np.diag(pe) if pe is not None else 0.0)
            ve = va * (1.0 - h2) / h2 - other
            if np.any(ve <= 0.0):
                raise ConfigError(
                    f"SimulationSpec.h2 = {h2}: the maternal and permanent-environment variances "
                    "already exceed the phenotypic variance this heritability allows; use a lower h2."
                )
            sd = np.sqrt(np.diag(re))
            re = _scale(re / np.outer(sd, sd), ve)
            object.__setattr__(self, "h2", float(h2))

        object.__setattr__(self, "genetic_covariance", _to_tuple(ga))
        object.__setattr__(self, "residual_covariance", _to_tuple(re))
        object.__setattr__(self, "maternal_covariance", None if gm is None else _to_tuple(gm))
        object.__setattr__(
            self, "direct_maternal_covariance", None if gam is None else _to_tuple(gam)
        )
        object.__setattr__(self, "pe_covariance", None if pe is None else _to_tuple(pe))
        object.__setattr__(self, "maternal", bool(self.maternal))
        object.__setattr__(self, "fraction_phenotyped", float(self.fraction_phenotyped))
        _check_genotype_args(self)

    @property
    def trait_names(self) -> list[str]:
        """Trait column names in trait order."""
        return trait_names(self.traits)

    def genetic_block(self) -> np.ndarray:
        """Full genetic covariance ``G0`` (q x q) of ``[a_1..a_t]`` or ``[a_1..a_t, m_1..m_t]``."""
        ga = np.array(self.genetic_covariance)
        if not self.maternal:
            return ga
        gm, gam = np.array(self.maternal_covariance), np.array(self.direct_maternal_covariance)
        return np.block([[ga, gam], [gam.T, gm]])


def _check_fraction(
    name: str, value: Any, *, low_open: bool = False, high_open: bool = False, where: str = "SimulationSpec."
) -> None:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(f"{where}{name} must be a number in {lo}0, 1{hi}, got {value!r}.")


def _check_pedigree_args(
    n_animals: Any, seed: Any, n_generations: Any, sire_fraction: Any, max_sires: Any,
    unknown_sire: Any, unknown_dam: Any, start_year: Any, where: str,
) -> None:
    """Validate the pedigree settings; ``where`` prefixes the names in messages."""
    if not _is_int(n_generations) or n_generations < 1:
        raise ConfigError(f"{where}n_generations must be an integer >= 1, got {n_generations!r}.")
    if not _is_int(n_animals) or n_animals < 10 * n_generations:
        raise ConfigError(
            f"{where}n_animals must be an integer of at least 10 animals per generation "
            f"({10 * n_generations} for {n_generations}), got {n_animals!r}; use more animals or "
            "fewer generations."
        )
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"{where}seed must be a non-negative integer, got {seed!r}.")
    if not _is_int(start_year):
        raise ConfigError(f"{where}start_year must be an integer, got {start_year!r}.")
    _check_fraction("sire_fraction", sire_fraction, low_open=True, where=where)
    if not _is_int(max_sires) or max_sires < 2:
        raise ConfigError(f"{where}max_sires must be an integer >= 2, got {max_sires!r}.")
    _check_fraction("unknown_sire", unknown_sire, high_open=True, where=where)
    _check_fraction("unknown_dam", unknown_dam, high_open=True, where=where)


def _command_line(spec: SimulationSpec) -> str:
    """The CLI arguments that reproduce ``spec`` (custom matrices noted as such)."""
    args = [
        f"--animals {spec.n_animals}", f"--seed {spec.seed}", f"--generations {spec.n_generations}",
        f"--herds {spec.n_herds}", f"--traits {spec.traits}",
        f"--records-per-animal {spec.records_per_animal}",
    ]
    if spec.maternal:
        args.append("--maternal")
    if spec.h2 is not None:
        args.append(f"--h2 {spec.h2:g}")
    if spec.selection != "phenotype":
        args.append(f"--selection {spec.selection}")
    if spec.fraction_phenotyped != 0.8:
        args.append(f"--fraction-phenotyped {spec.fraction_phenotyped:g}")
    default_missing = 0.1 if spec.traits > 1 else 0.0
    if spec.missing_fraction != default_missing:
        args.append(f"--missing-fraction {spec.missing_fraction:g}")
    if spec.snps:
        args.append(f"--genotyped {spec.genotyped:g} --snps {spec.snps}")
    if spec.qtl:
        args.append(f"--qtl {spec.qtl}")
    if spec.ld and (spec.snps or spec.qtl):
        args.append("--ld")
    if spec.history:
        args.append(f"--history {spec.history}")
    if spec.snps and spec.genotype_format != "csv":
        args.append(f"--genotype-format {spec.genotype_format}")
    reference = SimulationSpec(
        n_animals=spec.n_animals, seed=spec.seed, n_generations=spec.n_generations,
        n_herds=spec.n_herds, traits=spec.traits, maternal=spec.maternal,
        records_per_animal=spec.records_per_animal, fraction_phenotyped=spec.fraction_phenotyped,
        selection=spec.selection, missing_fraction=spec.missing_fraction, h2=spec.h2,
        genotyped=spec.genotyped, snps=spec.snps, ld=spec.ld, genotype_format=spec.genotype_format,
        qtl=spec.qtl, history=spec.history,
    )
    text = " ".join(args)
    if asdict(reference) != asdict(spec):
        text += " (plus SimulationSpec settings the command line does not offer; see truth.json)"
    return text


GENOTYPE_FORMATS = ("csv", "plink")


def _check_genotype_args(spec: SimulationSpec) -> None:
    """Genotype settings: a fraction in [0, 1], a non-negative SNP count, both set or neither;
    a QTL count of 0 or at least the number of genetic effects; history only with a genome."""
    _check_fraction("genotyped", spec.genotyped)
    if not _is_int(spec.snps) or spec.snps < 0:
        raise ConfigError(f"SimulationSpec.snps must be an integer >= 0, got {spec.snps!r}.")
    if (spec.snps > 0) != (spec.genotyped > 0):
        raise ConfigError(
            "SimulationSpec.genotyped and SimulationSpec.snps go together: give both (e.g. "
            "--genotyped 0.2 --snps 2000) or neither."
        )
    if spec.genotype_format not in GENOTYPE_FORMATS:
        raise ConfigError(
            f"SimulationSpec.genotype_format must be one of {list(GENOTYPE_FORMATS)}, got {spec.genotype_format!r}."
        )
    q = spec.traits * (2 if spec.maternal else 1)
    if not _is_int(spec.qtl) or spec.qtl < 0 or 0 < spec.qtl < q:
        raise ConfigError(
            f"SimulationSpec.qtl must be 0 (polygenic values) or an integer >= {q} (one QTL per genetic "
            f"effect at least), got {spec.qtl!r}."
        )
    object.__setattr__(spec, "genotyped", float(spec.genotyped))
    object.__setattr__(spec, "ld", bool(spec.ld))
    if not _is_int(spec.history) or spec.history < 0:
        raise ConfigError(f"SimulationSpec.history must be an integer >= 0 (generations), got {spec.history!r}.")
    if spec.history and not (spec.snps or spec.qtl):
        raise ConfigError(
            "SimulationSpec.history shapes the genome of the base population: use it with --snps or --qtl."
        )
    object.__setattr__(spec, "qtl", int(spec.qtl))
    object.__setattr__(spec, "history", int(spec.history))
