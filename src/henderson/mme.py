"""Henderson's mixed model equations for given variances, their solution and prediction error
variances.

Model: y = X b + Σ_k Z_k u_k + e, e ~ N(0, I σ²_e). Random effects come in covariance groups: the
effects of group g share one relationship matrix K_g (e.g. direct and maternal additive effects,
K = A) and have covariance G0_g ⊗ K_g, with G0_g (k_g × k_g) their variance-covariance matrix; an
effect on its own is a group with k_g = 1, covariance K σ². With W = [X Z_1 … Z_m] the coefficient
matrix and right-hand side are

    C = W'W / σ²_e + blockdiag(0_p, G0_1⁻¹ ⊗ K_1⁻¹, …),    r = W'y / σ²_e,

so that C ŝ = r gives BLUE b̂ and BLUP û, and C⁻¹ is the sampling covariance of b̂ and the
prediction error covariance of û − u (PEV = diag of the random part of C⁻¹, in trait units²).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.design import FixedDesign, RandomDesign
from henderson.errors import ConfigError
from henderson.linalg import SparseCholesky

SOLUTION_COLUMNS = ["trait", "effect", "level", "estimate", "se", "reliability"]


@dataclass(frozen=True)
class MixedModel:
    """The data side of the MME, independent of variances.

    y: (n,) records; fixed: X with labels; random: Z_k, K_k⁻¹ per random effect, in unknown
    order; groups: indices into `random` of each covariance group (consecutive effects sharing
    K); wtw: (N × N) W'W, wty: (N,) W'y, yty: y'y, with N = p + Σ q_k unknowns.
    """

    trait: str
    y: np.ndarray
    fixed: FixedDesign
    random: tuple[RandomDesign, ...]
    groups: tuple[tuple[int, ...], ...]
    wtw: sp.csc_matrix
    wty: np.ndarray
    yty: float

    @property
    def n_records(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_fixed(self) -> int:
        return self.fixed.n_columns

    @property
    def offsets(self) -> np.ndarray:
        """Start of each block of unknowns: fixed, then each random effect; last entry = N."""
        sizes = [self.n_fixed] + [r.matrix.shape[1] for r in self.random]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_unknowns(self) -> int:
        return int(self.offsets[-1])


def build_mixed_model(
    trait: str,
    y: np.ndarray,
    fixed: FixedDesign,
    random: tuple[RandomDesign, ...],
    groups: tuple[tuple[int, ...], ...] | None = None,
) -> MixedModel:
    """Form W'W, W'y and y'y once; variances enter only in `coefficient_matrix`.

    groups: covariance groups as tuples of consecutive indices into `random` whose effects share
    K (same q); default: every effect on its own.
    """
    groups = tuple(tuple(g) for g in groups) if groups is not None else tuple((k,) for k in range(len(random)))
    flat = [k for g in groups for k in g]
    if flat != list(range(len(random))):
        raise ValueError("groups must list every random effect once, in order, as consecutive runs")
    for g in groups:
        if len({random[k].matrix.shape[1] for k in g}) != 1:
            raise ValueError("effects of one covariance group must have the same number of levels")
    w = sp.hstack([fixed.matrix] + [r.matrix for r in random], format="csc")
    y = np.asarray(y, dtype=float)
    return MixedModel(
        trait=trait,
        y=y,
        fixed=fixed,
        random=tuple(random),
        groups=groups,
        wtw=sp.csc_matrix(w.T @ w),
        wty=np.asarray(w.T @ y).ravel(),
        yty=float(y @ y),
    )


def reduced_model(model: MixedModel, keep: Sequence[int]) -> MixedModel:
    """`model` without the random effects whose indices are not in `keep` (e.g. effects whose
    variance is zero: their BLUPs are 0 and they drop out of the equations exactly)."""
    off = model.offsets
    index = np.concatenate(
        [np.arange(model.n_fixed)] + [np.arange(off[k + 1], off[k + 2]) for k in keep]
    ).astype(np.int64)
    renumber = {k: i for i, k in enumerate(keep)}
    groups = tuple(tuple(renumber[k] for k in group if k in renumber) for group in model.groups)
    return MixedModel(
        trait=model.trait,
        y=model.y,
        fixed=model.fixed,
        random=tuple(model.random[k] for k in keep),
        groups=tuple(g for g in groups if g),
        wtw=sp.csc_matrix(model.wtw[index][:, index]),
        wty=model.wty[index],
        yty=model.yty,
    )


def covariance_key(a: str, b: str) -> str:
    """Config key of the covariance between random effects a and b (`a.b`, in model order)."""
    return f"{a}.{b}"


def group_covariances(model: MixedModel, variances: Mapping[str, float]) -> list[np.ndarray]:
    """G0_g (k_g × k_g) of every covariance group, from `{effect: σ², "a.b": σ_ab, ...}`.

    A covariance absent from `variances` is zero."""
    out = []
    for group in model.groups:
        names = [model.random[k].name for k in group]
        g0 = np.zeros((len(names), len(names)))
        for i, a in enumerate(names):
            g0[i, i] = float(variances[a])
            for j in range(i):
                b = names[j]
                value = variances.get(covariance_key(b, a), variances.get(covariance_key(a, b), 0.0))
                g0[i, j] = g0[j, i] = float(value)
        out.append(g0)
    return out


def ginv_blocks(model: MixedModel, variances: Mapping[str, float]) -> sp.csc_matrix:
    """blockdiag(0_p, G0_g⁻¹ ⊗ K_g⁻¹ …): the inverse covariance of the random effects, N × N."""
    blocks = [sp.csc_matrix((model.n_fixed, model.n_fixed))]
    for group, g0 in zip(model.groups, group_covariances(model, variances)):
        names = [model.random[k].name for k in group]
        try:
            np.linalg.cholesky(g0)
        except np.linalg.LinAlgError:
            raise ConfigError(
                f"the (co)variances of {names} are not positive definite: {g0.tolist()}."
            ) from None
        kinv = model.random[group[0]].kinv
        blocks.append(sp.kron(sp.csc_matrix(np.linalg.inv(g0)), kinv, format="csc"))
    return sp.block_diag(blocks, format="csc")


def coefficient_matrix(model: MixedModel, variances: Mapping[str, float]) -> tuple[sp.csc_matrix, np.ndarray]:
    """C (N × N, symmetric positive definite) and r (N,) for the given variances."""
    residual = float(variances["residual"])
    if not residual > 0:
        raise ConfigError(f"the residual variance must be positive, got {residual}.")
    lhs = model.wtw / residual + ginv_blocks(model, variances)
    return sp.csc_matrix(lhs), model.wty / residual


@dataclass(frozen=True)
class MMESolution:
    """Solutions ŝ (N,) and diag(C⁻¹) (N,) of the mixed model equations; `seconds` per step."""

    estimates: np.ndarray
    inverse_diagonal: np.ndarray
    seconds: Mapping[str, float] = field(default_factory=dict)


def solve_mme(model: MixedModel, variances: Mapping[str, float], factor: SparseCholesky | None = None) -> MMESolution:
    """Factor C by sparse Cholesky (analysis reused when `factor` is given), solve, and take
    diag(C⁻¹) from the selected inverse on the factor's pattern."""
    clock = time.perf_counter()
    seconds = {}
    lhs, rhs = coefficient_matrix(model, variances)
    seconds["assemble"] = time.perf_counter() - clock
    factor = factor if factor is not None else SparseCholesky(lhs)
    seconds["analyse"] = time.perf_counter() - clock - sum(seconds.values())
    factor.factorize(lhs)
    estimates = factor.solve(rhs)
    seconds["factorize_solve"] = time.perf_counter() - clock - sum(seconds.values())
    diagonal = factor.inverse_diagonal()
    seconds["selected_inverse"] = time.perf_counter() - clock - sum(seconds.values())
    return MMESolution(estimates=estimates, inverse_diagonal=diagonal, seconds=seconds)


def solve_with_boundary(model: MixedModel, variances: Mapping[str, float]) -> tuple[pd.DataFrame, MMESolution]:
    """Solutions table of `model`, where random effects with zero variance (at the REML
    boundary) are left out of the equations and reported with estimate 0 and no se or
    reliability (their prediction is exactly 0 under the model)."""
    keep = [k for k, r in enumerate(model.random) if float(variances[r.name]) > 0]
    reduced = reduced_model(model, keep) if len(keep) < len(model.random) else model
    solution = solve_mme(reduced, variances)
    table = solutions_table(reduced, variances, solution)
    if len(keep) == len(model.random):
        return table, solution
    random_names = [r.name for r in model.random]
    parts = [table[~table["effect"].isin(random_names)]]
    for k, effect in enumerate(model.random):
        if k in keep:
            parts.append(table[table["effect"] == effect.name])
        else:
            parts.append(
                pd.DataFrame(
                    {
                        "trait": model.trait,
                        "effect": effect.name,
                        "level": effect.levels.astype(str),
                        "estimate": 0.0,
                        "se": np.nan,
                        "reliability": np.nan,
                    }
                )
            )
    table = pd.concat(parts, ignore_index=True)
    table["level"] = table["level"].astype(object)
    return table[SOLUTION_COLUMNS], solution


def solutions_table(model: MixedModel, variances: Mapping[str, float], solution: MMESolution) -> pd.DataFrame:
    """One row per level: trait, effect, level, estimate, se, reliability.

    Fixed effects: BLUE with se = √(C^ii); levels set to zero by the parameterisation have estimate
    0 and se null. Random effects: BLUP with se = √PEV; reliability = 1 − PEV/(σ²(1+F)) for an
    additive effect, 1 − PEV/σ² for an iid effect.
    """
    frames = []
    fixed = model.fixed
    n_all = len(fixed.effect)
    est = np.zeros(n_all)
    se = np.full(n_all, np.nan)
    est[fixed.kept] = solution.estimates[: model.n_fixed]
    se[fixed.kept] = np.sqrt(np.maximum(solution.inverse_diagonal[: model.n_fixed], 0.0))
    frames.append(
        pd.DataFrame(
            {
                "effect": fixed.effect.astype(str),
                "level": fixed.level.astype(str),
                "estimate": est,
                "se": se,
                "reliability": np.full(n_all, np.nan),
            }
        )
    )
    offsets = model.offsets
    for k, effect in enumerate(model.random):
        lo, hi = offsets[k + 1], offsets[k + 2]
        pev = solution.inverse_diagonal[lo:hi]
        prior = float(variances[effect.name]) * (
            1.0 + effect.inbreeding if effect.inbreeding is not None else np.ones(hi - lo)
        )
        reliability = 1.0 - pev / prior
        # an animal without information has PEV = prior: 1 - PEV/prior is 0 up to rounding
        reliability[(reliability < 0) & (reliability > -1e-9)] = 0.0
        frames.append(
            pd.DataFrame(
                {
                    "effect": effect.name,
                    "level": effect.levels.astype(str),
                    "estimate": solution.estimates[lo:hi],
                    "se": np.sqrt(np.maximum(pev, 0.0)),
                    "reliability": reliability,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "trait", model.trait)
    table["level"] = table["level"].astype(object)
    return table[SOLUTION_COLUMNS]
