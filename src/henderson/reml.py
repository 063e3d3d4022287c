"""Variance components by restricted maximum likelihood (REML): the objective, EM-REML and
average-information REML (Gilmour, Thompson & Cullis 1995), with standard errors.

Model (univariate, as in :mod:`henderson.mme`)::

    y = X b + Σ_k Z_k u_k + e,   e ~ N(0, I σ²_e),   Var(u_g) = G0_g ⊗ K_g per covariance group g,

so ``V = Σ_g Z_g (G0_g ⊗ K_g) Z_g' + I σ²_e`` (n × n), with ``Z_g = [Z_k for k in g]`` and X of
full column rank p (as :func:`henderson.design.fixed_design` builds it).

Parameters θ (named as in the configuration): the variance of every random effect under its
name, the covariance of effects a and b of one group under ``a.b`` (a before b in model order), and
``residual``. Their order (:func:`parameter_names`) is: per group, its variances and then its
covariances, and finally ``residual``.

The REML log-likelihood, including its constant (``-1/2`` × lme4's "REML criterion")::

    logL = -1/2 [(n - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py],   P = V⁻¹ - V⁻¹X(X'V⁻¹X)⁻¹X'V⁻¹

is evaluated from the mixed model equations C ŝ = r (C = W'W/σ²_e + blockdiag(0, G⁻¹), W = [X Z]):

    log|V| + log|X'V⁻¹X| = log|C| + log|G| + log|R|,
    log|G| = Σ_g [q_g log|G0_g| + k_g log|K_g|],   log|R| = n log σ²_e,
    y'Py = ê'ê/σ²_e + û'G⁻¹û   (ê = y - Wŝ, û the random part of ŝ),

the penalised form of ``y'y/σ²_e - ŝ'r``: it has no cancellation between two terms of order
y'y/σ²_e, so it stays accurate as σ²_e → 0.

Derivatives use the random-effect blocks of C⁻¹ only through ``T_g[a, b] = tr(K_g⁻¹ C^{ab})``
(taken from the selected inverse of the Cholesky factor, on the pattern of C) and
``S_g[a, b] = û_a' K_g⁻¹ û_b``. With ``M_g = G0_g⁻¹ (S_g + T_g) G0_g⁻¹`` and
``D_g = q_g G0_g⁻¹ - M_g``:

    ∂logL/∂σ²_a  = -1/2 D_g[a, a],        ∂logL/∂σ_ab = -D_g[a, b],
    ∂logL/∂σ²_e  = -1/2 [tr(P) - ê'ê/σ⁴_e],   tr(P) = (n - tr(C⁻¹W'W)/σ²_e)/σ²_e,

with ê = y - Wŝ. The EM-REML update is ``G0_g ← (S_g + T_g)/q_g`` and
``σ²_e ← (ê'ê + tr(C⁻¹W'W))/n`` (the exact EM form of ê'y/(n - p)). The average information
matrix is ``AI_ij = 1/2 f_i' P f_j`` with working variates ``f_i = (∂V/∂θ_i) P y``:
``f = Z_g (E G0_g⁻¹ ⊗ I) û_g`` for an element E of G0_g and ``f = ê/σ²_e`` for the residual;
``P F = (F - W C⁻¹ W'F/σ²_e)/σ²_e`` costs one solve per parameter.

Residual variance at zero. When the random effects alone give a positive definite
``V_0 = Σ_g Z_g (G0_g ⊗ K_g) Z_g'`` (e.g. one record per animal), logL has a finite limit as
σ²_e → 0, and REML may put its maximum there: the random effects explain every record and the
model is over-parameterised for the data. logL, its gradient, the AI matrix and the EM update
are then analytic in σ²_e on a neighbourhood of 0 (V = V_0 + σ²_e I stays positive definite), but
the MME exist only for σ²_e > 0; their values at σ²_e = 0 are taken as limits by Richardson
extrapolation from h and 2h: ``f(0) = 2 f(h) - f(2h) + O(h²)``, h = 1e-6 × σ²_p (where the O(h²)
term and the rounding error of the MME at h, which grows like 1/h, are both about 1e-10 relative
for logL; a larger h is dominated by the first, a smaller one by the second).
Whether the limit is finite is checked by comparing that extrapolation with the one from 2h and
4h: a singular V_0 makes logL behave like ±(k/2) log σ²_e or 1/σ²_e, and the two then differ by
at least (log 2)/2. See :func:`fit_reml` for how a fit uses this.

The symbolic analysis of C happens once per model; each evaluation refactorizes numerically.
Nothing dense grows with the data: the only dense arrays are n × (number of parameters).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.errors import ConfigError, InputError, NumericalError
from henderson.linalg import SparseCholesky, trace_of_product
from henderson.mme import MixedModel, covariance_key, reduced_model

__all__ = [
    "ConvergenceCriteria",
    "LogLikelihood",
    "REMLFit",
    "coefficient_pattern",
    "default_start",
    "fit_reml",
    "parameter_names",
    "relationship_logdets",
    "reml_loglik",
    "variance_components_json",
    "variance_ratios",
]

RESIDUAL = "residual"
METHODS = ("ai", "em")
_LOG = logging.getLogger(__name__)
_LOG_2PI = math.log(2.0 * math.pi)
# A covariance group is inside the parameter space when the smallest eigenvalue of its
# correlation matrix exceeds this (|r| < 1 with a margin, so that G0⁻¹ stays well defined).
_PD_MARGIN = 1e-8
# Step halvings tried before an AI step that leaves the parameter space is replaced by EM. Many
# are allowed: near a zero variance the AI curvature of that variance vanishes with its BLUPs,
# so the raw step can be orders of magnitude too long; halving until inside then at least halves
# the variance, which reaches the boundary rule in a few iterations.
_MAX_HALVINGS = 40
# Relative rounding noise of logL: a smaller drop after an AI step is not an overshoot.
_LOGL_NOISE = 1e-11
# Halvings tried when an AI step lowers logL, before it is replaced by an EM step.
_MAX_DESCENT_HALVINGS = 2
# Extrapolation step h (× σ²_p) of the objective at σ²_e = 0: the O(h²) error and the rounding
# error of the MME at h (∝ 1/h) are both about 1e-10 relative there (module docstring).
_ZERO_RESIDUAL_STEP = 1e-6
# Largest difference of the two extrapolations of logL to σ²_e = 0 (module docstring) taken as a
# finite limit; a singular V_0 gives at least (log 2)/2 ≈ 0.35.
_FINITE_LIMIT = 0.05
# An event that can recur every iteration (a fallback, a halving) is logged and listed in the
# messages this many times per fit; later ones are counted and summarised at the end.
_REPEATS = 3


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvergenceCriteria:
    """When an iterative REML fit stops.

    The fit has converged after an iteration (step) when all of these hold:

    * ``|logL_new - logL_old| < loglik_change``;
    * ``‖θ_new - θ_old‖ / ‖θ_new‖ < parameter_change`` (Euclidean norms over the parameters not
      fixed at the boundary, on the variance scale);
    * for ``method="ai"`` only: the gradient at θ_new, measured in the metric of the average
      information (the Newton decrement ``√(g' AI⁻¹ g)``, free of the units of y and of the
      parameterisation; ½ of its square is the increase of logL a full AI step would give), is
      below ``gradient_norm``.

    No convergence is declared in an iteration that fixed a parameter at the boundary.

    Attributes:
        max_iterations: cap on the number of steps; reaching it ends the fit with
            ``converged=False`` and a message.
        loglik_change, parameter_change, gradient_norm: thresholds above.
        em_iterations: EM steps taken before the AI steps start (``method="ai"`` only).
        boundary: a variance is fixed at zero (the boundary of the parameter space) when it falls
            below ``boundary × σ²_p`` (phenotypic variance at the current estimates) while the
            quadratic (AI) model of logL puts its maximum at or below zero (θ + AI⁻¹g ≤ 0 in
            that variance; ∂logL/∂σ² < 0 when AI is singular). A random effect is then dropped
            from the model (the exact σ² = 0 limit), with the covariances it takes part in; the
            residual variance is held at zero, logL being evaluated as its limit σ²_e → 0 (see
            the module docstring). At convergence the decision is checked once: if logL still
            rises away from zero (score > 0 at σ² = 0.01 × boundary × σ²_p), the variance is
            re-admitted there.
    """

    max_iterations: int = 100
    loglik_change: float = 1e-7
    parameter_change: float = 1e-6
    gradient_norm: float = 1e-4
    em_iterations: int = 1
    boundary: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("max_iterations", "em_iterations"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"reml convergence criterion {name} must be an integer >= 0, got {value!r}.")
        if self.max_iterations < 1:
            raise ConfigError("reml convergence criterion max_iterations must be at least 1.")
        for name in ("loglik_change", "parameter_change", "gradient_norm", "boundary"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not value > 0 or not math.isfinite(value):
                raise ConfigError(
                    f"reml convergence criterion {name} must be a positive number, got {value!r}."
                )


@dataclass(frozen=True)
class LogLikelihood:
    """The REML log-likelihood at given variances.

    value: logL including its constant (see module docstring); gradient: ∂logL/∂θ by parameter
    name; ai_matrix: average information matrix (m × m, parameters in ``names`` order), the
    expected curvature used by AI-REML; names: the m parameter names.
    """

    value: float
    gradient: dict[str, float] | None
    ai_matrix: np.ndarray | None
    names: tuple[str, ...]


@dataclass(frozen=True)
class REMLFit:
    """Record of a REML fit.

    method: "ai" or "em"; converged: the criteria held before ``max_iterations``; iterations: steps
    taken; log_likelihood: logL at the estimates.
    variances: σ² of every random effect and ``residual`` (0.0 for a parameter at the boundary,
    the residual included: see :func:`fit_reml`);
    covariances: ``a.b`` → σ_ab; se: standard error of every parameter, √diag(AI⁻¹) at the
    estimates (NaN for parameters fixed at the boundary, or when AI is singular).
    ratios: ``{"h2": {"estimate", "se"}, "<effect>_ratio": ..., "r_<a>_<b>": ...}`` with delta-
    method standard errors, see :func:`variance_ratios`; NaN where undefined.
    boundary: variances fixed at zero (``residual`` among them when σ²_e converged to zero);
    trace: one row per iteration (0 = start) with columns iteration, step, log_likelihood and
    one column per parameter; criteria: the criteria used; messages: warnings (not converged,
    boundary, step fallbacks). An event that can recur every iteration is listed at most 3 times,
    followed by a count ("AI steps fell back to EM in 37 iterations ..."), so the list stays short.
    """

    method: str
    converged: bool
    iterations: int
    log_likelihood: float
    variances: dict[str, float]
    covariances: dict[str, float]
    se: dict[str, float]
    ratios: dict[str, dict[str, float]]
    boundary: tuple[str, ...]
    trace: pd.DataFrame
    criteria: ConvergenceCriteria
    messages: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parameter:
    """One variance parameter: element (i, j) of G0 of covariance group `group` (i == j for a
    variance), or the residual variance (group -1)."""

    name: str
    group: int
    i: int
    j: int

    @property
    def is_variance(self) -> bool:
        return self.group >= 0 and self.i == self.j

    @property
    def is_covariance(self) -> bool:
        return self.group >= 0 and self.i != self.j


def _parameters(model: MixedModel) -> tuple[_Parameter, ...]:
    out: list[_Parameter] = []
    for g, group in enumerate(model.groups):
        names = [model.random[k].name for k in group]
        out.extend(_Parameter(name, g, i, i) for i, name in enumerate(names))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                out.append(_Parameter(covariance_key(names[i], names[j]), g, i, j))
    out.append(_Parameter(RESIDUAL, -1, 0, 0))
    return tuple(out)


def parameter_names(model: MixedModel) -> tuple[str, ...]:
    """Names of the variance parameters of `model`, in the order of gradients and AI matrices:
    per covariance group its variances (effect names) then its covariances (``a.b``), then
    ``residual``."""
    return tuple(p.name for p in _parameters(model))


def _lookup(values: Mapping[str, float], name: str, what: str) -> float | None:
    """Value of parameter `name` (None when absent); a covariance ``a.b`` may also be given as
    ``b.a``."""
    key = name
    if key not in values and "." in name:
        a, b = name.split(".", 1)
        key = covariance_key(b, a)
    if key not in values:
        return None
    try:
        value = float(values[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: {key} = {values[key]!r} is not a number.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what}: {key} = {value} is not a finite number.")
    return value


def _theta_from_mapping(model: MixedModel, values: Mapping[str, float], what: str) -> np.ndarray:
    """θ in parameter order from `{name: value}`; a missing covariance is 0, anything else
    missing or unknown is a ConfigError naming the key."""
    params = _parameters(model)
    known = {p.name for p in params}
    known |= {covariance_key(*reversed(p.name.split(".", 1))) for p in params if p.is_covariance}
    unknown = sorted(set(values) - known)
    all_names = [p.name for p in params]
    if unknown:
        raise ConfigError(
            f"{what}: unknown variance parameter(s) {unknown}; the model of trait {model.trait} has "
            f"{all_names}. Remove them or add the effects to the model."
        )
    theta = np.zeros(len(params))
    for k, p in enumerate(params):
        value = _lookup(values, p.name, what)
        if value is None and not p.is_covariance:
            raise ConfigError(
                f"{what}: no value for variance parameter {p.name!r}; give one for every parameter "
                f"of {all_names} (covariances may be left out: they start at 0)."
            )
        theta[k] = 0.0 if value is None else value
    return theta


def _group_matrices(model: MixedModel, params: Sequence[_Parameter], theta: np.ndarray) -> list[np.ndarray]:
    g0s = [np.zeros((len(group), len(group))) for group in model.groups]
    for p, value in zip(params, theta):
        if p.group >= 0:
            g0s[p.group][p.i, p.j] = g0s[p.group][p.j, p.i] = value
    return g0s


def _inside(model: MixedModel, params: Sequence[_Parameter], theta: np.ndarray) -> bool:
    """θ is an interior point: positive variances, every G0 positive definite, σ²_e > 0 (when
    the residual is among `params`)."""
    if not np.all(np.isfinite(theta)):
        return False
    if any(p.group < 0 and not value > 0 for p, value in zip(params, theta)):
        return False
    for g0 in _group_matrices(model, params, theta):
        d = np.diag(g0)
        if np.any(d <= 0):
            return False
        if g0.shape[0] > 1:
            corr = g0 / np.sqrt(np.outer(d, d))
            if np.linalg.eigvalsh(corr)[0] <= _PD_MARGIN:
                return False
    return True


def _check_interior(model: MixedModel, params: Sequence[_Parameter], theta: np.ndarray, what: str) -> None:
    """ConfigError naming the first parameter or group that puts θ outside the parameter space."""
    if _inside(model, params, theta):
        return
    for p, value in zip(params, theta):
        if (p.is_variance or p.group < 0) and not value > 0:
            raise ConfigError(
                f"{what}: {p.name} = {value:g}; variances must be positive (a variance that is "
                "zero is estimated as such: start it at a small positive value)."
            )
    for group, g0 in zip(model.groups, _group_matrices(model, params, theta)):
        d = np.sqrt(np.diag(g0))
        if g0.shape[0] > 1 and np.linalg.eigvalsh(g0 / np.outer(d, d))[0] <= _PD_MARGIN:
            names = [model.random[k].name for k in group]
            raise ConfigError(
                f"{what}: the (co)variances of {names} are not positive definite ({g0.tolist()}); "
                "use covariances that give correlations strictly between -1 and 1."
            )


# --------------------------------------------------------------------------------------------
# The objective on the mixed model equations
# --------------------------------------------------------------------------------------------
def _embed(block: sp.spmatrix, row0: int, col0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of `block` placed at (row0, col0) of a larger matrix: (rows, cols, values)."""
    coo = sp.coo_matrix(block)
    return coo.row.astype(np.int64) + row0, coo.col.astype(np.int64) + col0, coo.data.astype(float)


_Entries = tuple[np.ndarray, np.ndarray, np.ndarray]


def _components(model: MixedModel) -> tuple[list[_Entries], list[list[tuple[int, int]]]]:
    """Entries (rows, cols, values) of W'W and of every K_g⁻¹ block pair of C, in N × N
    coordinates: component 0 is W'W; then per group g and local pair (a ≤ b) the matrix with
    K_g⁻¹ at block (a, b) and (b, a), whose coefficient in C is (G0_g⁻¹)_ab."""
    off = model.offsets
    comps = [_embed(model.wtw, 0, 0)]
    pairs: list[list[tuple[int, int]]] = []
    for group in model.groups:
        kinv = model.random[group[0]].kinv
        local: list[tuple[int, int]] = []
        for ia, a in enumerate(group):
            for ib in range(ia, len(group)):
                b = group[ib]
                r, c, v = _embed(kinv, int(off[a + 1]), int(off[b + 1]))
                if ia != ib:
                    r, c, v = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])
                comps.append((r, c, v))
                local.append((ia, ib))
        pairs.append(local)
    return comps, pairs


def coefficient_pattern(model: MixedModel) -> sp.csc_matrix:
    """Sparsity pattern (N × N, both triangles, values 1) of the coefficient matrix C for every
    value of the variances: W'W, the diagonal, and K_g⁻¹ in every block pair (a, b) of each
    covariance group, also where G0_g⁻¹ happens to be zero. Analyse a
    :class:`~henderson.linalg.SparseCholesky` on it to pass as ``factor`` to :func:`reml_loglik`."""
    comps, _ = _components(model)
    return _union_pattern(comps, model.n_unknowns)


def _union_pattern(comps: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int) -> sp.csc_matrix:
    diag = np.arange(n, dtype=np.int64)
    rows = np.concatenate([diag] + [c[0] for c in comps])
    cols = np.concatenate([diag] + [c[1] for c in comps])
    pattern = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    pattern.sum_duplicates()
    pattern.sort_indices()
    pattern.data[:] = 1.0
    return pattern


def relationship_logdets(model: MixedModel) -> tuple[float, ...]:
    """log|K_g| of every covariance group (K = A for additive effects, I for iid ones), from a
    sparse Cholesky factorization of K_g⁻¹: log|K| = -log|K⁻¹|."""
    cache: dict[int, float] = {}
    return tuple(_kinv_logdet(model.random[group[0]].kinv, cache) for group in model.groups)


def kinv_logdet(kinv: sp.csc_matrix) -> float:
    """log|K| from K⁻¹ (q × q; 0 for the identity), by a sparse Cholesky of K⁻¹."""
    q = kinv.shape[0]
    if kinv.nnz == q and np.array_equal(kinv.diagonal(), np.ones(q)):
        return 0.0
    try:
        chol = SparseCholesky(kinv).factorize(kinv)
    except NumericalError as exc:
        raise NumericalError(
            f"the inverse relationship matrix ({q} × {q}) is not positive definite ({exc}); "
            "rebuild it from the cleaned pedigree."
        ) from exc
    return -chol.logdet()


def _kinv_logdet(kinv: sp.csc_matrix, cache: dict[int, float]) -> float:
    key = id(kinv)
    if key not in cache:
        cache[key] = kinv_logdet(kinv)
    return cache[key]


@dataclass
class _Evaluation:
    """Everything one factorization of C gives at θ (parameters in workspace order)."""

    theta: np.ndarray
    loglik: float
    gradient: np.ndarray
    ai: np.ndarray
    em: np.ndarray


class _Workspace:
    """Fixed pattern, symbolic factor and K log-determinants of one model; evaluates the REML
    objective, its gradient, the AI matrix and the EM update at any interior θ."""

    def __init__(
        self,
        model: MixedModel,
        *,
        factor: SparseCholesky | None = None,
        logdet_k: Sequence[float] | None = None,
        logdet_cache: dict[int, float] | None = None,
    ) -> None:
        self.model = model
        self.params = _parameters(model)
        n_unk = model.n_unknowns
        comps, self.pairs = _components(model)
        self.pattern = _union_pattern(comps, n_unk)
        keys = self.pattern.indices.astype(np.int64) + n_unk * np.repeat(
            np.arange(n_unk, dtype=np.int64), np.diff(self.pattern.indptr)
        )
        aligned = []
        for rows, cols, vals in comps:
            pos = np.searchsorted(keys, rows + n_unk * cols)
            aligned.append(np.bincount(pos, weights=vals, minlength=keys.size))
        self.wtw_data = aligned[0]
        self.pair_data = []
        k = 1
        for local in self.pairs:
            self.pair_data.append(aligned[k : k + len(local)])
            k += len(local)
        if factor is not None and factor.n != n_unk:
            raise ValueError(f"factor is {factor.n} × {factor.n}; the model has {n_unk} unknowns.")
        self.factor = factor if factor is not None else SparseCholesky(self.pattern)
        if logdet_k is not None:
            if len(logdet_k) != len(model.groups):
                raise ValueError(f"logdet_k needs one value per covariance group ({len(model.groups)}).")
            self.logdet_k = tuple(float(v) for v in logdet_k)
        else:
            cache = logdet_cache if logdet_cache is not None else {}
            self.logdet_k = tuple(_kinv_logdet(model.random[g[0]].kinv, cache) for g in model.groups)
        self.w = sp.hstack([model.fixed.matrix] + [r.matrix for r in model.random], format="csc")
        # θ at which `factor` holds C, with the solution ŝ, the residuals ê and logL there
        self._at: np.ndarray | None = None
        self._at_sol = np.zeros(0)
        self._at_resid = np.zeros(0)
        self._at_loglik = float("nan")

    def _matrix(self, data: np.ndarray) -> sp.csc_matrix:
        p = self.pattern
        out = sp.csc_matrix((data, p.indices, p.indptr), shape=p.shape)
        out.has_sorted_indices = True
        return out

    def loglik(self, theta: np.ndarray) -> float:
        """logL at θ from one numeric factorization of C (kept for a following `evaluate`)."""
        if self._at is not None and np.array_equal(self._at, theta):
            return self._at_loglik
        model = self.model
        n, p = model.n_records, model.n_fixed
        res = float(theta[-1])
        g0s = _group_matrices(model, self.params, theta)
        g0invs = [np.linalg.inv(g0) for g0 in g0s]
        data = self.wtw_data / res
        for local, blocks, g0inv in zip(self.pairs, self.pair_data, g0invs):
            for (ia, ib), values in zip(local, blocks):
                data = data + g0inv[ia, ib] * values
        self._at = None
        try:
            self.factor.factorize(self._matrix(data))
        except ValueError as exc:
            raise ValueError(f"{exc}. Pass a factor analysed on coefficient_pattern(model).") from exc
        sol = self.factor.solve(model.wty / res)
        resid = model.y - self.w @ sol
        off = model.offsets
        logdet_g = 0.0
        penalty = 0.0  # û'G⁻¹û = Σ_g tr(G0_g⁻¹ U_g'K_g⁻¹U_g)
        for group, g0, g0inv, ldk in zip(model.groups, g0s, g0invs, self.logdet_k):
            kinv = model.random[group[0]].kinv
            q = kinv.shape[0]
            logdet_g += q * float(np.linalg.slogdet(g0)[1]) + len(group) * ldk
            u = np.column_stack([sol[off[a + 1] : off[a + 2]] for a in group])
            penalty += float(np.sum(g0inv * (u.T @ (kinv @ u))))
        ypy = float(resid @ resid) / res + penalty
        loglik = -0.5 * ((n - p) * _LOG_2PI + self.factor.logdet() + logdet_g + n * math.log(res) + ypy)
        self._at, self._at_sol, self._at_resid, self._at_loglik = theta.copy(), sol, resid, loglik
        return loglik

    def evaluate(self, theta: np.ndarray, derivatives: bool = True) -> _Evaluation:
        """logL, and with `derivatives` its gradient, the AI matrix and the EM update, at θ."""
        model = self.model
        params = self.params
        n = model.n_records
        off = model.offsets
        res = float(theta[-1])
        loglik = self.loglik(theta)
        sol, resid = self._at_sol, self._at_resid
        g0invs = [np.linalg.inv(g0) for g0 in _group_matrices(model, params, theta)]
        m = len(params)
        if not derivatives:
            nan = np.full(m, np.nan)
            return _Evaluation(theta.copy(), loglik, nan, np.full((m, m), np.nan), nan)

        zinv = self.factor.selected_inverse()
        ee = float(resid @ resid)
        tr_cww = trace_of_product(zinv, model.wtw)
        gradient = np.zeros(m)
        em = np.zeros(m)
        # S_g, T_g, and the working variates of the AI matrix
        work = np.zeros((n, m))
        index = {(par.group, par.i, par.j): k for k, par in enumerate(params)}
        for g, (group, local, blocks, g0inv) in enumerate(zip(model.groups, self.pairs, self.pair_data, g0invs)):
            kg = len(group)
            kinv = model.random[group[0]].kinv
            q = kinv.shape[0]
            u = np.column_stack([sol[off[a + 1] : off[a + 2]] for a in group])  # q × k
            kinv_u = kinv @ u
            s_mat = u.T @ kinv_u
            t_mat = np.zeros((kg, kg))
            for (ia, ib), values in zip(local, blocks):
                tr = trace_of_product(zinv, self._matrix(values))
                t_mat[ia, ib] = t_mat[ib, ia] = tr if ia == ib else 0.5 * tr
            st = s_mat + t_mat
            d_mat = q * g0inv - g0inv @ st @ g0inv
            em_g0 = st / q
            z_group = [model.random[a].matrix for a in group]
            for i in range(kg):
                for j in range(i, kg):
                    k = index[(g, i, j)]
                    gradient[k] = -0.5 * d_mat[i, i] if i == j else -d_mat[i, j]
                    em[k] = em_g0[i, j]
                    e_mat = np.zeros((kg, kg))
                    e_mat[i, j] = e_mat[j, i] = 1.0
                    u_new = u @ (g0inv @ e_mat)
                    col = np.zeros(n)
                    for a in range(kg):
                        col += z_group[a] @ u_new[:, a]
                    work[:, k] = col
        tr_p = (n - tr_cww / res) / res
        gradient[-1] = -0.5 * (tr_p - ee / res**2)
        em[-1] = (ee + tr_cww) / n
        work[:, -1] = resid / res
        pf = (work - self.w @ self.factor.solve(np.asarray(self.w.T @ work) / res)) / res
        ai = 0.5 * (work.T @ pf)
        ai = 0.5 * (ai + ai.T)
        return _Evaluation(theta.copy(), loglik, gradient, ai, em)


class _ZeroResidual:
    """The objective of a model at σ²_e = 0, as a function of θ without the residual.

    Values at σ²_e = 0 are limits, taken by Richardson extrapolation from the MME at σ²_e = h
    and 2h: ``f(0) = 2 f(h) - f(2h) + O(h²)`` for logL, the gradient, the AI matrix and the EM
    update of the other parameters (module docstring). `step` = h is fixed for the whole fit so
    that the objective is one function of θ. Same interface as :class:`_Workspace` (``model``,
    ``params``, ``loglik``, ``evaluate``); two factorizations per call.
    """

    def __init__(self, inner: _Workspace, step: float) -> None:
        self.inner = inner
        self.step = step
        self.model = inner.model
        self.params = inner.params[:-1]

    def _at(self, theta: np.ndarray, multiple: float) -> np.ndarray:
        return np.append(theta, multiple * self.step)

    def loglik(self, theta: np.ndarray) -> float:
        return 2.0 * self.inner.loglik(self._at(theta, 1.0)) - self.inner.loglik(self._at(theta, 2.0))

    def evaluate(self, theta: np.ndarray) -> _Evaluation:
        a = self.inner.evaluate(self._at(theta, 1.0))
        b = self.inner.evaluate(self._at(theta, 2.0))
        ai = (2.0 * a.ai - b.ai)[:-1, :-1]
        return _Evaluation(
            theta.copy(),
            2.0 * a.loglik - b.loglik,
            (2.0 * a.gradient - b.gradient)[:-1],
            0.5 * (ai + ai.T),
            (2.0 * a.em - b.em)[:-1],
        )

    def limit_gap(self, theta: np.ndarray) -> tuple[float, float]:
        """(|E(h) - E(2h)|, logL(h) - logL(4h)) with E(t) = 2 logL(t) - logL(2t). The first is
        O(h²) when logL has a finite limit at σ²_e = 0, and at least (log 2)/2 when V_0 is
        singular (logL then behaves like ±(k/2) log σ²_e, k ≥ 1, or like -c/σ²_e); the second,
        the rise of logL towards zero, tells +∞ from -∞ then."""
        l1, l2, l4 = (self.inner.loglik(self._at(theta, m)) for m in (1.0, 2.0, 4.0))
        gap = abs((2.0 * l1 - l2) - (2.0 * l2 - l4))
        return (gap if math.isfinite(gap) else float("inf")), l1 - l4


def reml_loglik(
    model: MixedModel,
    variances: Mapping[str, float],
    *,
    gradient: bool = False,
    ai: bool = False,
    factor: SparseCholesky | None = None,
    logdet_k: Sequence[float] | None = None,
) -> LogLikelihood:
    """The REML log-likelihood at given variances, independent of any optimiser.

    ``logL = -1/2 [(n - p) log 2π + log|V| + log|X'V⁻¹X| + y'Py]`` (= -1/2 × lme4's REML
    criterion), computed from one sparse Cholesky factorization of the MME coefficient matrix as
    described in the module docstring; the gradient and the AI matrix also need the selected
    inverse of C (never a dense inverse) and one solve per parameter.

    Args:
        model: the mixed model (:func:`henderson.mme.build_mixed_model`).
        variances: ``{effect: σ², "a.b": σ_ab, "residual": σ²_e}``; a missing covariance is 0.
            Must be an interior point (positive variances, positive definite G0).
        gradient, ai: also return ∂logL/∂θ and the average information matrix.
        factor: a SparseCholesky analysed on :func:`coefficient_pattern` of this model, to
            reuse its symbolic analysis across calls (refactorized in place).
        logdet_k: log|K_g| per covariance group (:func:`relationship_logdets`), to skip the
            factorization of each K_g⁻¹.

    Raises:
        ConfigError: unknown or missing parameters, or variances outside the parameter space.
    """
    theta = _theta_from_mapping(model, variances, "reml_loglik")
    params = _parameters(model)
    _check_interior(model, params, theta, "reml_loglik")
    workspace = _Workspace(model, factor=factor, logdet_k=logdet_k)
    ev = workspace.evaluate(theta, derivatives=gradient or ai)
    names = tuple(p.name for p in params)
    return LogLikelihood(
        value=ev.loglik,
        gradient={name: float(v) for name, v in zip(names, ev.gradient)} if gradient else None,
        ai_matrix=ev.ai.copy() if ai else None,
        names=names,
    )


# --------------------------------------------------------------------------------------------
# Starting values and ratios
# --------------------------------------------------------------------------------------------
def default_start(model: MixedModel) -> dict[str, float]:
    """Starting values when the configuration gives none: the phenotypic variance, taken as the
    residual mean square of y after the fixed effects (ordinary least squares,
    ``σ²_y = (y'y - b̂'X'y)/(n - p)``), split evenly among the random effects and the residual;
    covariances start at zero."""
    n, p = model.n_records, model.n_fixed
    if n <= p:
        raise InputError(
            f"trait {model.trait}: {n} records for {p} fixed-effect levels; REML needs more records "
            "than fixed-effect levels. Add records or simplify the fixed part."
        )
    xtx = sp.csc_matrix(model.wtw[:p, :p])
    xty = model.wty[:p]
    chol = SparseCholesky(xtx).factorize(xtx)
    sse = model.yty - float(chol.solve(xty) @ xty)
    var_y = sse / (n - p)
    if not var_y > 0:
        raise InputError(
            f"trait {model.trait}: the records have no variation left after the fixed effects; "
            "nothing to partition into variance components."
        )
    share = var_y / (len(model.random) + 1)
    start = {r.name: share for r in model.random}
    start[RESIDUAL] = share
    return start


def _phenotypic_weights(model: MixedModel, params: Sequence[_Parameter]) -> np.ndarray:
    """c with σ²_p = c'θ: 1 for every variance, 1 for a direct–maternal covariance (Willham)."""
    weights = np.zeros(len(params))
    for k, p in enumerate(params):
        if p.is_variance or p.group < 0:
            weights[k] = 1.0
        else:
            group = model.groups[p.group]
            types = {model.random[group[p.i]].type, model.random[group[p.j]].type}
            weights[k] = 1.0 if types == {"additive", "maternal"} else 0.0
    return weights


def variance_ratios(
    model: MixedModel, theta: np.ndarray, covariance: np.ndarray | None, fixed: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Ratios of the full model's parameters θ (in :func:`parameter_names` order) with delta-
    method standard errors from ``covariance`` (sampling covariance of θ, NaN rows/columns for
    parameters without one; ``fixed`` marks parameters fixed at the boundary).

    σ²_p = Σ variances (random effects and residual) + Σ σ_am over direct–maternal pairs (an
    additive and a maternal effect of one group; Willham 1972). "h2" = σ²_a/σ²_p for the first
    additive effect; "<name>_ratio" = σ²_k/σ²_p for every other random effect;
    "r_<a>_<b>" = σ_ab/√(σ²_a σ²_b) for every covariance. SE = √(∇f' Cov ∇f) over the free
    parameters; NaN where a ratio or its SE is undefined (e.g. a correlation with a variance
    fixed at zero).
    """
    params = _parameters(model)
    m = len(params)
    fixed = np.zeros(m, dtype=bool) if fixed is None else fixed
    cov = np.full((m, m), np.nan) if covariance is None else covariance
    weights = _phenotypic_weights(model, params)
    sigma_p = float(weights @ theta)
    free = ~fixed

    def summarise(estimate: float, grad: np.ndarray) -> dict[str, float]:
        if not math.isfinite(estimate):
            return {"estimate": float("nan"), "se": float("nan")}
        sub = cov[np.ix_(free, free)]
        var = float(grad[free] @ sub @ grad[free]) if np.all(np.isfinite(sub)) else float("nan")
        return {"estimate": float(estimate), "se": math.sqrt(var) if var >= 0 else float("nan")}

    out: dict[str, dict[str, float]] = {}
    first_additive = next((r.name for r in model.random if r.type == "additive"), None)
    for k, p in enumerate(params):
        if not p.is_variance:
            continue
        label = "h2" if p.name == first_additive else f"{p.name}_ratio"
        ratio = theta[k] / sigma_p
        grad = -ratio * weights / sigma_p
        grad[k] += 1.0 / sigma_p
        entry = summarise(ratio, grad)
        if fixed[k]:
            entry["se"] = float("nan")
        out[label] = entry
    index = {p.name: k for k, p in enumerate(params)}
    for k, p in enumerate(params):
        if not p.is_covariance:
            continue
        group = model.groups[p.group]
        a, b = model.random[group[p.i]].name, model.random[group[p.j]].name
        ka, kb = index[a], index[b]
        label = f"r_{a}_{b}"
        if fixed[ka] or fixed[kb] or not (theta[ka] > 0 and theta[kb] > 0):
            out[label] = {"estimate": float("nan"), "se": float("nan")}
            continue
        r = theta[k] / math.sqrt(theta[ka] * theta[kb])
        grad = np.zeros(m)
        grad[k] = 1.0 / math.sqrt(theta[ka] * theta[kb])
        grad[ka] = -0.5 * r / theta[ka]
        grad[kb] = -0.5 * r / theta[kb]
        out[label] = summarise(r, grad)
    return out


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------
def _times(k: int) -> str:
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


class _Notes:
    """The warnings of one fit: logged and kept for :attr:`REMLFit.messages`.

    An event that can recur every iteration is given a `kind`; each kind is logged and kept only
    the first `_REPEATS` times (later ones go to the DEBUG log) and counted, with a count per
    `reason`, for a summary at the end of the fit.
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.messages: list[str] = []
        self.counts: dict[str, dict[str, int]] = {}

    def warn(self, text: str) -> None:
        self.log.warning(text)
        self.messages.append(text)

    def event(self, kind: str, text: str, *, reason: str = "", level: int = logging.WARNING, keep: bool = True) -> None:
        reasons = self.counts.setdefault(kind, {})
        reasons[reason] = reasons.get(reason, 0) + 1
        if sum(reasons.values()) > _REPEATS:
            self.log.debug(text)
            return
        self.log.log(level, text)
        if keep:
            self.messages.append(text)

    def count(self, kind: str) -> int:
        return sum(self.counts.get(kind, {}).values())

    def breakdown(self, kind: str) -> str:
        """``"lowered logL: 20, left the parameter space: 17"`` (most frequent first)."""
        items = sorted(self.counts.get(kind, {}).items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{reason}: {n}" for reason, n in items if reason)


@dataclass
class _State:
    """The model being fitted (effects at the boundary removed, the residual held at zero when
    `zero_residual` is the extrapolation step h) and how it maps to the full θ."""

    full: MixedModel
    keep: list[int]
    workspace: _Workspace | _ZeroResidual
    logdet_cache: dict[int, float] = field(default_factory=dict)
    zero_residual: float | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.workspace.params]

    def workspace_for(self, keep: Sequence[int], zero_residual: float | None) -> _Workspace | _ZeroResidual:
        inner = _Workspace(reduced_model(self.full, keep), logdet_cache=self.logdet_cache)
        return inner if zero_residual is None else _ZeroResidual(inner, zero_residual)

    def rebuild(self) -> None:
        self.workspace = self.workspace_for(self.keep, self.zero_residual)

    def full_theta(self, theta: np.ndarray) -> np.ndarray:
        values = dict(zip(self.names, theta))
        return np.array([values.get(name, 0.0) for name in parameter_names(self.full)])


def fit_reml(
    model: MixedModel,
    start: Mapping[str, float],
    *,
    method: str = "ai",
    criteria: ConvergenceCriteria = ConvergenceCriteria(),
    logger: logging.Logger | None = None,
) -> REMLFit:
    """Estimate the variance parameters by REML.

    ``method="em"``: EM-REML steps (module docstring) until the criteria hold. ``method="ai"``:
    ``criteria.em_iterations`` EM steps, then average-information steps θ ← θ + AI⁻¹ ∂logL/∂θ.
    An AI step that would leave the parameter space (a variance ≤ 0, a G0 not positive definite)
    is halved until it stays inside (at most 40 times), otherwise replaced by an EM step; an AI
    step that lowers logL is halved (at most twice more), otherwise replaced by an EM step (EM
    never lowers logL). Variances that reach the boundary are fixed at zero (see
    :class:`ConvergenceCriteria`); that is reported, not an error. Reaching ``max_iterations``
    ends the fit with ``converged=False`` and a message. Standard errors come from the inverse of
    the AI matrix at the estimates (for both methods), over the parameters not at the boundary.

    Residual variance converging to zero: when σ²_e falls below ``boundary × σ²_p`` and the AI
    model of logL puts its maximum at or below zero, the limit of logL as σ²_e → 0 is examined
    (module docstring):

    * finite (V_0 positive definite, e.g. one record per animal): σ²_e is held at 0 and the fit
      goes on over the other parameters with the objective taken at σ²_e = 0 (extrapolated, about
      1e-10 relative error). ``residual`` is listed in ``boundary`` with the value 0.0,
      ``converged`` is True when the criteria then hold, and one message says that the random
      effects explain every record, so the model is over-parameterised for these data. At
      convergence ∂logL/∂σ²_e just off zero is checked as for any boundary variance;
    * -∞ (V_0 singular and y not in its range): σ²_e = 0 is no maximum and σ²_e stays free;
    * +∞ (V_0 singular and the random effects fit y exactly, e.g. duplicated records): REML has
      no estimate; the fit stops at once with ``converged=False`` and one message saying so.

    Progress (iteration, step, logL, parameters, elapsed seconds) is logged to `logger` (default:
    this module's logger) at INFO level; step fallbacks and halvings are logged the first 3 times
    each and then counted, with a summary at the end.

    Raises:
        ConfigError: an unknown method, or starting values that are missing, unknown, or outside
            the parameter space.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown REML method {method!r}; use one of {list(METHODS)}.")
    log = logger if logger is not None else _LOG
    full_names = parameter_names(model)
    full_params = _parameters(model)
    theta_full = _theta_from_mapping(model, start, "REML starting values")
    _check_interior(model, full_params, theta_full, "REML starting values")

    clock = time.perf_counter()
    cache: dict[int, float] = {}
    state = _State(model, list(range(len(model.random))), _Workspace(model, logdet_cache=cache), cache)
    theta = theta_full.copy()
    ev = state.workspace.evaluate(theta)
    rows: list[list[Any]] = [[0, "start", ev.loglik, *state.full_theta(theta)]]
    notes = _Notes(log)
    boundary: list[str] = []
    readmitted: set[str] = set()
    converged = False
    stopped = False
    iteration = 0
    log.info(
        "REML (%s) start: logL %.6f, %s", method, ev.loglik,
        _format(state.names, theta),
    )
    for iteration in range(1, criteria.max_iterations + 1):
        if method == "em" or iteration <= criteria.em_iterations:
            step = "em"
            new = ev.em.copy()
            ev_new = state.workspace.evaluate(new)
        else:
            # a drop below rounding noise of logL (sums of ~N log pivots) is no overshoot
            tolerance = max(criteria.loglik_change, _LOGL_NOISE * abs(ev.loglik))
            step, new, what, reason = _ai_step(state.workspace, ev, tolerance)
            if step == "ai-halved":
                notes.event("ai-halved", f"iteration {iteration}: {what}", level=logging.INFO, keep=False)
            elif step == "em-fallback":
                notes.event("em-fallback", f"iteration {iteration}: {what}; fell back to EM", reason=reason)
            ev_new = state.workspace.evaluate(new)
        reduced, stop = _fix_boundary(state, ev_new, criteria, iteration, boundary, notes)
        changed = reduced is not None
        if reduced is not None:
            new = reduced
            ev_new = state.workspace.evaluate(new)
            step += "+boundary"
        row_theta = state.full_theta(new)
        prev_theta = np.asarray(rows[-1][3:], dtype=float)
        rows.append([iteration, step, ev_new.loglik, *row_theta])
        dl = abs(ev_new.loglik - ev.loglik)
        dp = float(np.linalg.norm(row_theta - prev_theta) / np.linalg.norm(row_theta))
        gn = _newton_decrement(ev_new)
        log.info(
            "iteration %d (%s): logL %.6f, |ΔlogL| %.3g, relative Δθ %.3g, gradient %.3g, %s, %.1f s",
            iteration, step, ev_new.loglik, dl, dp, gn, _format(state.names, new),
            time.perf_counter() - clock,
        )
        theta, ev = new, ev_new
        if stop is not None:
            notes.warn(stop)
            stopped = True
            break
        ok = dl < criteria.loglik_change and dp < criteria.parameter_change
        if method == "ai":
            ok = ok and gn < criteria.gradient_norm
        if ok and not changed:
            readmit = _review_boundary(model, state, theta, boundary, readmitted, criteria, iteration, notes)
            if readmit is None:
                converged = True
                break
            theta, ev = readmit

    halved = notes.count("ai-halved")
    if halved:
        notes.messages.append(
            "AI steps left the parameter space or lowered logL and were halved in "
            f"{halved} iteration(s)."
        )
    fallbacks = notes.count("em-fallback")
    if fallbacks > _REPEATS:
        notes.warn(
            f"AI steps fell back to EM in {fallbacks} iterations ({notes.breakdown('em-fallback')}); "
            f"the first {_REPEATS} are listed above."
        )
    for text in _edge_diagnostics(model, state, theta, boundary if not converged else (), criteria):
        notes.warn(text)
    if not converged and not stopped:
        notes.warn(
            f"REML ({method}) did not converge in {criteria.max_iterations} iterations; the "
            "estimates are the last iterate. Raise max_iterations or check the model."
        )

    # standard errors from the AI matrix at the estimates (free parameters only)
    names_now = state.names
    m_full = len(full_names)
    cov_full = np.full((m_full, m_full), np.nan)
    where = [full_names.index(name) for name in names_now]
    try:
        cov_free = np.linalg.inv(ev.ai)
        if not np.all(np.isfinite(cov_free)) or np.any(np.diag(cov_free) <= 0):
            raise np.linalg.LinAlgError
        cov_full[np.ix_(where, where)] = cov_free
    except np.linalg.LinAlgError:
        notes.warn("the average information matrix is singular at the estimates; no standard errors.")
    theta_out = state.full_theta(theta)
    fixed = np.array([name not in names_now for name in full_names])
    se = {
        name: (math.sqrt(cov_full[k, k]) if not fixed[k] and cov_full[k, k] > 0 else float("nan"))
        for k, name in enumerate(full_names)
    }
    variances = {p.name: float(v) for p, v in zip(full_params, theta_out) if not p.is_covariance}
    covariances = {p.name: float(v) for p, v in zip(full_params, theta_out) if p.is_covariance}
    ratios = variance_ratios(model, theta_out, cov_full, fixed)
    trace = pd.DataFrame(rows, columns=["iteration", "step", "log_likelihood", *full_names])
    trace["iteration"] = trace["iteration"].astype(np.int64)
    trace["step"] = trace["step"].astype(object)
    log.info(
        "REML (%s) %s after %d iterations: logL %.6f, %s, %.1f s", method,
        "converged" if converged else "stopped", iteration, ev.loglik,
        _format(full_names, theta_out), time.perf_counter() - clock,
    )
    return REMLFit(
        method=method,
        converged=converged,
        iterations=iteration,
        log_likelihood=float(ev.loglik),
        variances=variances,
        covariances=covariances,
        se=se,
        ratios=ratios,
        boundary=tuple(boundary),
        trace=trace,
        criteria=criteria,
        messages=tuple(notes.messages),
    )


def _review_boundary(
    model: MixedModel,
    state: _State,
    theta: np.ndarray,
    boundary: list[str],
    readmitted: set[str],
    criteria: ConvergenceCriteria,
    iteration: int,
    notes: _Notes,
) -> tuple[np.ndarray, _Evaluation] | None:
    """At convergence, re-examine the variances fixed at zero once: one whose score just off
    zero is positive (:func:`_boundary_scores`) comes back into the model at σ² = ε. Returns the
    new (θ, evaluation) after a re-admission, None when the fit stands (a positive score of a
    variance already re-admitted once is only reported)."""
    if not boundary:
        return None
    eps, scores = _boundary_scores(model, state, theta, boundary, criteria)
    back = [n for n in boundary if scores[n] > 0 and n not in readmitted]
    if not back:
        for n in boundary:
            if scores[n] > 0:
                notes.warn(
                    f"the log-likelihood increases away from zero for {n} (∂logL/∂σ² = "
                    f"{scores[n]:.3g} at σ² = {eps:.3g}) although it was re-admitted once; "
                    "the boundary estimate is unreliable."
                )
        return None
    values = dict(zip(state.names, theta))
    values.update({n: eps for n in back})
    state.keep = [k for k, r in enumerate(model.random) if r.name in values]
    if RESIDUAL in back:
        state.zero_residual = None
    state.rebuild()
    theta = np.array([values.get(n, 0.0) for n in state.names])
    for n in back:
        boundary.remove(n)
        readmitted.add(n)
        notes.warn(
            f"iteration {iteration}: the log-likelihood increases away from zero for {n} "
            f"(∂logL/∂σ² = {scores[n]:.3g} at σ² = {eps:.3g}); re-admitted at σ² = {eps:.3g}."
        )
    return theta, state.workspace.evaluate(theta)


def _edge_diagnostics(
    model: MixedModel, state: _State, theta: np.ndarray, boundary: Sequence[str], criteria: ConvergenceCriteria
) -> list[str]:
    """Warnings about estimates at the edge of the parameter space.

    * A correlation within 0.01 of ±1: G0 is nearly singular and the AI steps were shortened to
      stay inside, so convergence is slow and the estimate is unreliable.
    * A variance fixed at zero whose score just off the boundary is positive (see
      :func:`_boundary_scores`); `boundary` is empty when the fit converged, as the check was
      made then.
    """
    out = []
    ws = state.workspace
    for group, g0 in zip(ws.model.groups, _group_matrices(ws.model, ws.params, theta)):
        names = [ws.model.random[k].name for k in group]
        d = np.sqrt(np.diag(g0))
        corr = g0 / np.outer(d, d)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                if abs(corr[i, j]) > 0.99:
                    out.append(
                        f"the correlation of {names[i]} and {names[j]} is {corr[i, j]:.4f}, at the edge "
                        "of the parameter space; the estimates there are unreliable (consider a model "
                        "without that covariance)."
                    )
    if boundary:
        eps, scores = _boundary_scores(model, state, theta, boundary, criteria)
        for name in boundary:
            if scores[name] > 0:
                out.append(
                    f"the log-likelihood increases away from zero for {name} (∂logL/∂σ² = "
                    f"{scores[name]:.3g} at σ² = {eps:.3g}): the boundary estimate may be premature; "
                    "refit with a larger starting value or a smaller `boundary` criterion."
                )
    return out


def _boundary_scores(
    model: MixedModel, state: _State, theta: np.ndarray, names: Sequence[str], criteria: ConvergenceCriteria
) -> tuple[float, dict[str, float]]:
    """∂logL/∂σ² of the variances `names` (fixed at zero, the residual among them possibly) just
    off the boundary: at σ² = ε = 0.01 × boundary × σ²_p each (their covariances 0), the other
    parameters at θ (σ²_e at its zero limit if it is fixed and not in `names`). Positive means
    logL rises away from zero."""
    values = dict(zip(state.names, theta))
    keep = [k for k, r in enumerate(model.random) if r.name in values or r.name in names]
    ws = state.workspace_for(keep, None if RESIDUAL in names else state.zero_residual)
    probe = np.array([values.get(p.name, 0.0) for p in ws.params])
    eps = 0.01 * criteria.boundary * float(_phenotypic_weights(ws.model, ws.params) @ probe)
    for k, p in enumerate(ws.params):
        if p.name in names:
            probe[k] = eps
    ev = ws.evaluate(probe)
    return eps, {p.name: float(g) for p, g in zip(ws.params, ev.gradient) if p.name in names}


def _format(names: Sequence[str], theta: np.ndarray) -> str:
    return ", ".join(f"{name} {value:.6g}" for name, value in zip(names, theta))


def _newton_decrement(ev: _Evaluation) -> float:
    try:
        chol = np.linalg.cholesky(ev.ai)
    except np.linalg.LinAlgError:
        return float("inf")
    z = np.linalg.solve(chol, ev.gradient)
    return float(math.sqrt(z @ z))


def _ai_step(
    ws: _Workspace | _ZeroResidual, ev: _Evaluation, tolerance: float
) -> tuple[str, np.ndarray, str, str]:
    """The next θ from `ev` by AI: (step kind, θ_new, what happened, reason of a fallback).

    The step θ + AI⁻¹g is halved until θ_new is inside the parameter space (at most
    `_MAX_HALVINGS` times), then while logL(θ_new) < logL(θ) - tolerance (at most
    `_MAX_DESCENT_HALVINGS` times; this costs one factorization each, kept for the evaluation
    that follows). Kind "ai" (full step), "ai-halved", or "em-fallback" (θ_new = EM update) when
    AI is not positive definite or no halved step qualifies; the reason is then one of "AI not
    positive definite", "left the parameter space", "lowered logL" ("" otherwise).
    """
    try:
        chol = np.linalg.cholesky(ev.ai)
    except np.linalg.LinAlgError:
        return "em-fallback", ev.em.copy(), "the AI matrix is not positive definite", "AI not positive definite"
    delta = np.linalg.solve(chol.T, np.linalg.solve(chol, ev.gradient))
    halvings = 0
    while not _inside(ws.model, ws.params, ev.theta + delta):
        if halvings == _MAX_HALVINGS:
            return (
                "em-fallback", ev.em.copy(),
                f"AI step left the parameter space (halved {_MAX_HALVINGS} times)", "left the parameter space",
            )
        delta, halvings = 0.5 * delta, halvings + 1
    # far from the optimum an AI step may overshoot: halve it while logL drops
    ll_new, descents = ws.loglik(ev.theta + delta), 0
    while ll_new < ev.loglik - tolerance and descents < _MAX_DESCENT_HALVINGS:
        delta, descents = 0.5 * delta, descents + 1
        ll_new = ws.loglik(ev.theta + delta)
    if ll_new < ev.loglik - tolerance:
        return (
            "em-fallback", ev.em.copy(),
            f"AI step lowered logL from {ev.loglik:.6f} to {ll_new:.6f} (halved {_times(descents)})",
            "lowered logL",
        )
    why = []
    if halvings:
        why.append(f"AI step left the parameter space; halved {_times(halvings)}")
    if descents:
        why.append(f"AI step lowered logL; halved {_times(descents)}")
    return ("ai-halved" if why else "ai"), ev.theta + delta, "; ".join(why), ""


def _fix_boundary(
    state: _State,
    ev: _Evaluation,
    criteria: ConvergenceCriteria,
    iteration: int,
    boundary: list[str],
    notes: _Notes,
) -> tuple[np.ndarray | None, str | None]:
    """Fix the variances that reached the boundary (random effects dropped, the residual held at
    its zero limit). Returns (θ of the reduced model, None) when the model changed, (None, None)
    when it did not, and (None, why) when σ²_e runs to zero but logL has no finite limit there:
    the fit must stop."""
    ws = state.workspace
    sigma_p = float(_phenotypic_weights(ws.model, ws.params) @ ev.theta)
    try:  # where the AI (Newton) step would take θ; the gradient's sign when AI is not usable
        chol = np.linalg.cholesky(ev.ai)
        target = ev.theta + np.linalg.solve(chol.T, np.linalg.solve(chol, ev.gradient))
    except np.linalg.LinAlgError:
        target = np.where(ev.gradient < 0, -1.0, 1.0)
    drop = [
        k for k, p in enumerate(ws.params)
        if (p.is_variance or p.group < 0) and ev.theta[k] < criteria.boundary * sigma_p and target[k] <= 0
    ]
    names = [ws.params[k].name for k in drop]
    values = dict(zip(state.names, ev.theta))
    effects = {ws.model.random[ws.model.groups[ws.params[k].group][ws.params[k].i]].name for k in drop
               if ws.params[k].group >= 0}
    keep = [k for k in state.keep if state.full.random[k].name not in effects]
    zero = state.zero_residual
    if RESIDUAL in names:
        # held at zero only where logL has a finite limit; where it runs to -∞ σ²_e = 0 is no
        # maximum (the AI steps keep σ²_e positive), where it runs to +∞ REML has no estimate
        candidate = state.workspace_for(keep, _ZERO_RESIDUAL_STEP * sigma_p)
        gap, rise = candidate.limit_gap(np.array([values[p.name] for p in candidate.params]))
        if gap < _FINITE_LIMIT and keep:
            zero = candidate.step
        elif rise > 0 and keep:
            return None, (
                f"iteration {iteration}: the residual variance runs to zero ({values[RESIDUAL]:.3g}) "
                "and the REML log-likelihood increases without bound there: the random effects alone "
                "make the covariance of the records singular and fit the records exactly (e.g. "
                "repeated records of one animal or level with identical values). REML has no "
                "estimate; the fit stopped at the last iterate. Check the records for duplicates or "
                "remove a random effect."
            )
        else:
            names.remove(RESIDUAL)
    if zero is not None and not keep:
        # no random effect left would make V_0 = 0 (logL → -∞): keep them while σ²_e is at zero
        names = [n for n in names if n == RESIDUAL]
        keep = list(state.keep)
    if not names:
        return None, None
    state.keep, state.zero_residual = keep, zero
    state.rebuild()
    boundary.extend(names)
    for name in names:
        if name == RESIDUAL:
            notes.warn(
                f"iteration {iteration}: the residual variance converged to zero ({values[name]:.3g}): "
                "the random effects explain every record; the model is over-parameterised for these "
                "data. σ²_e is fixed at 0 (logL taken at its limit σ²_e → 0)."
            )
        else:
            notes.warn(
                f"iteration {iteration}: the variance of {name} converged to zero ({values[name]:.3g}); "
                "fixed at the boundary (with the covariances it takes part in)."
            )
    return np.array([values[name] for name in state.names]), None


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------
def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def variance_components_json(fit: REMLFit) -> dict[str, Any]:
    """The fit as a JSON-able dict (method, converged, iterations, log_likelihood, variances,
    covariances, se, ratios, boundary, messages, criteria); undefined values (NaN) become None."""
    return {
        "method": fit.method,
        "converged": bool(fit.converged),
        "iterations": int(fit.iterations),
        "log_likelihood": _finite_or_none(fit.log_likelihood),
        "variances": {k: _finite_or_none(v) for k, v in fit.variances.items()},
        "covariances": {k: _finite_or_none(v) for k, v in fit.covariances.items()},
        "se": {k: _finite_or_none(v) for k, v in fit.se.items()},
        "ratios": {
            k: {"estimate": _finite_or_none(v["estimate"]), "se": _finite_or_none(v["se"])}
            for k, v in fit.ratios.items()
        },
        "boundary": list(fit.boundary),
        "messages": list(fit.messages),
        "criteria": asdict(fit.criteria),
    }
