"""Simulated pedigrees, phenotypes and true breeding values for tests, examples and benchmarks.

Population model
----------------
Animals are born in ``n_generations`` yearly birth cohorts (cohort ``g`` is born in
``start_year + g``). Cohort 0 is the base: its animals have unknown parents. The parents of
cohort ``g >= 1`` come from earlier cohorts, so generations overlap: sires are males born in the
previous ``SIRE_YEARS`` cohorts, dams are females born in the previous ``DAM_YEARS`` cohorts. Only
``ceil(sire_fraction * cohort_size)`` sires (at least 2, at most ``max_sires``) are used per
cohort, a sire is not mated to his own recorded daughters, and dams are culled to the best
``DAM_KEEP`` of the candidates, so inbreeding accrues. After the base, a small fraction of
sires and of dams is recorded as unknown (``"0"``).

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

Phenotypes
----------
For record ``r`` (0-based, taken in year ``birth_year + r``) of phenotyped animal ``i``, trait ``k``::

    y = mu_k + hy[herd, year, k] + sex_k [i is male] + b_k * age + a_ik (+ m_dam(i),k) (+ pe_ik) + e_k

with herd-year effects ``hy ~ N(0, HERD_YEAR_SHARE * (sigma2_a + sigma2_e))`` (treated as fixed
when evaluating), ``age`` the integer age in days at recording, ``pe ~ N(0, P0)`` per animal when
``records_per_animal > 1`` and ``e ~ N(0, R0)`` per record. Animals are born in their dam's herd.
With selection on, parents are chosen by truncation on the animal's own first-trait phenotype
(mean of its observed records; unphenotyped candidates rank last) or on its true breeding value.

Everything is drawn from ``numpy.random.default_rng`` streams spawned from ``seed`` (one for the
pedigree structure, one for genetic values, one for herds and records), so a given spec gives the
same tables, and without selection the pedigree equals ``simulate_pedigree(n_animals, seed)``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from henderson import __version__
from henderson.errors import ConfigError, HendersonError
from henderson.io import write_json
from henderson.pedigree import inbreeding_from_parents

Matrix = tuple[tuple[float, ...], ...]

SIRE_YEARS = 3
"""Males born in the previous ``SIRE_YEARS`` cohorts are sire candidates."""
DAM_YEARS = 5
"""Females born in the previous ``DAM_YEARS`` cohorts are dam candidates."""
DAM_KEEP = 0.6
"""Fraction of the dam candidates kept for breeding (the best ones when selecting)."""
HERD_YEAR_SHARE = 0.5
"""Herd-year effect variance as a share of ``sigma2_a + sigma2_e`` (per trait)."""
AGE_RANGE_DAYS = (150, 250)
"""Age at recording, uniform integer days (inclusive)."""
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

TBV_DECIMALS = 4
PHENOTYPE_DECIMALS = 2
INBREEDING_DECIMALS = 6


def trait_names(n_traits: int) -> list[str]:
    """Trait column names: the three named traits, then ``trait4``, ``trait5``, ..."""
    return [TRAIT_NAMES[k] if k < len(TRAIT_NAMES) else f"trait{k + 1}" for k in range(n_traits)]


# --------------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Pedigree structure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Structure:
    """Integer pedigree: 0-based parent indices (-1 unknown), cohort offsets, sex (True = male)."""

    sire: np.ndarray
    dam: np.ndarray
    cohort: np.ndarray
    offsets: np.ndarray
    male: np.ndarray


def _cohort_offsets(n_animals: int, n_generations: int) -> np.ndarray:
    size = np.full(n_generations, n_animals // n_generations, dtype=np.int64)
    size[: n_animals % n_generations] += 1
    return np.concatenate([[0], np.cumsum(size)])


def _top(candidates: np.ndarray, count: int, key: np.ndarray, scores: np.ndarray | None) -> np.ndarray:
    """The ``count`` best candidates, returned in increasing index order.

    Best means highest score (NaN ranks last), ties broken by the random ``key``; without
    scores the choice is random (smallest keys). ``candidates``, ``key``, ``scores``: ``(c,)``.
    """
    if count >= candidates.size:
        return candidates
    if scores is None:
        chosen = np.argpartition(key, count - 1)[:count]
    else:
        s = np.where(np.isnan(scores), -np.inf, scores)
        chosen = np.lexsort((key, -s))[:count]
    return np.sort(candidates[chosen])


def _build_structure(
    n_animals: int,
    rng: np.random.Generator,
    n_generations: int,
    sire_fraction: float,
    max_sires: int,
    unknown_sire: float,
    unknown_dam: float,
    score: Callable[[np.ndarray], np.ndarray] | None = None,
    on_cohort: Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> _Structure:
    """Draw the pedigree cohort by cohort.

    ``score(candidates)`` ranks parent candidates (higher is better; None: random choice);
    ``on_cohort(start, stop, sire, dam, male)`` is called once the parents of animals
    ``start..stop-1`` are set (the arrays passed are those being filled), so that their genetic
    values and records exist before the next cohort's parents are chosen. Every cohort makes the
    same random draws whatever ``score`` returns.
    """
    offsets = _cohort_offsets(n_animals, n_generations)
    sire = np.full(n_animals, -1, dtype=np.int64)
    dam = np.full(n_animals, -1, dtype=np.int64)
    male = np.zeros(n_animals, dtype=bool)
    cohort = np.repeat(np.arange(n_generations, dtype=np.int64), np.diff(offsets))
    for g in range(n_generations):
        start, stop = int(offsets[g]), int(offsets[g + 1])
        size = stop - start
        # exactly half males (the odd one female), in random order
        sexes = np.zeros(size, dtype=bool)
        sexes[: size // 2] = True
        male[start:stop] = rng.permutation(sexes)
        if g > 0:
            lo_s, lo_d = int(offsets[max(0, g - SIRE_YEARS)]), int(offsets[max(0, g - DAM_YEARS)])
            cand_s = lo_s + np.flatnonzero(male[lo_s:start])
            cand_d = lo_d + np.flatnonzero(~male[lo_d:start])
            key_s, key_d = rng.random(cand_s.size), rng.random(cand_d.size)
            n_sires = min(cand_s.size, max(2, min(max_sires, math.ceil(sire_fraction * size))))
            n_dams = min(cand_d.size, max(2, math.ceil(DAM_KEEP * cand_d.size)))
            sires = _top(cand_s, n_sires, key_s, None if score is None else score(cand_s))
            dams = _top(cand_d, n_dams, key_d, None if score is None else score(cand_d))
            pick_s = rng.integers(0, n_sires, size)
            if n_dams >= size:
                pick_d = rng.permutation(n_dams)[:size]
            else:
                pick_d = rng.integers(0, n_dams, size)
            # breeders avoid mating a sire to his own (recorded) daughter: take the next sire
            own = sires[pick_s] == sire[dams[pick_d]]
            pick_s[own] = (pick_s[own] + 1) % n_sires
            lose_s = rng.random(size) < unknown_sire
            lose_d = rng.random(size) < unknown_dam
            sire[start:stop] = np.where(lose_s, -1, sires[pick_s])
            dam[start:stop] = np.where(lose_d, -1, dams[pick_d])
        if on_cohort is not None:
            on_cohort(start, stop, sire, dam, male)
    return _Structure(sire, dam, cohort, offsets, male)


def _make_ids(n: int, prefix: str = "A") -> pa.StringArray:
    """IDs ``prefix`` + zero-padded 1-based number (at least 7 digits): ``A0000001``, ...

    Built as an Arrow string array straight from a fixed-width byte buffer, which is what keeps a
    million-animal pedigree fast (pandas' ``str`` columns are Arrow-backed).
    """
    width = max(7, len(str(n)))
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = head.size + width
    numbers = np.arange(1, n + 1, dtype=np.int64)
    buf = np.empty((n, size), dtype=np.uint8)
    buf[:, : head.size] = head
    for k in range(width):
        buf[:, size - 1 - k] = 48 + (numbers // 10**k) % 10
    offsets = np.arange(0, n * size + 1, size, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf)).cast(pa.string())


def _take(labels: pa.Array, index: np.ndarray) -> pd.Series:
    """``labels[index]`` as a pandas ``str`` Series (index: int array into labels)."""
    return pd.Series(labels.take(pa.array(index, type=pa.int64())), dtype="str")


def _pedigree_frame(structure: _Structure, start_year: int) -> tuple[pd.DataFrame, pa.Array]:
    """Pedigree table and the Arrow array of IDs (row i has ID ``ids[i]``)."""
    n = structure.sire.size
    ids = _make_ids(n)
    labels = pa.concat_arrays([pa.array(["0"], type=pa.string()), ids])
    frame = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="str"),
            "sire": _take(labels, structure.sire + 1),
            "dam": _take(labels, structure.dam + 1),
            "birth_year": (start_year + structure.cohort).astype(np.int64),
            "sex": _take(_SEX_LABELS, structure.male.astype(np.int64)),
        }
    )
    return frame, ids


_SEX_LABELS = pa.array(["F", "M"], type=pa.string())


def simulate_pedigree(
    n_animals: int,
    seed: int,
    *,
    n_generations: int = 10,
    sire_fraction: float = 0.02,
    max_sires: int = 100,
    unknown_sire: float = 0.03,
    unknown_dam: float = 0.02,
    start_year: int = 2010,
) -> pd.DataFrame:
    """Simulate a pedigree with random mating and overlapping generations (see module doc).

    Args:
        n_animals: number of animals ``n >= 10 * n_generations``.
        seed: seed of the random draws.
        n_generations: yearly birth cohorts; cohort 0 is the base (unknown parents).
        sire_fraction: sires used per cohort, as a fraction of its size (at least 2).
        max_sires: at most this many sires per cohort.
        unknown_sire, unknown_dam: fraction of non-base animals with that parent unknown.
        start_year: birth year of the base cohort.

    Returns:
        DataFrame of n rows, parents before offspring, columns ``id`` (``"A0000001"``, ...,
        zero-padded to at least 7 digits, increasing with row), ``sire`` and ``dam`` (an earlier
        ``id`` or ``"0"`` when unknown), ``birth_year`` (int64) and ``sex`` (``"M"``/``"F"``).
        Equal to ``simulate(SimulationSpec(n, seed, selection="none", ...)).pedigree``.

    Raises:
        ConfigError: an argument out of range.
    """
    _check_pedigree_args(
        n_animals, seed, n_generations, sire_fraction, max_sires, unknown_sire, unknown_dam, start_year,
        "simulate_pedigree: ",
    )
    rng_ped, _, _ = _streams(seed)
    structure = _build_structure(
        n_animals, rng_ped, n_generations, sire_fraction, max_sires, unknown_sire, unknown_dam
    )
    frame, _ = _pedigree_frame(structure, start_year)
    return frame


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators: pedigree structure, genetic values, herds and records."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3)]


def _mendelian_factor(sire: np.ndarray, dam: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``b_i = 1/2 - (F_s + F_d)/4`` with an unknown parent counting as F = 0 (both ``(n,)``)."""
    fs = np.where(sire >= 0, f[np.maximum(sire, 0)], 0.0)
    fd = np.where(dam >= 0, f[np.maximum(dam, 0)], 0.0)
    return 0.5 - (fs + fd) / 4.0


# --------------------------------------------------------------------------------------------
# Full simulation
# --------------------------------------------------------------------------------------------


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

    def on_cohort(start: int, stop: int, sire: np.ndarray, dam: np.ndarray, male: np.ndarray) -> None:
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
        if chol_pe is not None:
            pe[start:stop] = rng_gen.standard_normal((size, t)) @ chol_pe.T
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
    return SimulatedData(pedigree=pedigree, phenotypes=phenotypes, truth=truth, parameters=parameters)


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

    return {
        "generator": f"henderson.simulate (henderson {__version__})",
        "seed": spec.seed,
        "arguments": _command_line(spec),
        "spec": {k: (matrix(v) if k.endswith("covariance") else v) for k, v in asdict(spec).items()},
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
            "mendelian_sampling": "variance (1/2 - (F_sire + F_dam)/4) G0 with the parents' exact F",
            "unknown_parents": "unrelated, non-inbred base animals with values drawn from N(0, G0)",
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


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


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
    reference = SimulationSpec(
        n_animals=spec.n_animals, seed=spec.seed, n_generations=spec.n_generations,
        n_herds=spec.n_herds, traits=spec.traits, maternal=spec.maternal,
        records_per_animal=spec.records_per_animal, fraction_phenotyped=spec.fraction_phenotyped,
        selection=spec.selection, missing_fraction=spec.missing_fraction, h2=spec.h2,
    )
    text = " ".join(args)
    if asdict(reference) != asdict(spec):
        text += " (plus SimulationSpec settings the command line does not offer; see truth.json)"
    return text


def _num(x: float) -> str:
    """Shortest exact text of a float that YAML 1.1 readers (PyYAML) also read as a float."""
    text = repr(float(x))
    if text.endswith(".0"):
        return text[:-2]  # 20.0 -> 20
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"  # PyYAML reads 1e-05 as a string, 1.0e-05 as a float
    return text


def _yaml_matrix(arr: Matrix) -> str:
    if len(arr) == 1:
        return _num(arr[0][0])
    return "[" + ", ".join("[" + ", ".join(_num(v) for v in row) + "]" for row in arr) + "]"


def config_yaml(spec: SimulationSpec) -> str:
    """Text of ``config/config.yaml`` that evaluates the simulated files at the true variances."""
    names = spec.trait_names
    model = names[0] if len(names) == 1 else "multi_trait"
    lines = [
        f"# Generated by the henderson {__version__} simulator, with the arguments: {_command_line(spec)}",
        "# Paths are relative to the simulation directory; variances are the simulated ones",
        "# (true values in truth.csv, every parameter in truth.json).",
        "pedigree: pedigree.csv",
        "phenotypes: phenotypes.csv",
        "id_column: id",
        'unknown_parent: ["0", "NA", "", "."]',
        "models:",
        f"  {model}:",
        f"    traits: [{', '.join(names)}]",
        "    fixed: [herd_year, sex]",
        "    covariates: [age]",
        "    random:",
        "      animal: additive",
    ]
    variances = [("animal", spec.genetic_covariance)]
    if spec.maternal:
        lines.append("      dam: {type: maternal, column: dam, of: animal}")
        variances += [("dam", spec.maternal_covariance), ("animal.dam", spec.direct_maternal_covariance)]
    if spec.pe_covariance is not None:
        lines.append("      pe: {type: iid, column: id}")
        variances.append(("pe", spec.pe_covariance))
    variances.append(("residual", spec.residual_covariance))
    if spec.maternal:
        lines.append("    # animal.dam: covariance of the direct effect (rows) with the maternal effect (columns)")
    if len(names) == 1:
        inner = ", ".join(f"{key}: {_yaml_matrix(val)}" for key, val in variances if val is not None)
        lines.append(f"    variances: {{{inner}}}")
    else:
        lines.append("    variances:")
        lines += [f"      {key}: {_yaml_matrix(val)}" for key, val in variances if val is not None]
    lines.append("    estimate: none")
    return "\n".join(lines) + "\n"


def write_simulation(data: SimulatedData, out_dir: str | Path) -> None:
    """Write ``pedigree.csv``, ``phenotypes.csv``, ``truth.csv``, ``truth.json`` and
    ``config/config.yaml`` into ``out_dir`` (created if needed). Same data, same bytes.

    Missing trait values are written as empty cells.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory; choose another --out.")
    spec = SimulationSpec(**data.parameters["spec"])
    csv = {"index": False, "lineterminator": "\n", "na_rep": ""}
    try:
        (out / "config").mkdir(parents=True, exist_ok=True)
        data.pedigree.to_csv(out / "pedigree.csv", **csv)
        data.phenotypes.to_csv(out / "phenotypes.csv", **csv)
        data.truth.to_csv(out / "truth.csv", **csv)
        write_json(data.parameters, out / "truth.json")
        with open(out / "config" / "config.yaml", "w", encoding="utf-8") as handle:
            handle.write(config_yaml(spec))
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the simulation there ({exc}); choose another --out.") from exc


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="henderson-simulate",
        description=(
            "Simulate a pedigree, phenotypes and true breeding values, and write pedigree.csv, "
            "phenotypes.csv, truth.csv, truth.json and config/config.yaml (a henderson "
            "configuration that evaluates them at the true variances) into --out."
        ),
    )
    add = parser.add_argument
    add("--animals", type=int, required=True, metavar="N", help="number of animals (pedigree rows)")
    add("--seed", type=int, required=True, metavar="S", help="random seed (same seed, same files)")
    add("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    add("--generations", type=int, default=10, metavar="G", help="yearly birth cohorts (default 10)")
    add("--herds", type=int, default=20, metavar="H", help="number of herds (default 20)")
    add("--traits", type=int, default=1, metavar="T", help="number of traits (default 1)")
    parser.add_argument(
        "--maternal", action="store_true", help="add a maternal genetic effect of the dam"
    )
    parser.add_argument(
        "--records-per-animal", type=int, default=1, metavar="K",
        help="records per phenotyped animal; above 1 adds a permanent environment effect",
    )
    parser.add_argument(
        "--h2", type=float, default=None, metavar="H2",
        help="heritability; sets the residual variances (default: sigma2_a 20, sigma2_e 40)",
    )
    parser.add_argument(
        "--selection", choices=SELECTION_METHODS, default="phenotype",
        help="how parents are chosen: truncation on own phenotype (default), on true BV, or none",
    )
    parser.add_argument(
        "--fraction-phenotyped", type=float, default=0.8, metavar="P",
        help="fraction of animals with records (default 0.8)",
    )
    parser.add_argument(
        "--missing-fraction", type=float, default=None, metavar="P",
        help="fraction of trait values missing per record (default 0.1 with several traits)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and message (or --help)
        return int(exc.code or 0)
    try:
        spec = SimulationSpec(
            n_animals=args.animals, seed=args.seed, n_generations=args.generations,
            n_herds=args.herds, traits=args.traits, maternal=args.maternal,
            records_per_animal=args.records_per_animal, h2=args.h2, selection=args.selection,
            fraction_phenotyped=args.fraction_phenotyped, missing_fraction=args.missing_fraction,
        )
        data = simulate(spec)
        write_simulation(data, args.out)
    except HendersonError as exc:
        message = re.sub(r"SimulationSpec\.(\w+)", lambda m: _FLAGS.get(m.group(1), m.group(1)), str(exc))
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    summary = data.parameters["summary"]
    print(
        f"wrote {summary['n_animals']} animals, {summary['n_records']} records "
        f"(mean inbreeding {summary['mean_inbreeding']:.4f}) to {args.out}"
    )
    return 0


_FLAGS = {
    "n_animals": "--animals", "n_generations": "--generations", "n_herds": "--herds",
    "records_per_animal": "--records-per-animal", "fraction_phenotyped": "--fraction-phenotyped",
    "missing_fraction": "--missing-fraction", "traits": "--traits", "seed": "--seed", "h2": "--h2",
    "residual_covariance": "the residual covariance",
}


if __name__ == "__main__":
    sys.exit(main())
