"""Solutions of the mixed model equations as a table: BLUE of the fixed effects, BLUP of the
random effects, standard errors and reliabilities.

One row per level: ``trait, effect, level, estimate, se, reliability``; rows: the fixed effects
of each trait, then every term's components (effect-major, trait by trait).

* Fixed effects: BLUE with se = √(C⁻¹)_ii; levels set to zero by the parameterisation have
  estimate 0 and no se.
* Random effects: BLUP with se = √PEV, PEV = (C⁻¹)_ii, and reliability
  ``1 − PEV / (G0_cc · diag(K)_i)`` (for A, diag(A) = 1 + F).
* A component with zero variance (at the REML boundary) is left out of the equations: its
  predictions are exactly 0 under the model, with no se or reliability.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from henderson.covariance import VarianceComponents
from henderson.model import MixedModel
from henderson.reml.boundary import ZERO_STEP, ZeroLimit
from henderson.reml.objective import Objective
from henderson.solvers import dense_blocks

__all__ = ["SOLUTION_COLUMNS", "Solved", "solution_vector", "solutions_table", "solve"]

SOLUTION_COLUMNS = ["trait", "effect", "level", "estimate", "se", "reliability"]


def solutions_table(
    model: MixedModel,
    components: VarianceComponents,
    solved: MixedModel,
    estimates: np.ndarray,
    inverse_diagonal: np.ndarray | None,
) -> pd.DataFrame:
    """The table of `model` (module docstring) from the solution of `solved` — `model` itself
    or `model` without components at zero (:meth:`MixedModel.without`): `estimates` (N,) and
    diag(C⁻¹) (N,; None: no se or reliability) in `solved`'s unknown order; `components`:
    the variance components of `model` (priors of the reliabilities)."""
    diag = np.full(estimates.shape, np.nan) if inverse_diagonal is None else inverse_diagonal
    frames = []
    off = solved.offsets
    for j, (trait, fd) in enumerate(zip(model.traits, model.fixed)):
        n_all = len(fd.effect)
        est = np.zeros(n_all)
        se = np.full(n_all, np.nan)
        est[fd.kept] = estimates[off[j] : off[j + 1]]
        se[fd.kept] = np.sqrt(np.maximum(diag[off[j] : off[j + 1]], 0.0))
        frames.append(_frame(trait, fd.effect.astype(str), fd.level.astype(str), est, se, np.full(n_all, np.nan)))
    blocks = {}
    for m, term in enumerate(solved.terms):
        for c, label in enumerate(term.components):
            blocks[(term.name, label)] = solved.block(m, c)
    for term, g0 in zip(model.terms, components.g0):
        rel = term.relationship
        levels = rel.levels.astype(str)
        for c, (e, j) in enumerate(term.components):
            name, trait = term.effects[e], model.traits[j]
            where = blocks.get((term.name, (e, j)))
            if where is None or not g0[c, c] > 0:
                frame = _frame(trait, name, levels, np.zeros(term.q), np.full(term.q, np.nan), np.full(term.q, np.nan))
                frames.append(frame if rel.groups is None else group_rows(frame, rel, e == 0))
                continue
            lo, hi = where
            pev = diag[lo:hi]
            reliability = 1.0 - pev / (g0[c, c] * rel.diagonal)
            # an animal without information has PEV = prior: 1 − PEV/prior is 0 up to rounding
            reliability[(reliability < 0) & (reliability > -1e-9)] = 0.0
            frame = _frame(trait, name, levels, estimates[lo:hi], np.sqrt(np.maximum(pev, 0.0)), reliability)
            frames.append(frame if rel.groups is None else group_rows(frame, rel, e == 0))
    table = pd.concat(frames, ignore_index=True)
    for column in ("trait", "effect", "level"):
        table[column] = table[column].astype(object)
    return table[SOLUTION_COLUMNS]


def group_rows(frame: pd.DataFrame, rel, direct: bool) -> pd.DataFrame:
    """The rows of a component whose relationship has groups (:mod:`henderson.relationship_groups`):
    the group levels under effect ``group`` (``group:<effect>`` for a maternal effect), without
    reliability for fixed groups, and the groups set to zero (estimate 0, no se)."""
    name = str(frame["effect"].iloc[0]) if len(frame) else ""
    label = "group" if direct else f"group:{name}"
    n = rel.groups.grouped.n
    frame = frame.copy()
    frame.loc[n:, "effect"] = label
    if rel.n_fixed:
        frame.loc[n:, "reliability"] = np.nan
        # PEV of a + Qg includes the error of the fixed group estimates: with poorly estimated
        # groups 1 − PEV/(σ²a(1 + F)) can be negative; reported as 0
        frame.loc[: n - 1, "reliability"] = frame.loc[: n - 1, "reliability"].clip(lower=0.0)
    zero = list(rel.groups.zero)
    if zero:
        frame = pd.concat([frame, _frame(frame["trait"].iloc[0], label, np.asarray(zero, dtype=object),
                                         np.zeros(len(zero)), np.full(len(zero), np.nan), np.full(len(zero), np.nan))],
                          ignore_index=True)
    return frame


def solution_vector(solved: MixedModel, table: pd.DataFrame) -> tuple[np.ndarray, int]:
    """The estimates of a solutions table (an earlier evaluation's) on the unknowns of `solved`,
    matched by (trait, effect, level); unknowns the table lacks (new animals, new levels) are 0.
    Returns (vector (N,), number of unknowns matched): a warm start for an iterative solver."""
    known = pd.Series(
        table["estimate"].to_numpy(dtype=float),
        index=pd.MultiIndex.from_arrays([table["trait"].astype(str), table["effect"].astype(str), table["level"].astype(str)]),
    )
    known = known[~known.index.duplicated()]
    out = np.zeros(solved.n_unknowns)
    off = solved.offsets
    keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    starts: list[int] = []
    for j, (trait, fd) in enumerate(zip(solved.traits, solved.fixed)):
        keys.append((np.full(int(fd.kept.sum()), trait, dtype=object), fd.effect[fd.kept].astype(str),
                     fd.level[fd.kept].astype(str)))
        starts.append(int(off[j]))
    for m, term in enumerate(solved.terms):
        for c, (e, j) in enumerate(term.components):
            keys.append((np.full(term.q, solved.traits[j], dtype=object), np.full(term.q, term.effects[e], dtype=object),
                         term.relationship.levels.astype(str)))
            starts.append(solved.block(m, c)[0])
    matched = 0
    for (traits, effects, levels), start in zip(keys, starts):
        index = pd.MultiIndex.from_arrays([traits.astype(str), effects.astype(str), levels])
        values = known.reindex(index).to_numpy(dtype=float)
        hit = ~np.isnan(values)
        out[start : start + values.size] = np.where(hit, values, 0.0)
        matched += int(hit.sum())
    return out, matched


def _frame(trait, effect, level, estimate, se, reliability) -> pd.DataFrame:
    return pd.DataFrame(
        {"trait": trait, "effect": effect, "level": level, "estimate": estimate, "se": se, "reliability": reliability}
    )


@dataclass(frozen=True, eq=False)
class Solved:
    """The solutions table, logL at the variances (None where the solver has none) and seconds
    per step."""

    table: pd.DataFrame
    log_likelihood: float | None
    seconds: dict[str, float]
    solver: dict = field(default_factory=dict)


def solve(
    model: MixedModel,
    components: VarianceComponents,
    *,
    objective: Objective | ZeroLimit | None = None,
    theta: np.ndarray | None = None,
    pev: bool = True,
    solver: str = "cholesky",
    memory_mb: float | None = None,
    warm_start: pd.DataFrame | None = None,
    reliability: str = "auto",
    samples: int = 200,
    **solver_options,
) -> Solved:
    """Solve the equations of `model` at `components` and tabulate (module docstring).

    Components with zero variance are left out; residual variances at zero are taken at their
    limit (:class:`henderson.reml.boundary.ZeroLimit`). `objective` and `theta`: the objective
    of that reduced model and θ on it, as a REML fit leaves them, so that its last
    factorisation is reused; built here otherwise, on `solver` (a registered name or "auto",
    with `memory_mb` and `solver_options`: :class:`henderson.reml.objective.Objective`).
    `solver` of the result: name, reason of the choice and, for an iterative solver, its
    iterations and relative residual. `warm_start`: an earlier solutions table, the starting
    point of an iterative solver (:func:`solution_vector`). `reliability`, `samples`: how PEV is
    obtained (:func:`henderson.reliability.inverse_diagonal`; `exact` makes `auto` factorise);
    named in the result's `solver` under ``reliability``; with ``sampled`` the table has a
    column ``reliability_mc_se``."""
    from henderson.reliability import inverse_diagonal
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    if objective is None:
        drops: dict[int, set[int]] = {}
        for m, g0 in enumerate(components.g0):
            gone = {c for c in range(g0.shape[0]) if not g0[c, c] > 0}
            if gone:
                drops[m] = gone
        zero = {j for j in range(components.r0.shape[0]) if not components.r0[j, j] > 0}
        if reliability == "exact" and solver == "auto":  # the selected inverse needs the factor, whatever its size
            solver = "cholesky"
        inner = Objective(model.without(drops), solver, memory_mb=memory_mb, exact=False, **solver_options)
        seconds["analyse"] = time.perf_counter() - clock
        objective = inner
        if zero:
            sigma_p = float(np.max(components.phenotypic_variance()))
            objective = ZeroLimit(inner, zero, ZERO_STEP * sigma_p)
        values = dict(zip(components.names, components.theta))
        theta = np.array([values[name] for name in objective.layout.names])
        VarianceComponents.from_theta(objective.layout, theta).check_inside("solve")
    inner = getattr(objective, "inner", objective)
    matched = None
    if warm_start is not None and hasattr(inner.solver, "guess"):
        inner.solver.guess, matched = solution_vector(inner.model, warm_start)
    mark = time.perf_counter()
    estimates = objective.solution(theta)
    log_likelihood = objective.loglik(theta)
    seconds["factorize_solve"] = time.perf_counter() - mark
    mark = time.perf_counter()
    diag, mc_se, reliability_info = inverse_diagonal(reliability, objective, theta, samples=samples) if pev else (
        None, None, {"method": "none"})
    seconds["selected_inverse" if reliability_info["method"] == "exact" else "reliability"] = time.perf_counter() - mark
    table = solutions_table(model, components, objective.model, estimates, diag)
    if mc_se is not None:  # row-aligned through the same tabulation; NaN where there is no reliability
        spread = solutions_table(model, components, objective.model, mc_se, None)["estimate"].to_numpy()
        table["reliability_mc_se"] = np.where(table["reliability"].notna(), spread, np.nan)
    used = inner.solver
    info = {"name": used.name, "reason": getattr(inner, "solver_reason", f"solver {used.name}"),
            "reliability": reliability_info}
    equations = getattr(inner, "equations", None)
    if equations is not None and equations.dense_terms:
        info["dense_blocks"] = dense_blocks(equations)
    if getattr(used, "iterations", None):
        info.update(iterations=int(sum(used.iterations)), relative_residual=float(max(used.residuals)),
                    tolerance=float(used.tol))
        if matched is not None:
            info["warm_start"] = {"unknowns_matched": matched, "unknowns": int(inner.model.n_unknowns)}
    return Solved(table, log_likelihood, {k: round(v, 3) for k, v in seconds.items()}, info)
