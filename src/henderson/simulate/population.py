"""Simulated pedigree structure: yearly cohorts, parent choice, IDs, and `simulate_pedigree`.

Animals are born in ``n_generations`` yearly birth cohorts (cohort ``g`` is born in
``start_year + g``). Cohort 0 is the base: its animals have unknown parents. The parents of
cohort ``g >= 1`` come from earlier cohorts, so generations overlap: sires are males born in the
previous ``SIRE_YEARS`` cohorts, dams are females born in the previous ``DAM_YEARS`` cohorts. Only
``ceil(sire_fraction * cohort_size)`` sires (at least 2, at most ``max_sires``) are used per
cohort, a sire is not mated to his own recorded daughters, and dams are culled to the best
``DAM_KEEP`` of the candidates, so inbreeding accrues. After the base, a small fraction of
sires and of dams is recorded as unknown (``"0"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from henderson.simulate.spec import _check_pedigree_args

SIRE_YEARS = 3
"""Males born in the previous ``SIRE_YEARS`` cohorts are sire candidates."""
DAM_YEARS = 5
"""Females born in the previous ``DAM_YEARS`` cohorts are dam candidates."""
DAM_KEEP = 0.6
"""Fraction of the dam candidates kept for breeding (the best ones when selecting)."""


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
