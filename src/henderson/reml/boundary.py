"""The boundary of the parameter space, one rule for every variance.

A variance (of a random component, or a trait's residual) is fixed at zero when it falls below
``boundary × σ²p`` of its trait while the AI (Newton) model of logL puts its maximum at or below
zero:

* a random component is removed from the model (with the covariances it takes part in): the
  model without it is the model at that variance = 0 exactly;
* a residual variance cannot be removed. When the random effects alone give a positive definite
  covariance of the records, logL has a finite limit as σ²_e → 0; the fit then goes on with the
  objective taken at that limit by Richardson extrapolation from the equations at σ²_e = h and
  2h, ``f(0) = 2 f(h) − f(2h) + O(h²)``, for logL, gradient, AI and the EM update of the other
  parameters (:class:`ZeroLimit`). Whether the limit is finite is checked by comparing the
  extrapolations from h and 2h (:meth:`ZeroLimit.limit_gap`): O(h²) for a finite limit, at
  least (log 2)/2 when the covariance at zero is singular. Runs to +∞ (the random effects fit the
  records exactly): REML has no estimate and the fit stops, saying so.

At convergence every decision is checked once by the score just off zero, at
ε = 0.01 × boundary × σ²p: a variance whose logL still rises away from zero is re-admitted.

A k × k matrix whose correlation matrix has smallest eigenvalue below ``boundary`` (|r| → 1)
stays in the model, estimated on the Cholesky factors, and is reported at the boundary
(:func:`edges`).
"""

from __future__ import annotations

import math

import numpy as np

from henderson.covariance import Layout, VarianceComponents
from henderson.reml.objective import Evaluation, Objective, ParameterSpace

__all__ = ["FINITE_LIMIT", "ZERO_STEP", "ZeroLimit", "edges"]

# h of the extrapolation to σ²_e = 0, relative to σ²p.
ZERO_STEP = 1e-6
# |E(h) − E(2h)| below this: logL has a finite limit at σ²_e = 0.
FINITE_LIMIT = 0.05


class ZeroLimit(ParameterSpace):
    """The objective of a model with the residual variances of traits `zero` held at 0 (their
    covariances too), as a function of the other parameters; same interface as
    :class:`~henderson.reml.objective.Objective` (layout, params, m, inside, loglik, evaluate,
    solution, inverse_diagonal). Two solves per evaluation."""

    def __init__(self, inner: Objective, zero: set[int], step: float) -> None:
        self.inner = inner
        self.zero = set(zero)
        self.step = step
        self.model = inner.model
        full = inner.layout
        kept = tuple(j for j in full.residual_components if j not in self.zero)
        self.layout = Layout(full.traits, full.terms, residual_traits=kept)
        self.params = self.layout.parameters
        inner_index = {p.name: k for k, p in enumerate(inner.params)}
        self._map = np.array([inner_index[p.name] for p in self.params], dtype=np.int64)
        self._zero_vars = np.array(
            [k for k, p in enumerate(inner.params)
             if p.matrix < 0 and p.is_variance and full.residual_components[p.i] in self.zero],
            dtype=np.int64,
        )

    def _at(self, theta: np.ndarray, multiple: float) -> np.ndarray:
        out = np.zeros(self.inner.m)
        out[self._map] = theta
        out[self._zero_vars] = multiple * self.step
        return out

    def loglik(self, theta: np.ndarray) -> float | None:
        a, b = self.inner.loglik(self._at(theta, 1.0)), self.inner.loglik(self._at(theta, 2.0))
        return None if a is None or b is None else 2.0 * a - b

    def evaluate(self, theta: np.ndarray, derivatives: bool = True) -> Evaluation:
        a = self.inner.evaluate(self._at(theta, 1.0), derivatives)
        b = self.inner.evaluate(self._at(theta, 2.0), derivatives)
        ll = None if a.loglik is None or b.loglik is None else 2.0 * a.loglik - b.loglik
        if not derivatives:
            return Evaluation(theta.copy(), ll)
        idx = self._map
        ai = (2.0 * a.ai - b.ai)[np.ix_(idx, idx)]
        return Evaluation(
            theta.copy(), ll, (2.0 * a.gradient - b.gradient)[idx], 0.5 * (ai + ai.T), (2.0 * a.em - b.em)[idx]
        )

    def solution(self, theta: np.ndarray) -> np.ndarray:
        return 2.0 * self.inner.solution(self._at(theta, 1.0)) - self.inner.solution(self._at(theta, 2.0))

    def inverse_diagonal(self, theta: np.ndarray) -> np.ndarray | None:
        a = self.inner.inverse_diagonal(self._at(theta, 1.0))
        if a is None:
            return None
        return np.maximum(2.0 * a - self.inner.inverse_diagonal(self._at(theta, 2.0)), 0.0)

    def limit_gap(self, theta: np.ndarray) -> tuple[float, float]:
        """(|E(h) − E(2h)|, logL(h) − logL(4h)) with E(s) = 2 logL(s) − logL(2s): the first is
        O(h²) for a finite limit and at least (log 2)/2 otherwise; the second, the rise of logL
        towards zero, tells +∞ from −∞ then."""
        l1, l2, l4 = (self.inner.loglik(self._at(theta, m)) for m in (1.0, 2.0, 4.0))
        if l1 is None:
            return float("inf"), 0.0
        gap = abs((2.0 * l1 - l2) - (2.0 * l2 - l4))
        return (gap if math.isfinite(gap) else float("inf")), l1 - l4


def edges(layout: Layout, theta: np.ndarray, boundary: float, held: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(parameter or matrix name, description) of every k × k matrix (k ≥ 2) at the edge of
    the cone: correlations with |r| > 1 − boundary, or a correlation matrix with smallest
    eigenvalue below `boundary`; for the matrices `held` at the boundary (min eigenvalue =
    boundary), their correlations with |r| ≥ 1 − 2 boundary, or the matrix."""
    vc = VarianceComponents.from_theta(layout, theta)
    params = layout.parameters
    out = []
    for m, (name, mat) in enumerate(zip(layout.matrix_names(), vc.matrices)):
        index = -1 if m == len(layout.terms) else m
        k = mat.shape[0]
        d = np.diag(mat)
        if k < 2 or np.any(d <= 0):
            continue
        corr = mat / np.sqrt(np.outer(d, d))
        limit = 1.0 - 2.0 * boundary if name in held else 1.0 - boundary
        pairs = []
        for p in params:
            if p.matrix == index and not p.is_variance and abs(corr[p.i, p.j]) > limit:
                sign = "+1" if corr[p.i, p.j] > 0 else "-1"
                pairs.append((p.name, f"the correlation {p.name} converged towards {sign} ({corr[p.i, p.j]:.6f})"))
        smallest = float(np.linalg.eigvalsh(corr)[0])
        if not pairs and (smallest < boundary or name in held):
            text = (
                f"the {name} covariance matrix converged towards a singular matrix (smallest eigenvalue "
                f"of its correlation matrix {smallest:.3g})"
            )
            pairs.append((name, text))
        out.extend(pairs)
    return out
