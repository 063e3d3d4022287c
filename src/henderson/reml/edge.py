"""Covariance matrices at the edge of the cone (|r| → 1): held at the boundary.

When the correlation matrix R of a k × k matrix (k ≥ 2) reaches the edge (smallest eigenvalue
below ``boundary``), R is fixed at its projection onto {smallest eigenvalue = boundary}
(eigenvalues clipped, unit diagonal restored) and only the matrix's variances ψ move:
M = D^½ R D^½, so θ_ab = R_ab √(ψ_a ψ_b). Near a singular M the equations lose accuracy (M⁻¹
explodes) and a free fit creeps; held at the boundary the fit converges to the best matrix with
that correlation structure. The AI step on ψ (with the other matrices' parameters):
H = J'·AI·J − Σ_i g_i ∂²θ_i/∂ψ², J = ∂θ/∂ψ, step H⁻¹J'g.

At convergence the decision is checked as for variances at zero: the score along the path
R(s) = (1 − s)R + sI that leads back into the cone, ∂logL/∂s = −Σ_{a<b} g_ab √(ψ_a ψ_b) R_ab at
s = 0; positive means logL rises inside and the matrix is released.
"""

from __future__ import annotations

import math

import numpy as np

from henderson.covariance import Layout
from henderson.errors import NumericalError
from henderson.reml.objective import Evaluation
from henderson.reml.steps import MAX_HALVINGS, Step

__all__ = ["clip_correlation", "edge_decrement", "edge_step", "hold", "release_score"]


def clip_correlation(matrix: np.ndarray, floor: float) -> np.ndarray:
    """The correlation matrix of `matrix` with eigenvalues clipped at `floor`, unit diagonal."""
    d = np.sqrt(np.diag(matrix))
    corr = matrix / np.outer(d, d)
    w, v = np.linalg.eigh(corr)
    corr = (v * np.maximum(w, floor)) @ v.T
    s = np.sqrt(np.diag(corr))
    return corr / np.outer(s, s)


def _matrix_index(layout: Layout, name: str) -> int:
    names = layout.matrix_names()
    i = names.index(name)
    return -1 if i == len(layout.terms) else i


def hold(layout: Layout, theta: np.ndarray, fixed: dict[str, np.ndarray]) -> np.ndarray:
    """θ with the covariances of every held matrix set from its fixed R and its variances."""
    out = theta.copy()
    params = layout.parameters
    var = {(p.matrix, p.i): k for k, p in enumerate(params) if p.is_variance}
    for name, corr in fixed.items():
        m = _matrix_index(layout, name)
        for k, p in enumerate(params):
            if p.matrix == m and not p.is_variance:
                out[k] = corr[p.i, p.j] * math.sqrt(theta[var[(m, p.i)]] * theta[var[(m, p.j)]])
    return out


def _system(layout: Layout, ev: Evaluation, fixed: dict[str, np.ndarray]):
    """(free indices, J (m × f), H (f × f), g_ψ) at the evaluation."""
    params = layout.parameters
    m = len(params)
    held = {_matrix_index(layout, name): corr for name, corr in fixed.items()}
    free = [k for k, p in enumerate(params) if p.is_variance or p.matrix not in held]
    col = {k: c for c, k in enumerate(free)}
    var = {(p.matrix, p.i): k for k, p in enumerate(params) if p.is_variance}
    jac = np.zeros((m, len(free)))
    second = np.zeros((len(free), len(free)))
    theta = ev.theta
    for k in free:
        jac[k, col[k]] = 1.0
    for k, p in enumerate(params):
        if p.matrix not in held or p.is_variance:
            continue
        r = held[p.matrix][p.i, p.j]
        a, b = var[(p.matrix, p.i)], var[(p.matrix, p.j)]
        sa, sb = theta[a], theta[b]
        root = math.sqrt(sa * sb)
        ca, cb = col[a], col[b]
        jac[k, ca] = 0.5 * r * math.sqrt(sb / sa)
        jac[k, cb] = 0.5 * r * math.sqrt(sa / sb)
        g = ev.gradient[k]
        second[ca, ca] += g * (-0.25 * r * root / sa**2)
        second[cb, cb] += g * (-0.25 * r * root / sb**2)
        second[ca, cb] += g * (0.25 * r / root)
        second[cb, ca] += g * (0.25 * r / root)
    h = jac.T @ ev.ai @ jac - second
    return free, jac, 0.5 * (h + h.T), jac.T @ ev.gradient


def _newton(h: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    try:
        chol = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(chol.T, np.linalg.solve(chol, g))


def edge_decrement(layout: Layout, ev: Evaluation, fixed: dict[str, np.ndarray]) -> float:
    """√(g_ψ' H⁻¹ g_ψ) over the free parameters; inf when H is not positive definite."""
    _, _, h, g = _system(layout, ev, fixed)
    try:
        z = np.linalg.solve(np.linalg.cholesky(h), g)
    except np.linalg.LinAlgError:
        return float("inf")
    return float(math.sqrt(z @ z))


def edge_step(objective, ev: Evaluation, tolerance: float, fixed: dict[str, np.ndarray]) -> Step:
    """The AI step on the free parameters (module docstring), halved until inside and while it
    lowers logL (twice); the EM update with the held correlations otherwise."""
    layout = objective.layout
    free, _, h, g = _system(layout, ev, fixed)
    delta = _newton(h, g)
    em = hold(layout, ev.em, fixed)
    if delta is None:
        return Step("em-fallback", em, "the AI matrix on the free parameters is not positive definite",
                    "AI not positive definite")

    def at(step: np.ndarray) -> np.ndarray:
        out = ev.theta.copy()
        out[free] += step
        return hold(layout, out, fixed)

    halvings = 0
    while not (np.all(np.isfinite(at(delta))) and objective.inside(at(delta))) and halvings < MAX_HALVINGS:
        delta, halvings = 0.5 * delta, halvings + 1
    if not objective.inside(at(delta)):
        return Step("em-fallback", em, "AI step left the parameter space", "left the parameter space")
    current = ev.loglik
    if current is None:
        return Step("ai-edge", at(delta), "AI step with correlations held at the boundary")
    for _ in range(3):
        try:
            value = objective.loglik(at(delta))
        except NumericalError:
            value = -math.inf
        if value is None or value >= current - tolerance:
            return Step("ai-edge", at(delta), "AI step with correlations held at the boundary")
        delta = 0.5 * delta
    return Step("em-fallback", em, "AI step lowered logL", "lowered logL")


def release_score(layout: Layout, ev: Evaluation, name: str, corr: np.ndarray) -> float:
    """∂logL/∂s along R(s) = (1 − s)R + sI at s = 0 (module docstring)."""
    m = _matrix_index(layout, name)
    params = layout.parameters
    var = {(p.matrix, p.i): k for k, p in enumerate(params) if p.is_variance}
    score = 0.0
    for k, p in enumerate(params):
        if p.matrix == m and not p.is_variance:
            root = math.sqrt(ev.theta[var[(m, p.i)]] * ev.theta[var[(m, p.j)]])
            score -= ev.gradient[k] * root * corr[p.i, p.j]
    return score

