"""Multi-trait animal models: mixed model equations with missing records, solutions with PEV, and
REML (average information with EM fallback, or EM) for unstructured genetic and residual
covariance matrices.

Model, for t traits and n records (a record = one row of the phenotype table, with some traits
observed and the others missing)::

    y_j = X_j b_j + Σ_k Z_k,j u_k,j + e_j,     j = 1..t,

* X_j: trait j's own fixed effects, built by :func:`henderson.design.fixed_design` from the
  records on which trait j is observed (so every trait has its own class levels and zeroed
  levels);
* u_k = (u_k,1', …, u_k,t')' with Var(u_k) = G0_k ⊗ K_k (G0_k t × t unstructured, K_k = A for an
  additive effect, I for an iid one); Z_k,j is Z_k restricted to the records observing trait j;
* e_i, the residuals of record i, have covariance R0[O_i, O_i] where O_i are the traits observed on
  record i: missing values are neither imputed nor dropped, the sub-matrix of R0 applies.

Unknowns are ordered trait-major: the fixed effects of trait 1, …, trait t, then for each random
effect k its levels for trait 1, …, trait t (so that the random part of C⁻¹ is G0_k⁻¹ ⊗ K_k⁻¹ with
numpy/scipy's Kronecker product). With W the (N_obs × N) design of the observed values and R the
block-diagonal residual covariance of the observed values, the mixed model equations are::

    C ŝ = r,   C = W'R⁻¹W + blockdiag(0_p, G0_1⁻¹ ⊗ K_1⁻¹, …),   r = W'R⁻¹y.

W'R⁻¹W is assembled by missing pattern: records with the same set P of observed traits share
Q_P = R0[P, P]⁻¹, so ``W'R⁻¹W = Σ_P Σ_{j,l ∈ P} Q_P[j, l] W_j[S_P]' W_l[S_P]`` (S_P the records
of pattern P, W_j the design of trait j), where the sparse products M_{P,j,l} = W_j[S_P]'W_l[S_P]
are formed once per model; every evaluation only rescales them (one weighted sum on the fixed
pattern of C).

REML log-likelihood with its constant (N = observed values, p = fixed-effect columns over all
traits)::

    logL = -1/2 [(N - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py]
    log|V| + log|X'V⁻¹X| = log|C| + Σ_k [q_k log|G0_k| + t log|K_k|] + Σ_P n_P log|R0[P, P]|
    y'Py = y'R⁻¹y - ŝ'r.

Derivatives (parameters θ: the upper triangle of every G0_k and of R0, row by row; named
``"<effect>[a,b]"`` and ``"residual[a,b]"`` with trait names a, b). With û_k as a q_k × t matrix
U_k, ``S_k = U_k'K_k⁻¹U_k``, ``T_k[a,b] = tr(K_k⁻¹ C^{u_ka u_kb})`` and
``D_k = q_k G0_k⁻¹ - G0_k⁻¹ (S_k + T_k) G0_k⁻¹``; with residuals ê = y - Wŝ, per pattern
``E_P = Ê_P'Ê_P`` and ``τ_P[j,l] = tr(C⁻¹ M_{P,j,l})`` and
``D_R = Σ_P embed_P(n_P Q_P - Q_P (τ_P + E_P) Q_P)`` (t × t):

    ∂logL/∂G0_k[a,a] = -1/2 D_k[a,a],   ∂logL/∂G0_k[a,b] = -D_k[a,b]   (a ≠ b), same with D_R.

The traces come from the selected inverse of the Cholesky factor of C (on the pattern of C, never a
dense inverse). Average information ``AI_ij = 1/2 f_i'Pf_j`` with working variates
``f = Z_k (G0_k⁻¹E ⊗ I) û_k`` for an element E of G0_k (E symmetric with ones at (a,b), (b,a)) and
``f_i = E[O_i, O_i] (R⁻¹ê)_i`` for an element of R0, ``Pf = R⁻¹(f - W C⁻¹ W'R⁻¹ f)``: one solve
with one column per parameter.

EM-REML (exact for missing records): ``G0_k ← (S_k + T_k)/q_k`` and ``R0 ← (1/n) Σ_P F_P`` with
the expected complete-data residual sums of squares and products of pattern P: for the observed
traits o, ``F_oo = E_P + τ_P``; the missing traits m are regressed on the observed ones,
``B = R0[m,o] Q_P``, ``F_mo = B F_oo``, ``F_mm = B F_oo B' + n_P (R0[m,m] - B R0[o,m])``.

Parameter space: every iterate is positive definite. The parameters are the matrix elements (as in
the univariate module). An AI step θ + AI⁻¹g that stays inside the cone (positive variances, every
correlation matrix with smallest eigenvalue > 1e-8) and does not lower logL is taken as it is.
Otherwise three candidates compete and the one with the highest logL wins: the step halved until
inside (and while it lowers logL, at most twice), a Newton step on the Cholesky factors of the
matrices (AI as curvature plus the exact second-order term of L → LL'; any factor gives a positive
semi-definite matrix and a boundary optimum is a stationary point there), projected into the cone
when it lands on its edge, and the EM update (positive definite by construction, never lowers
logL). An estimate that converges to the edge of the cone (a variance below ``criteria.boundary``
times the phenotypic variance of its trait, a correlation with |r| > 1 - ``criteria.boundary``, or
a correlation matrix with smallest eigenvalue below ``criteria.boundary``) is reported in
``boundary`` and the messages, not treated as a failure; the gradient does not vanish there, so
convergence is then judged on the changes of logL and θ alone.

Maternal effects are univariate only (:mod:`henderson.reml`); they are rejected here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.design import FixedDesign, RandomDesign, fixed_design
from henderson.errors import ConfigError, InputError, NumericalError
from henderson.linalg import SparseCholesky
from henderson.mme import SOLUTION_COLUMNS, build_mixed_model
from henderson.reml import (  # shared constants: names, methods, tolerances of the parameter space
    _LOG_2PI,
    _LOGL_NOISE,
    _PD_MARGIN,
    METHODS,
    _Evaluation,
    RESIDUAL,
    ConvergenceCriteria,
    LogLikelihood,
    default_start,
    fit_reml,
    kinv_logdet,
)

__all__ = [
    "MultiTraitFit",
    "MultiTraitModel",
    "build_multitrait_model",
    "coefficient_matrix",
    "components_json",
    "fit",
    "loglik",
    "parameter_names",
    "solve",
    "univariate_start",
    "variance_ratios",
]

_LOG = logging.getLogger(__name__)
# Halvings of an AI step that lowers logL before it is replaced by EM.
_MAX_DESCENT_HALVINGS = 2


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MultiTraitModel:
    """The data side of the multi-trait MME, independent of the (co)variances.

    traits: the t trait names; y: (n, t) records, NaN where missing; observed: (n, t) bool;
    fixed: t FixedDesign, X_j over the records observing trait j (``fixed_rows[j]``, ascending
    record indices); random: RandomDesign per random effect, Z over all n records.
    patterns: the distinct sets of observed traits (int arrays of trait indices, ascending), in
    ascending order of their bit code; pattern_rows: the records of each pattern.
    w: the stacked designs of the t traits, (t n × N) CSR in trait-major row order (row
    j n + i: record i, trait j; an empty row where trait j is missing on record i), columns in the
    unknown order of the module docstring.
    """

    traits: tuple[str, ...]
    y: np.ndarray
    observed: np.ndarray
    fixed: tuple[FixedDesign, ...]
    random: tuple[RandomDesign, ...]
    fixed_rows: tuple[np.ndarray, ...]
    patterns: tuple[np.ndarray, ...]
    pattern_rows: tuple[np.ndarray, ...]
    w: sp.csr_matrix

    @property
    def n_records(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_traits(self) -> int:
        return len(self.traits)

    @property
    def n_observed(self) -> int:
        """N: the number of observed values."""
        return int(self.observed.sum())

    @property
    def n_fixed(self) -> int:
        """p: fixed-effect columns over all traits."""
        return int(sum(f.n_columns for f in self.fixed))

    @property
    def offsets(self) -> np.ndarray:
        """Start of every block of unknowns: fixed effects of each trait, then for each random
        effect its t trait blocks (trait-major); the last entry is the number of unknowns."""
        sizes = [f.n_columns for f in self.fixed]
        for r in self.random:
            sizes.extend([r.matrix.shape[1]] * self.n_traits)
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_unknowns(self) -> int:
        return int(self.offsets[-1])

    def random_block(self, k: int, j: int) -> tuple[int, int]:
        """[lo, hi) of the unknowns of random effect k, trait j."""
        off = self.offsets
        b = self.n_traits + k * self.n_traits + j
        return int(off[b]), int(off[b + 1])

    @cached_property
    def _structure(self) -> _Structure:
        return _Structure(self)


def build_multitrait_model(
    traits: Sequence[str],
    records: pd.DataFrame,
    fixed: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]],
    random: Sequence[RandomDesign],
) -> MultiTraitModel:
    """The multi-trait model of `records`.

    Args:
        traits: trait columns of `records` (float, NaN = missing), t ≥ 1, distinct.
        records: one row per record with the trait columns and the effect columns; every row
            observes at least one trait (rows without any must be dropped by the caller).
        fixed: trait → (class effect columns, covariate columns), one entry per trait; X_j is
            built from trait j's records with :func:`henderson.design.fixed_design`.
        random: random effects (additive or iid) with Z over all rows of `records`.

    Raises:
        ConfigError: a trait or effect that is unknown, repeated or misnamed, a maternal effect.
        InputError: non-numeric or infinite trait values, a row without any observed trait, a
            trait without records, a missing covariate value on a record of its trait.
    """
    traits = tuple(str(t) for t in traits)
    if not traits:
        raise ConfigError("a multi-trait model needs at least one trait.")
    if len(set(traits)) != len(traits):
        raise ConfigError(f"traits {list(traits)} are listed more than once; list each trait once.")
    missing = [t for t in traits if t not in records.columns]
    if missing:
        raise ConfigError(f"traits {missing} are not columns of the phenotype table; its columns are {list(records.columns)}.")
    unknown = sorted(set(fixed) - set(traits))
    if unknown:
        raise ConfigError(f"fixed effects are given for {unknown}, which are not traits of the model {list(traits)}.")
    absent = [t for t in traits if t not in fixed]
    if absent:
        raise ConfigError(f"no fixed effects given for trait(s) {absent}; give (class effects, covariates) for every trait.")
    n = len(records)
    names = [r.name for r in random]
    for r in random:
        if r.type == "maternal":
            raise ConfigError(
                f"random effect {r.name!r} is a maternal effect; the multi-trait animal model does not "
                "fit maternal effects. Fit them with the univariate model, or drop the effect."
            )
        if r.type not in ("additive", "iid"):
            raise ConfigError(f"random effect {r.name!r} has type {r.type!r}; the multi-trait model takes additive or iid effects.")
        if r.matrix.shape[0] != n:
            raise ValueError(f"Z of random effect {r.name!r} has {r.matrix.shape[0]} rows for {n} records.")
    if len(set(names)) != len(names) or RESIDUAL in names:
        raise ConfigError(f"random effect names {names} must be distinct and not {RESIDUAL!r}.")

    y = np.empty((n, len(traits)))
    for j, t in enumerate(traits):
        try:
            y[:, j] = pd.to_numeric(records[t], errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (ValueError, TypeError):
            values = pd.to_numeric(records[t], errors="coerce")
            bad = np.flatnonzero(values.isna().to_numpy() & records[t].notna().to_numpy())
            row = records.index[bad[0]] if bad.size else "?"
            raise InputError(
                f"trait {t}: the value {records[t].iloc[bad[0]] if bad.size else '?'!r} in row {row} is not a "
                "number; correct it or leave the cell empty for a missing record."
            ) from None
    if np.any(np.isinf(y)):
        i, j = np.argwhere(np.isinf(y))[0]
        raise InputError(f"trait {traits[j]}: row {records.index[i]} has an infinite value; correct or remove it.")
    observed = ~np.isnan(y)
    none = np.flatnonzero(~observed.any(axis=1))
    if none.size:
        raise InputError(
            f"{none.size} row(s) have no observed trait (first: row {records.index[none[0]]}); drop the rows "
            f"without any of {list(traits)} before building the multi-trait model."
        )

    designs: list[FixedDesign] = []
    rows_of: list[np.ndarray] = []
    for j, t in enumerate(traits):
        rows = np.flatnonzero(observed[:, j])
        if rows.size == 0:
            raise InputError(f"trait {t} has no records; remove it from the model.")
        classes, covariates = (tuple(c) for c in fixed[t])
        cols = [c for c in (*classes, *covariates) if c not in records.columns]
        if cols:
            raise ConfigError(f"trait {t}: fixed effect columns {cols} are not in the phenotype table.")
        sub = records.iloc[rows]
        for c in covariates:
            values = pd.to_numeric(sub[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if not np.all(np.isfinite(values)):
                i = int(np.flatnonzero(~np.isfinite(values))[0])
                raise InputError(
                    f"trait {t}: covariate {c} is missing or not a number in row {sub.index[i]}, a record "
                    "of this trait; fill it in or set the trait missing on that record."
                )
        for c in classes:
            if sub[c].isna().any():
                i = int(np.flatnonzero(sub[c].isna().to_numpy())[0])
                raise InputError(
                    f"trait {t}: class effect {c} is missing in row {sub.index[i]}, a record of this trait; "
                    "fill it in or set the trait missing on that record."
                )
        designs.append(fixed_design(sub, classes, covariates))
        rows_of.append(rows)

    codes = observed.astype(np.int64) @ (1 << np.arange(len(traits), dtype=np.int64))
    patterns, pattern_rows = [], []
    for code in np.unique(codes):
        patterns.append(np.flatnonzero((int(code) >> np.arange(len(traits))) & 1).astype(np.int64))
        pattern_rows.append(np.flatnonzero(codes == code))

    model = MultiTraitModel(
        traits=traits,
        y=y,
        observed=observed,
        fixed=tuple(designs),
        random=tuple(random),
        fixed_rows=tuple(rows_of),
        patterns=tuple(patterns),
        pattern_rows=tuple(pattern_rows),
        w=sp.csr_matrix((len(traits) * n, 1)),
    )
    object.__setattr__(model, "w", _stacked_design(model))
    return model


def _stacked_design(model: MultiTraitModel) -> sp.csr_matrix:
    """W of every trait stacked trait-major, (t n × N) CSR; see :class:`MultiTraitModel`."""
    n, t = model.n_records, model.n_traits
    off = model.offsets
    rows, cols, vals = [], [], []
    for j in range(t):
        x = sp.coo_matrix(model.fixed[j].matrix)
        rows.append(j * n + model.fixed_rows[j][x.row])
        cols.append(off[j] + x.col.astype(np.int64))
        vals.append(x.data)
        for k, r in enumerate(model.random):
            z = sp.coo_matrix(r.matrix)
            keep = model.observed[z.row, j]
            lo, _ = model.random_block(k, j)
            rows.append(j * n + z.row[keep].astype(np.int64))
            cols.append(lo + z.col[keep].astype(np.int64))
            vals.append(z.data[keep])
    w = sp.csr_matrix(
        (np.concatenate(vals).astype(float), (np.concatenate(rows), np.concatenate(cols))),
        shape=(t * n, model.n_unknowns),
    )
    w.sum_duplicates()
    return w


def parameter_names(model: MultiTraitModel) -> tuple[str, ...]:
    """Names of the variance parameters in θ order: for each random effect, then the residual,
    the upper triangle of its t × t matrix row by row, ``"<effect>[<trait a>,<trait b>]"``."""
    iu = np.triu_indices(model.n_traits)
    out = []
    for name in [r.name for r in model.random] + [RESIDUAL]:
        out.extend(f"{name}[{model.traits[a]},{model.traits[b]}]" for a, b in zip(*iu))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Fixed structure of C: pattern and the scaled components
# --------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _gather(z_indptr, z_indices, z_data, c_indptr, c_indices):  # pragma: no cover - compiled
    """Values of the symmetric selected inverse Z (CSC, sorted rows) at every position of the
    pattern of C (CSC, sorted rows, inside Z's pattern), by a merge per column.

    Returns (values, missing): missing is the first position of C not in Z, or -1."""
    n = c_indptr.shape[0] - 1
    out = np.empty(c_indices.shape[0])
    for c in range(n):
        p = z_indptr[c]
        end = z_indptr[c + 1]
        for q in range(c_indptr[c], c_indptr[c + 1]):
            r = c_indices[q]
            while p < end and z_indices[p] < r:
                p += 1
            if p == end or z_indices[p] != r:
                return out, q
            out[q] = z_data[p]
    return out, -1


class _Structure:
    """The pattern of C (union over all (co)variance values) and its components, each as
    (positions into the pattern's data, values):

    * residual components, one per pattern P and pair j ≤ l of its traits: M_{P,j,l} (and its
      transpose for j ≠ l); coefficient in C: Q_P[j, l];
    * random components, one per effect k and pair a ≤ b: K_k⁻¹ at block (a, b) (and (b, a));
      coefficient in C: G0_k⁻¹[a, b].
    """

    def __init__(self, model: MultiTraitModel) -> None:
        n, t, nu = model.n_records, model.n_traits, model.n_unknowns
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.residual: list[tuple[int, int, int]] = []  # (pattern, local j, local l)
        for p, (traits, rows) in enumerate(zip(model.patterns, model.pattern_rows)):
            parts = [model.w[j * n + rows] for j in traits]
            for a in range(len(traits)):
                for b in range(a, len(traits)):
                    m = sp.coo_matrix(parts[a].T @ parts[b])
                    r, c, v = m.row.astype(np.int64), m.col.astype(np.int64), m.data
                    if a != b:
                        r, c, v = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])
                    entries.append((r, c, v))
                    self.residual.append((p, a, b))
        self.random: list[tuple[int, int, int]] = []  # (effect, a, b)
        for k, eff in enumerate(model.random):
            kinv = sp.coo_matrix(eff.kinv)
            for a in range(t):
                for b in range(a, t):
                    ra, _ = model.random_block(k, a)
                    rb, _ = model.random_block(k, b)
                    r = kinv.row.astype(np.int64) + ra
                    c = kinv.col.astype(np.int64) + rb
                    v = kinv.data.astype(float)
                    if a != b:
                        r, c, v = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])
                    entries.append((r, c, v))
                    self.random.append((k, a, b))
        diag = np.arange(nu, dtype=np.int64)
        rows = np.concatenate([diag] + [e[0] for e in entries])
        cols = np.concatenate([diag] + [e[1] for e in entries])
        pattern = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=(nu, nu))
        pattern.sum_duplicates()
        pattern.sort_indices()
        pattern.data[:] = 1.0
        self.pattern = pattern
        keys = pattern.indices.astype(np.int64) + nu * np.repeat(np.arange(nu, dtype=np.int64), np.diff(pattern.indptr))
        lengths = np.array([e[0].size for e in entries], dtype=np.int64)
        self.ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.pos = np.searchsorted(keys, np.concatenate([e[0] + nu * e[1] for e in entries])) if entries else np.zeros(0, np.int64)
        self.val = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0)
        self.lengths = lengths
        # tr(C⁻¹ M) of a component stored with its transpose counts the pair twice
        self.trace_scale = np.array(
            [1.0 if a == b else 0.5 for _, a, b in self.residual + self.random]
        )

    def assemble(self, coef: np.ndarray) -> sp.csc_matrix:
        """C = Σ coef_c × component_c on the pattern (coef in component order)."""
        weights = self.val * np.repeat(coef, self.lengths)
        data = np.bincount(self.pos, weights=weights, minlength=self.pattern.nnz)
        out = sp.csc_matrix((data, self.pattern.indices, self.pattern.indptr), shape=self.pattern.shape)
        out.has_sorted_indices = True
        return out

    def traces(self, zvalues: np.ndarray) -> np.ndarray:
        """tr(C⁻¹ M_c) of every component c, from C⁻¹ on the pattern (`zvalues`, pattern order)."""
        prod = self.val * zvalues[self.pos]
        sums = np.add.reduceat(prod, self.ptr[:-1]) if prod.size else np.zeros(0)
        sums[self.lengths == 0] = 0.0
        return sums * self.trace_scale


# --------------------------------------------------------------------------------------------
# (Co)variances
# --------------------------------------------------------------------------------------------
def _as_matrix(value: Any, t: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a {t} × {t} matrix of numbers, got {value!r}.") from None
    if t == 1 and arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.shape != (t, t):
        raise ConfigError(f"{what} must be a {t} × {t} matrix (one row and column per trait), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} has values that are not finite: {arr.tolist()}.")
    if not np.allclose(arr, arr.T, rtol=1e-12, atol=0.0):
        raise ConfigError(f"{what} is not symmetric: {arr.tolist()}.")
    return 0.5 * (arr + arr.T)


def _matrices(model: MultiTraitModel, g0: Mapping[str, Any], r0: Any, what: str) -> tuple[list[np.ndarray], np.ndarray]:
    """G0 of every random effect (model order) and R0 as checked t × t arrays."""
    t = model.n_traits
    names = [r.name for r in model.random]
    unknown = sorted(set(g0) - set(names))
    if unknown:
        raise ConfigError(f"{what}: unknown random effect(s) {unknown}; the model has {names}.")
    absent = [n for n in names if n not in g0]
    if absent:
        raise ConfigError(f"{what}: no covariance matrix for random effect(s) {absent}.")
    gs = [_as_matrix(g0[n], t, f"{what}: the covariance matrix of {n}") for n in names]
    r = _as_matrix(r0, t, f"{what}: the residual covariance matrix")
    for name, m in zip(names + [RESIDUAL], gs + [r]):
        if not _is_pd(m):
            raise ConfigError(
                f"{what}: the covariance matrix of {name} is not positive definite ({m.tolist()}); use "
                "positive variances and correlations strictly between -1 and 1."
            )
    return gs, r


def _is_pd(m: np.ndarray) -> bool:
    d = np.diag(m)
    if not np.all(np.isfinite(m)) or np.any(d <= 0):
        return False
    corr = m / np.sqrt(np.outer(d, d))
    return bool(np.linalg.eigvalsh(corr)[0] > _PD_MARGIN)


def _pack(gs: Sequence[np.ndarray], r: np.ndarray) -> np.ndarray:
    iu = np.triu_indices(r.shape[0])
    return np.concatenate([m[iu] for m in list(gs) + [r]])


def _unpack(theta: np.ndarray, n_effects: int, t: int) -> tuple[list[np.ndarray], np.ndarray]:
    iu = np.triu_indices(t)
    size = iu[0].size
    out = []
    for k in range(n_effects + 1):
        m = np.zeros((t, t))
        m[iu] = theta[k * size : (k + 1) * size]
        m = m + np.triu(m, 1).T
        out.append(m)
    return out[:-1], out[-1]


# --------------------------------------------------------------------------------------------
# Evaluations
# --------------------------------------------------------------------------------------------
class _Workspace:
    """Symbolic analysis of C (once) and everything an evaluation at θ needs."""

    def __init__(self, model: MultiTraitModel) -> None:
        self.model = model
        self.structure = model._structure
        self.factor = SparseCholesky(self.structure.pattern)
        self.logdet_k = [kinv_logdet(r.kinv) for r in model.random]
        n, t = model.n_records, model.n_traits
        self.y0 = np.nan_to_num(model.y, nan=0.0).T.reshape(-1)  # trait-major, 0 where missing
        # flat trait-major index (n_P × |P|) of the observed values of each pattern
        self.flat = [traits[None, :] * n + rows[:, None] for traits, rows in zip(model.patterns, model.pattern_rows)]
        self.counts = np.array([rows.size for rows in model.pattern_rows], dtype=float)
        self.wt = sp.csr_matrix(model.w.T)
        off = model.offsets
        self.w_random = [
            sp.csc_matrix(model.w[:, model.random_block(k, 0)[0] : model.random_block(k, t - 1)[1]])
            for k in range(len(model.random))
        ]
        self.p = model.n_fixed
        self.n_unknowns = int(off[-1])
        self._at: np.ndarray | None = None
        self._sol = np.zeros(0)
        self._rhs = np.zeros(0)
        self._loglik = float("nan")
        self._q: list[np.ndarray] = []

    # residual covariance of the observed values, pattern by pattern
    def _rinv(self, x: np.ndarray, qs: Sequence[np.ndarray]) -> np.ndarray:
        """R⁻¹x for x of shape (t n,) or (t n, m) in the flat trait-major layout."""
        out = np.zeros_like(x)
        for idx, q in zip(self.flat, qs):
            if x.ndim == 1:
                out[idx] = x[idx] @ q
            else:
                out[idx] = np.einsum("sjm,jl->slm", x[idx], q)
        return out

    def loglik(self, theta: np.ndarray) -> float:
        """logL at θ from one numeric factorization of C (kept for a following `evaluate`)."""
        if self._at is not None and np.array_equal(self._at, theta):
            return self._loglik
        model = self.model
        gs, r0 = _unpack(theta, len(model.random), model.n_traits)
        qs = [np.linalg.inv(r0[np.ix_(tr, tr)]) for tr in model.patterns]
        ginvs = [np.linalg.inv(g) for g in gs]
        st = self.structure
        coef = np.array(
            [qs[p][a, b] for p, a, b in st.residual] + [ginvs[k][a, b] for k, a, b in st.random]
        )
        self._at = None
        self.factor.factorize(st.assemble(coef))
        ry = self._rinv(self.y0, qs)
        rhs = self.wt @ ry
        sol = self.factor.solve(rhs)
        logdet_r = float(sum(c * np.linalg.slogdet(r0[np.ix_(tr, tr)])[1] for c, tr in zip(self.counts, model.patterns)))
        logdet_g = 0.0
        for eff, g, ldk in zip(model.random, gs, self.logdet_k):
            logdet_g += eff.matrix.shape[1] * float(np.linalg.slogdet(g)[1]) + model.n_traits * ldk
        ypy = float(self.y0 @ ry) - float(sol @ rhs)
        value = -0.5 * ((model.n_observed - self.p) * _LOG_2PI + self.factor.logdet() + logdet_g + logdet_r + ypy)
        self._at, self._sol, self._rhs, self._loglik, self._q = theta.copy(), sol, rhs, value, qs
        return value

    def evaluate(self, theta: np.ndarray, derivatives: bool = True) -> _Evaluation:
        """logL, and with `derivatives` its gradient, the AI matrix and the EM update, at θ."""
        model = self.model
        t, n = model.n_traits, model.n_records
        value = self.loglik(theta)
        m = theta.size
        if not derivatives:
            nan = np.full(m, np.nan)
            return _Evaluation(theta.copy(), value, nan, np.full((m, m), np.nan), nan)
        sol, qs = self._sol, self._q
        gs, r0 = _unpack(theta, len(model.random), t)
        st = self.structure
        zinv = self.factor.selected_inverse()
        zvalues, missing = _gather(
            zinv.indptr.astype(np.int64), zinv.indices, zinv.data,
            st.pattern.indptr.astype(np.int64), st.pattern.indices,
        )
        if missing >= 0:
            raise RuntimeError("the selected inverse does not cover the pattern of C")
        traces = st.traces(zvalues)
        n_res = len(st.residual)
        iu = np.triu_indices(t)
        size = iu[0].size
        gradient = np.zeros(m)
        em = np.zeros(m)
        work = np.zeros((t * n, m))

        # random effects
        tr_random = traces[n_res:]
        for k, (eff, g) in enumerate(zip(model.random, gs)):
            q = eff.matrix.shape[1]
            ginv = np.linalg.inv(g)
            lo, _ = model.random_block(k, 0)
            u = sol[lo : lo + t * q].reshape(t, q).T  # q × t
            s_mat = u.T @ (eff.kinv @ u)
            t_mat = np.zeros((t, t))
            for (kk, a, b), tr in zip(st.random, tr_random):
                if kk == k:
                    t_mat[a, b] = t_mat[b, a] = tr
            d_mat = q * ginv - ginv @ (s_mat + t_mat) @ ginv
            em_g = (s_mat + t_mat) / q
            unew = np.empty((t * q, size))
            for c, (a, b) in enumerate(zip(*iu)):
                e = np.zeros((t, t))
                e[a, b] = e[b, a] = 1.0
                unew[:, c] = (u @ (ginv @ e)).T.reshape(-1)
            sl = slice(k * size, (k + 1) * size)
            gradient[sl] = np.where(iu[0] == iu[1], -0.5, -1.0) * d_mat[iu]
            em[sl] = em_g[iu]
            work[:, sl] = self.w_random[k] @ unew

        # residual
        resid = self.y0 - model.w @ sol  # zero where missing
        py = self._rinv(resid, qs)
        d_r = np.zeros((t, t))
        em_r = np.zeros((t, t))
        tr_res = traces[:n_res]
        for p, (traits, idx, q_p, count) in enumerate(zip(model.patterns, self.flat, qs, self.counts)):
            np_ = traits.size
            tau = np.zeros((np_, np_))
            for (pp, a, b), tr in zip(st.residual, tr_res):
                if pp == p:
                    tau[a, b] = tau[b, a] = tr
            ehat = resid[idx]
            sse = ehat.T @ ehat
            d_r[np.ix_(traits, traits)] += count * q_p - q_p @ (tau + sse) @ q_p
            f_oo = sse + tau
            mis = np.setdiff1d(np.arange(t), traits)
            em_r[np.ix_(traits, traits)] += f_oo
            if mis.size:
                b_mat = r0[np.ix_(mis, traits)] @ q_p
                f_mo = b_mat @ f_oo
                em_r[np.ix_(mis, traits)] += f_mo
                em_r[np.ix_(traits, mis)] += f_mo.T
                em_r[np.ix_(mis, mis)] += b_mat @ f_oo @ b_mat.T + count * (
                    r0[np.ix_(mis, mis)] - b_mat @ r0[np.ix_(traits, mis)]
                )
        em_r /= n
        base = len(model.random) * size
        sl = slice(base, base + size)
        gradient[sl] = np.where(iu[0] == iu[1], -0.5, -1.0) * d_r[iu]
        em[sl] = (0.5 * (em_r + em_r.T))[iu]
        obs = model.observed.T.reshape(-1).astype(float)  # flat trait-major mask
        py2 = py.reshape(t, n)
        obs2 = obs.reshape(t, n)
        for c, (a, b) in enumerate(zip(*iu)):
            col = np.zeros((t, n))
            col[a] += py2[b] * obs2[a]
            if a != b:
                col[b] += py2[a] * obs2[b]
            work[:, base + c] = col.reshape(-1)

        # AI = 1/2 F'PF with PF = R⁻¹F - R⁻¹W C⁻¹ W'R⁻¹F
        rf = self._rinv(work, qs)
        wrf = np.asarray(self.wt @ rf)
        ai = 0.5 * (work.T @ rf - wrf.T @ self.factor.solve(wrf))
        ai = 0.5 * (ai + ai.T)
        return _Evaluation(theta.copy(), value, gradient, ai, em)


# --------------------------------------------------------------------------------------------
# Public: C, solutions, logL
# --------------------------------------------------------------------------------------------
def coefficient_matrix(
    model: MultiTraitModel, g0: Mapping[str, np.ndarray], r0: np.ndarray
) -> tuple[sp.csc_matrix, np.ndarray]:
    """C (N × N sparse, symmetric positive definite, both triangles) and r = W'R⁻¹y (N,).

    g0: effect name → G0_k (t × t, positive definite); r0: R0 (t × t, positive definite). The
    pattern of C is that of every (co)variance value (structural zeros included)."""
    gs, r = _matrices(model, g0, r0, "coefficient_matrix")
    st = model._structure
    qs = [np.linalg.inv(r[np.ix_(tr, tr)]) for tr in model.patterns]
    ginvs = [np.linalg.inv(g) for g in gs]
    coef = np.array([qs[p][a, b] for p, a, b in st.residual] + [ginvs[k][a, b] for k, a, b in st.random])
    n = model.n_records
    ry = np.zeros(model.n_traits * n)
    y0 = np.nan_to_num(model.y, nan=0.0).T.reshape(-1)
    for traits, rows, q in zip(model.patterns, model.pattern_rows, qs):
        idx = traits[None, :] * n + rows[:, None]
        ry[idx] = y0[idx] @ q
    return st.assemble(coef), np.asarray(model.w.T @ ry)


def solve(model: MultiTraitModel, g0: Mapping[str, np.ndarray], r0: np.ndarray) -> pd.DataFrame:
    """Solutions of the multi-trait MME: one row per trait and level.

    Columns trait, effect, level, estimate, se, reliability. Fixed effects (the levels of each
    trait's own X): BLUE with se = √(C^ii); levels zeroed by the parameterisation have estimate 0
    and se null. Random effects (every level for every trait): BLUP with se = √PEV,
    PEV = (C⁻¹)_ii, reliability 1 - PEV/(G0_k[j,j](1 + F)) for an additive effect and
    1 - PEV/G0_k[j,j] for an iid one. Rows: fixed effects trait by trait, then every random
    effect trait by trait.
    """
    gs, _ = _matrices(model, g0, r0, "solve")
    lhs, rhs = coefficient_matrix(model, g0, r0)
    factor = SparseCholesky(lhs).factorize(lhs)
    sol = factor.solve(rhs)
    diag = factor.inverse_diagonal()
    off = model.offsets
    frames = []
    for j, (trait, fd) in enumerate(zip(model.traits, model.fixed)):
        n_all = len(fd.effect)
        est = np.zeros(n_all)
        se = np.full(n_all, np.nan)
        est[fd.kept] = sol[off[j] : off[j + 1]]
        se[fd.kept] = np.sqrt(np.maximum(diag[off[j] : off[j + 1]], 0.0))
        frames.append(pd.DataFrame({
            "trait": trait, "effect": fd.effect.astype(str), "level": fd.level.astype(str),
            "estimate": est, "se": se, "reliability": np.full(n_all, np.nan),
        }))
    for k, (eff, g) in enumerate(zip(model.random, gs)):
        for j, trait in enumerate(model.traits):
            lo, hi = model.random_block(k, j)
            pev = diag[lo:hi]
            prior = g[j, j] * (1.0 + eff.inbreeding if eff.inbreeding is not None else np.ones(hi - lo))
            frames.append(pd.DataFrame({
                "trait": trait, "effect": eff.name, "level": eff.levels.astype(str),
                "estimate": sol[lo:hi], "se": np.sqrt(np.maximum(pev, 0.0)), "reliability": 1.0 - pev / prior,
            }))
    table = pd.concat(frames, ignore_index=True)
    table["trait"] = table["trait"].astype(object)
    table["effect"] = table["effect"].astype(object)
    table["level"] = table["level"].astype(object)
    return table[SOLUTION_COLUMNS]


def loglik(
    model: MultiTraitModel,
    g0: Mapping[str, np.ndarray],
    r0: np.ndarray,
    *,
    gradient: bool = False,
    ai: bool = False,
) -> LogLikelihood:
    """The REML log-likelihood at given (co)variances (module docstring), with optionally its
    gradient (by :func:`parameter_names`) and the average information matrix (m × m, same order).
    Returns :class:`henderson.reml.LogLikelihood`."""
    gs, r = _matrices(model, g0, r0, "loglik")
    theta = _pack(gs, r)
    ev = _Workspace(model).evaluate(theta, derivatives=gradient or ai)
    names = parameter_names(model)
    return LogLikelihood(
        value=ev.loglik,
        gradient={name: float(v) for name, v in zip(names, ev.gradient)} if gradient else None,
        ai_matrix=ev.ai.copy() if ai else None,
        names=names,
    )


# --------------------------------------------------------------------------------------------
# REML
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MultiTraitFit:
    """Record of a multi-trait REML fit.

    g0: effect → G0 estimate (t × t); r0: R0 estimate; se: effect (and ``residual``) → t × t
    standard errors, √diag(AI⁻¹) at the estimates (NaN when AI is singular); names and
    covariance: the parameters (:func:`parameter_names`) and their sampling covariance AI⁻¹
    (m × m). ratios: {"h2": {trait: {"estimate", "se"}}, "genetic_correlation": {"a.b": ...},
    "correlation_<effect>" and "<effect>_ratio" for random effects other than the first additive
    one, "residual_correlation": {"a.b": ...}} with delta-method SEs. boundary: parameters whose
    estimate is at the edge of the parameter space (module docstring); trace: one row per
    iteration (0 = start): iteration, step, log_likelihood, one column per parameter.
    """

    method: str
    converged: bool
    iterations: int
    log_likelihood: float
    traits: tuple[str, ...]
    g0: dict[str, np.ndarray]
    r0: np.ndarray
    se: dict[str, np.ndarray]
    names: tuple[str, ...]
    covariance: np.ndarray
    ratios: dict[str, dict[str, dict[str, float]]]
    boundary: tuple[str, ...]
    trace: pd.DataFrame
    criteria: ConvergenceCriteria
    messages: tuple[str, ...]


def univariate_start(model: MultiTraitModel, criteria: ConvergenceCriteria | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Diagonal starting matrices from univariate REML fits (:func:`henderson.reml.fit_reml`,
    AI, from its default start) on each trait's records separately. A variance estimated at zero
    starts at 1 % of that trait's phenotypic variance. Returns (effect → G0, R0)."""
    t = model.n_traits
    gdiag = {r.name: np.zeros(t) for r in model.random}
    rdiag = np.zeros(t)
    for j, trait in enumerate(model.traits):
        rows = model.fixed_rows[j]
        random = tuple(replace(r, matrix=sp.csc_matrix(r.matrix[rows])) for r in model.random)
        mm = build_mixed_model(trait, model.y[rows, j], model.fixed[j], random)
        fitted = fit_reml(mm, default_start(mm), criteria=criteria or ConvergenceCriteria())
        values = {name: fitted.variances[name] for name in gdiag} | {RESIDUAL: fitted.variances[RESIDUAL]}
        floor = 0.01 * sum(values.values())
        for name, diag in gdiag.items():
            diag[j] = max(values[name], floor)
        rdiag[j] = max(values[RESIDUAL], floor)
    return {name: np.diag(d) for name, d in gdiag.items()}, np.diag(rdiag)


def _newton_decrement(ev: _Evaluation) -> float:
    try:
        chol = np.linalg.cholesky(ev.ai)
    except np.linalg.LinAlgError:
        return float("inf")
    z = np.linalg.solve(chol, ev.gradient)
    return float(math.sqrt(z @ z))


def _inside(theta: np.ndarray, n_effects: int, t: int) -> bool:
    gs, r = _unpack(theta, n_effects, t)
    return all(_is_pd(m) for m in gs + [r])


def _project(theta: np.ndarray, current: np.ndarray, n_effects: int, t: int) -> np.ndarray:
    """θ moved into the positive definite cone: every variance at least a thousandth of its
    current value, every correlation matrix with eigenvalues at least 1e-6 (eigenvalues clipped,
    then rescaled to unit diagonal)."""
    gs, r = _unpack(theta, n_effects, t)
    gc, rc = _unpack(current, n_effects, t)
    out = []
    for m, c in zip(gs + [r], gc + [rc]):
        d = np.maximum(np.diag(m), 1e-3 * np.diag(c))
        corr = m / np.sqrt(np.outer(np.abs(np.diag(m)) + (np.diag(m) <= 0), np.abs(np.diag(m)) + (np.diag(m) <= 0)))
        corr[np.diag_indices(t)] = 1.0
        w, v = np.linalg.eigh(corr)
        corr = (v * np.maximum(w, 1e-6)) @ v.T
        s = np.sqrt(np.diag(corr))
        corr = corr / np.outer(s, s)
        out.append(corr * np.sqrt(np.outer(d, d)))
    return _pack(out[:-1], out[-1])


def _cholesky_step(ev: _Evaluation, n_effects: int, t: int) -> np.ndarray | None:
    """A Newton step on the Cholesky factors (M = L L' for every G0_k and R0), with AI as the
    expected curvature in θ and the exact second-order term of the (quadratic) map L → θ:

        H = J'·AI·J - Σ_i g_i ∂²θ_i/∂φ²,   φ ← φ + H⁻¹ J'g     (J = ∂θ/∂φ, g = ∂logL/∂θ).

    Every φ gives a positive semi-definite θ, and a variance whose optimum lies on the boundary
    (L_jj → 0) is a stationary point in φ, reached at Newton speed. None when H is not positive
    definite."""
    iu = np.triu_indices(t)
    size = iu[0].size
    m = ev.theta.size
    phi = np.zeros(m)
    jac = np.zeros((m, m))
    second = np.zeros((m, m))
    pairs = list(zip(*iu))
    for k in range(n_effects + 1):
        seg = slice(k * size, (k + 1) * size)
        mat = np.zeros((t, t))
        mat[iu] = ev.theta[seg]
        mat = mat + np.triu(mat, 1).T
        try:
            low = np.linalg.cholesky(mat)
        except np.linalg.LinAlgError:
            return None
        grad = ev.gradient[seg]
        for c, (a, b) in enumerate(pairs):  # φ_c = L[b, a]
            phi[k * size + c] = low[b, a]
            e = np.zeros((t, t))
            e[b, a] = 1.0
            jac[seg, k * size + c] = (e @ low.T + low @ e.T)[iu]
            for c2, (a2, b2) in enumerate(pairs):
                if a2 != a:
                    continue
                # ∂²M_ij/∂L[b,a]∂L[b2,a] = 1 for {i, j} = {b, b2} (2 on the diagonal)
                i, j = min(b, b2), max(b, b2)
                pos = pairs.index((i, j))
                second[k * size + c, k * size + c2] += grad[pos] * (2.0 if i == j else 1.0)
    h = jac.T @ ev.ai @ jac - second
    try:
        chol = np.linalg.cholesky(0.5 * (h + h.T))
    except np.linalg.LinAlgError:
        return None
    step = np.linalg.solve(chol.T, np.linalg.solve(chol, jac.T @ ev.gradient))
    phi_new = phi + step
    out = np.zeros(m)
    for k in range(n_effects + 1):
        seg = slice(k * size, (k + 1) * size)
        upper = np.zeros((t, t))
        upper[iu] = phi_new[seg]
        low = upper.T
        out[seg] = (low @ low.T)[iu]
    return out


def _ai_step(ws: _Workspace, ev: _Evaluation, tolerance: float) -> tuple[str, np.ndarray, str]:
    """The next θ by average information: (kind, θ_new, what happened).

    The full step θ + AI⁻¹g is taken when it stays inside the parameter space and does not lower
    logL ("ai"). Otherwise three candidates compete and the one with the highest logL is taken:
    the step halved until inside and while it lowers logL (at most twice), the full step
    projected onto the cone (:func:`_project`; this lets estimates approach a boundary optimum
    at AI speed), and the EM update ("ai-halved", "ai-projected", "em-fallback")."""
    n_eff, t = len(ws.model.random), ws.model.n_traits

    def value(theta: np.ndarray) -> float:
        if not _inside(theta, n_eff, t):
            return -math.inf
        try:
            return ws.loglik(theta)
        except NumericalError:
            return -math.inf

    try:
        chol = np.linalg.cholesky(ev.ai)
        delta = np.linalg.solve(chol.T, np.linalg.solve(chol, ev.gradient))
    except np.linalg.LinAlgError:
        return "em-fallback", ev.em.copy(), "the AI matrix is not positive definite"
    full = ev.theta + delta
    inside = _inside(full, n_eff, t)
    if inside:
        ll_full = value(full)
        if ll_full >= ev.loglik - tolerance:
            return "ai", full, ""
    candidates: list[tuple[float, str, np.ndarray, str]] = []
    halvings = 0
    while not _inside(ev.theta + delta, n_eff, t) and halvings < 60:
        delta, halvings = 0.5 * delta, halvings + 1
    descents = 0
    ll_half = value(ev.theta + delta)
    while ll_half < ev.loglik - tolerance and descents < _MAX_DESCENT_HALVINGS:
        delta, descents = 0.5 * delta, descents + 1
        ll_half = value(ev.theta + delta)
    candidates.append((ll_half, "ai-halved", ev.theta + delta, f"AI step halved {halvings + descents} time(s)"))
    if not inside:
        projected = _project(full, ev.theta, n_eff, t)
        candidates.append((value(projected), "ai-projected", projected, "AI step projected into the parameter space"))
    newton = _cholesky_step(ev, n_eff, t)
    if newton is not None and np.all(np.isfinite(newton)):
        if not _inside(newton, n_eff, t):
            newton = _project(newton, ev.theta, n_eff, t)
        candidates.append((value(newton), "ai-cholesky", newton, "AI step on the Cholesky factors"))
    candidates.append((value(ev.em), "em-fallback", ev.em.copy(), "AI step left the parameter space or lowered logL"))
    ll_best, kind, best, what = max(candidates, key=lambda c: c[0])
    if ll_best < ev.loglik - tolerance:
        return "em-fallback", ev.em.copy(), "no AI step raised logL"
    return kind, best, what


def _edges(model: MultiTraitModel, theta: np.ndarray, criteria: ConvergenceCriteria) -> list[tuple[str, str]]:
    """(parameter name, description) of every estimate at the edge of the parameter space."""
    t = model.n_traits
    gs, r = _unpack(theta, len(model.random), t)
    sigma_p = sum(np.diag(g) for g in gs) + np.diag(r)
    out = []
    for name, m in zip([e.name for e in model.random] + [RESIDUAL], gs + [r]):
        d = np.diag(m)
        for j in range(t):
            if d[j] < criteria.boundary * sigma_p[j]:
                out.append((
                    f"{name}[{model.traits[j]},{model.traits[j]}]",
                    f"the {name} variance of {model.traits[j]} converged towards zero ({d[j]:.4g})",
                ))
        if np.any(d <= 0):
            continue
        corr = m / np.sqrt(np.outer(d, d))
        pairs = []
        for a in range(t):
            for b in range(a + 1, t):
                if abs(corr[a, b]) > 1.0 - criteria.boundary:
                    pairs.append((
                        f"{name}[{model.traits[a]},{model.traits[b]}]",
                        (
                            f"the {name} correlation of {model.traits[a]} and {model.traits[b]} converged "
                            f"towards {'+1' if corr[a, b] > 0 else '-1'} ({corr[a, b]:.6f})"
                        ),
                    ))
        smallest = float(np.linalg.eigvalsh(corr)[0]) if t > 1 else 1.0
        if not pairs and smallest < criteria.boundary:
            pairs.append((
                name,
                (
                    f"the {name} covariance matrix converged towards a singular matrix (smallest "
                    f"eigenvalue of its correlation matrix {smallest:.3g})"
                ),
            ))
        out.extend(pairs)
    return out


def fit(
    model: MultiTraitModel,
    start_g0: Mapping[str, np.ndarray] | None = None,
    start_r0: np.ndarray | None = None,
    *,
    method: str = "ai",
    criteria: ConvergenceCriteria = ConvergenceCriteria(),  # noqa: B008 - frozen, shared safely
    logger: logging.Logger | None = None,
) -> MultiTraitFit:
    """Estimate every G0_k and R0 by REML.

    ``method="em"``: EM-REML updates (module docstring) until |ΔlogL| and the relative change of
    θ are below the criteria. ``method="ai"``: ``criteria.em_iterations`` EM steps, then AI steps
    θ ← θ + AI⁻¹∂logL/∂θ with the safeguards of the module docstring (halving, a Newton step on
    the Cholesky factors, EM); convergence also needs the Newton decrement √(g'AI⁻¹g) below
    ``criteria.gradient_norm``, except for estimates at the edge of the parameter space (reported
    in ``boundary``). Reaching ``max_iterations`` gives ``converged=False`` and a message.
    Starting values: `start_g0` / `start_r0`, else :func:`univariate_start`. Standard errors:
    AI⁻¹ at the estimates (both methods). Progress is logged to `logger` (default: this module's)
    at INFO level, fallbacks and boundary estimates at WARNING.

    Raises:
        ConfigError: an unknown method, or starting values that are malformed or not positive
            definite.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown REML method {method!r}; use one of {list(METHODS)}.")
    log = logger if logger is not None else _LOG
    clock = time.perf_counter()
    if start_g0 is None or start_r0 is None:
        g_start, r_start = univariate_start(model)
        start_g0 = start_g0 if start_g0 is not None else g_start
        start_r0 = start_r0 if start_r0 is not None else r_start
        log.info("multi-trait REML: univariate starting values in %.1f s", time.perf_counter() - clock)
    gs, r = _matrices(model, start_g0, start_r0, "multi-trait REML starting values")
    names = parameter_names(model)
    n_eff, t = len(model.random), model.n_traits
    ws = _Workspace(model)
    theta = _pack(gs, r)
    ev = ws.evaluate(theta)
    rows: list[list[Any]] = [[0, "start", ev.loglik, *theta]]
    messages: list[str] = []
    halved = 0
    converged = False
    iteration = 0
    log.info("multi-trait REML (%s) start: logL %.6f, %s", method, ev.loglik, _format(names, theta))
    for iteration in range(1, criteria.max_iterations + 1):
        if method == "em" or iteration <= criteria.em_iterations:
            step, new = "em", ev.em.copy()
        else:
            tolerance = max(criteria.loglik_change, _LOGL_NOISE * abs(ev.loglik))
            step, new, what = _ai_step(ws, ev, tolerance)
            if step in ("ai-halved", "ai-projected", "ai-cholesky"):
                halved += 1
                log.info("iteration %d: %s", iteration, what)
            elif step == "em-fallback":
                text = f"iteration {iteration}: {what}; fell back to EM"
                log.warning(text)
                messages.append(text)
        ev_new = ws.evaluate(new)
        rows.append([iteration, step, ev_new.loglik, *new])
        dl = abs(ev_new.loglik - ev.loglik)
        dp = float(np.linalg.norm(new - theta) / np.linalg.norm(new))
        gn = _newton_decrement(ev_new)
        log.info(
            "iteration %d (%s): logL %.6f, |ΔlogL| %.3g, relative Δθ %.3g, gradient %.3g, %.1f s",
            iteration, step, ev_new.loglik, dl, dp, gn, time.perf_counter() - clock,
        )
        theta, ev = new, ev_new
        ok = dl < criteria.loglik_change and dp < criteria.parameter_change
        if method == "ai":
            ok = ok and (gn < criteria.gradient_norm or bool(_edges(model, theta, criteria)))
        if ok:
            converged = True
            break

    if halved:
        messages.append(f"AI steps left the parameter space or lowered logL and were halved in {halved} iteration(s).")
    edges = _edges(model, theta, criteria)
    for _, text in edges:
        text = f"{text}: the estimate is at the boundary of the parameter space; its standard error is unreliable."
        log.warning(text)
        messages.append(text)
    if not converged:
        text = (
            f"multi-trait REML ({method}) did not converge in {criteria.max_iterations} iterations; the "
            "estimates are the last iterate. Raise max_iterations or check the model."
        )
        log.warning(text)
        messages.append(text)
    m = theta.size
    cov = np.full((m, m), np.nan)
    try:
        inv = np.linalg.inv(ev.ai)
        if not np.all(np.isfinite(inv)) or np.any(np.diag(inv) <= 0):
            raise np.linalg.LinAlgError
        cov = 0.5 * (inv + inv.T)
    except np.linalg.LinAlgError:
        text = "the average information matrix is singular at the estimates; no standard errors."
        log.warning(text)
        messages.append(text)
    gs, r = _unpack(theta, n_eff, t)
    se_gs, se_r = _unpack(np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan)), n_eff, t)
    trace = pd.DataFrame(rows, columns=["iteration", "step", "log_likelihood", *names])
    trace["iteration"] = trace["iteration"].astype(np.int64)
    trace["step"] = trace["step"].astype(object)
    log.info(
        "multi-trait REML (%s) %s after %d iterations: logL %.6f, %s, %.1f s", method,
        "converged" if converged else "stopped", iteration, ev.loglik, _format(names, theta),
        time.perf_counter() - clock,
    )
    effect_names = [e.name for e in model.random]
    return MultiTraitFit(
        method=method,
        converged=converged,
        iterations=iteration,
        log_likelihood=float(ev.loglik),
        traits=model.traits,
        g0=dict(zip(effect_names, gs)),
        r0=r,
        se={**dict(zip(effect_names, se_gs)), RESIDUAL: se_r},
        names=names,
        covariance=cov,
        ratios=_ratios(model, theta, cov),
        boundary=tuple(name for name, _ in edges),
        trace=trace,
        criteria=criteria,
        messages=tuple(messages),
    )


def _format(names: Sequence[str], theta: np.ndarray) -> str:
    return ", ".join(f"{name} {value:.6g}" for name, value in zip(names, theta))


def _ratios(model: MultiTraitModel, theta: np.ndarray, cov: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Heritabilities, variance ratios and correlations with delta-method SEs (√(∇f' Cov ∇f))."""
    t = model.n_traits
    n_eff = len(model.random)
    iu = np.triu_indices(t)
    size = iu[0].size
    index = {}
    for k in range(n_eff + 1):
        for c, (a, b) in enumerate(zip(*iu)):
            index[(k, a, b)] = index[(k, b, a)] = k * size + c

    def summarise(estimate: float, grad: np.ndarray) -> dict[str, float]:
        var = float(grad @ cov @ grad) if np.all(np.isfinite(cov)) else float("nan")
        return {"estimate": float(estimate), "se": math.sqrt(var) if var >= 0 else float("nan")}

    out: dict[str, dict[str, dict[str, float]]] = {}
    first_additive = next((k for k, e in enumerate(model.random) if e.type == "additive"), None)
    for k in range(n_eff):
        label = "h2" if k == first_additive else f"{model.random[k].name}_ratio"
        entry = {}
        for j, trait in enumerate(model.traits):
            parts = [index[(kk, j, j)] for kk in range(n_eff + 1)]
            sigma_p = float(theta[parts].sum())
            ratio = theta[index[(k, j, j)]] / sigma_p
            grad = np.zeros(theta.size)
            grad[parts] = -ratio / sigma_p
            grad[index[(k, j, j)]] += 1.0 / sigma_p
            entry[trait] = summarise(ratio, grad)
        out[label] = entry
    for k in range(n_eff + 1):
        if k == n_eff:
            label = "residual_correlation"
        elif k == first_additive:
            label = "genetic_correlation"
        else:
            label = f"correlation_{model.random[k].name}"
        entry = {}
        for a in range(t):
            for b in range(a + 1, t):
                ka, kb, kab = index[(k, a, a)], index[(k, b, b)], index[(k, a, b)]
                scale = math.sqrt(theta[ka] * theta[kb])
                rho = theta[kab] / scale
                grad = np.zeros(theta.size)
                grad[kab] = 1.0 / scale
                grad[ka] = -0.5 * rho / theta[ka]
                grad[kb] = -0.5 * rho / theta[kb]
                entry[f"{model.traits[a]}.{model.traits[b]}"] = summarise(rho, grad)
        out[label] = entry
    return out


def variance_ratios(model: MultiTraitModel, g0: Mapping[str, Any], r0: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Heritabilities, variance ratios and correlations (as in `MultiTraitFit.ratios`) at given
    matrices, without standard errors (NaN): for variances used as given."""
    gs, r = _matrices(model, g0, r0, "variance_ratios")
    theta = _pack(gs, r)
    return _ratios(model, theta, np.full((theta.size, theta.size), np.nan))


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _matrix_json(m: np.ndarray) -> list[list[float | None]]:
    return [[_finite_or_none(v) for v in row] for row in np.asarray(m, dtype=float)]


def components_json(fit: MultiTraitFit) -> dict[str, Any]:
    """The fit as a JSON-able dict: method, converged, iterations, log_likelihood, traits,
    variances and se (effect / ``residual`` → t × t nested lists in trait order), ratios,
    boundary, messages, criteria. Undefined values (NaN) are None."""
    return {
        "method": fit.method,
        "converged": bool(fit.converged),
        "iterations": int(fit.iterations),
        "log_likelihood": _finite_or_none(fit.log_likelihood),
        "traits": list(fit.traits),
        "variances": {**{k: _matrix_json(v) for k, v in fit.g0.items()}, RESIDUAL: _matrix_json(fit.r0)},
        "se": {k: _matrix_json(v) for k, v in fit.se.items()},
        "ratios": {
            label: {
                key: {"estimate": _finite_or_none(v["estimate"]), "se": _finite_or_none(v["se"])}
                for key, v in entry.items()
            }
            for label, entry in fit.ratios.items()
        },
        "boundary": list(fit.boundary),
        "messages": list(fit.messages),
        "criteria": asdict(fit.criteria),
    }
