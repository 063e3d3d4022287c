"""REML steps: EM and average information (AI), registered by name, and the Cholesky
parameterisation used at the edge of the parameter space.

EM: θ ← the EM update of the evaluation (positive definite by construction; never lowers logL).

AI: θ ← θ + AI⁻¹g, with safeguards. A full step that stays inside the parameter space and does
not lower logL is taken ("ai"). Otherwise:

* every matrix 1 × 1 (univariate variances): the step is halved until inside (at most 40 times)
  and then while it lowers logL (at most twice); if neither works, the EM update is taken
  ("ai-halved", "em-fallback"). Variances reaching zero are then the boundary rule's business;
* a model with a k × k matrix, k ≥ 2: candidates compete and the one with the highest logL
  wins: the halved step, the full step projected into the cone ("ai-projected"), a Newton step
  on the Cholesky factors of the matrices ("ai-cholesky"; Levenberg–Marquardt damped, at three
  dampings, when its H is indefinite) and the EM update. The Newton step on
  φ (M = LL' for every matrix) uses AI as the curvature in θ plus the exact second-order term of
  the quadratic map φ → θ, H = J'·AI·J − Σ g_i ∂²θ_i/∂φ²; every φ gives a positive semi-definite
  matrix, and a singular optimum (|r| → 1) is a stationary point in φ, reached at Newton speed.

A further candidate holds the variances the AI step would take below zero near zero and moves
the others to the maximum of the quadratic model given them ("ai-bounded"), so that a variance
heading for the boundary gets there at Newton speed rather than by EM.

Step acceptance needs no exact log-likelihood: without one (an iterative solver), the first
candidate that stays inside is taken in the order above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from henderson.covariance import Layout, VarianceComponents
from henderson.errors import NumericalError
from henderson.reml.objective import Evaluation

__all__ = ["STEPS", "Step", "cholesky_decrement", "newton_decrement"]

# Step halvings tried before an AI step that leaves the parameter space is replaced by EM.
MAX_HALVINGS = 40
# Halvings tried when an AI step lowers logL, before it is replaced by an EM step.
MAX_DESCENT_HALVINGS = 2
# Smallest eigenvalue of a correlation matrix after projection into the cone.
PROJECTION_FLOOR = 1e-6


@dataclass(frozen=True)
class Step:
    """kind ("em", "ai", "ai-halved", "ai-projected", "ai-cholesky", "em-fallback"), the new θ,
    what happened (for the log) and the reason of a fallback ("" otherwise)."""

    kind: str
    theta: np.ndarray
    what: str = ""
    reason: str = ""


def _times(k: int) -> str:
    return {1: "once", 2: "twice"}.get(k, f"{k} times")


def em_step(objective, ev: Evaluation, tolerance: float) -> Step:
    return Step("em", ev.em.copy())


def ai_step(objective, ev: Evaluation, tolerance: float) -> Step:
    try:
        chol = np.linalg.cholesky(ev.ai)
    except np.linalg.LinAlgError:
        return Step("em-fallback", ev.em.copy(), "the AI matrix is not positive definite", "AI not positive definite")
    delta = np.linalg.solve(chol.T, np.linalg.solve(chol, ev.gradient))
    full_delta = delta.copy()
    layout = objective.layout

    def value(theta: np.ndarray) -> float:
        if not objective.inside(theta):
            return -math.inf
        try:
            ll = objective.loglik(theta)
        except NumericalError:
            return -math.inf
        return math.inf if ll is None else ll

    current = ev.loglik if ev.loglik is not None else -math.inf
    full = ev.theta + delta
    inside_full = objective.inside(full)
    if inside_full and value(full) >= current - tolerance:
        return Step("ai", full)
    halvings = 0
    while not objective.inside(ev.theta + delta) and halvings < MAX_HALVINGS:
        delta, halvings = 0.5 * delta, halvings + 1
    halved_ok = objective.inside(ev.theta + delta)
    descents = 0
    ll_half = value(ev.theta + delta) if halved_ok else -math.inf
    while halved_ok and ll_half < current - tolerance and descents < MAX_DESCENT_HALVINGS:
        delta, descents = 0.5 * delta, descents + 1
        ll_half = value(ev.theta + delta)
    why = []
    if halvings:
        why.append(f"AI step left the parameter space; halved {_times(halvings)}")
    if descents:
        why.append(f"AI step lowered logL; halved {_times(descents)}")
    if not any(m.shape[0] > 1 for m in VarianceComponents.from_theta(layout, ev.theta).matrices):
        if not halved_ok:
            return Step("em-fallback", ev.em.copy(),
                        f"AI step left the parameter space (halved {MAX_HALVINGS} times)", "left the parameter space")
        if ll_half < current - tolerance:
            return Step("em-fallback", ev.em.copy(),
                        f"AI step lowered logL from {current:.6f} to {ll_half:.6f} (halved {_times(descents)})",
                        "lowered logL")
        return Step("ai-halved", ev.theta + delta, "; ".join(why))
    candidates: list[tuple[float, Step]] = []
    if halved_ok:
        candidates.append((ll_half, Step("ai-halved", ev.theta + delta, "; ".join(why))))
    newton = cholesky_newton(layout, ev)
    if newton is not None and np.all(np.isfinite(newton)):
        if not objective.inside(newton):
            newton = project(layout, newton, ev.theta)
        candidates.append((value(newton), Step("ai-cholesky", newton, "AI step on the Cholesky factors")))
    else:
        for damping in _dampings(layout, ev):
            damped = cholesky_newton(layout, ev, damping)
            if damped is not None and np.all(np.isfinite(damped)) and objective.inside(damped):
                candidates.append((value(damped), Step("ai-cholesky", damped, "damped AI step on the Cholesky factors")))
    bounded = active_set_step(layout, ev, full_delta)
    if bounded is not None and objective.inside(bounded):
        candidates.append((value(bounded), Step("ai-bounded", bounded, "AI step with variances held near zero")))
    if not inside_full:
        projected = project(layout, full, ev.theta)
        candidates.append((value(projected), Step("ai-projected", projected, "AI step projected into the parameter space")))
    candidates.append((value(ev.em), Step("em-fallback", ev.em.copy(), "AI step left the parameter space or lowered logL",
                                          "left the parameter space or lowered logL")))
    best_value, best = max(candidates, key=lambda c: c[0])  # ties: the earlier candidate
    if best_value < current - tolerance:
        return Step("em-fallback", ev.em.copy(), "no AI step raised logL", "lowered logL")
    return best


STEPS: dict[str, Callable[..., Step]] = {"em": em_step, "ai": ai_step}

# A variance the AI step would take to zero or below is moved to this share of its value.
BOUNDED_SHARE = 1e-3


def active_set_step(layout: Layout, ev: Evaluation, delta: np.ndarray) -> np.ndarray | None:
    """The AI step with the variances it would take to zero or below held near zero instead
    (at BOUNDED_SHARE of their value, their covariances scaled to keep the correlations) and the
    other parameters at the maximum of the quadratic model given those:
    d_f = AI_ff⁻¹ (g_f − AI_fh d_h). None when no variance goes below zero. The boundary rule
    then fixes those variances at zero when logL keeps them there."""
    params = layout.parameters
    target = ev.theta + delta
    low = {(p.matrix, p.i) for k, p in enumerate(params) if p.is_variance and target[k] <= 0}
    if not low:
        return None
    new = ev.theta.copy()
    scale = {}
    for k, p in enumerate(params):
        if p.is_variance:
            scale[(p.matrix, p.i)] = BOUNDED_SHARE if (p.matrix, p.i) in low else 1.0
    held = []
    for k, p in enumerate(params):
        a, b = scale[(p.matrix, p.i)], scale[(p.matrix, p.j)]
        if a < 1.0 or b < 1.0:
            new[k] = ev.theta[k] * (a if p.is_variance else math.sqrt(a * b))
            held.append(k)
    free = [k for k in range(len(params)) if k not in held]
    d_h = new[held] - ev.theta[held]
    ai = ev.ai
    try:
        chol = np.linalg.cholesky(ai[np.ix_(free, free)])
    except np.linalg.LinAlgError:
        return None
    rhs = ev.gradient[free] - ai[np.ix_(free, held)] @ d_h
    new[free] = ev.theta[free] + np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))
    return new


# --------------------------------------------------------------------------------------------
# Cholesky parameterisation
# --------------------------------------------------------------------------------------------
def _blocks(layout: Layout) -> list[list[int]]:
    """Parameter indices of each matrix (terms, then the residual), in θ order."""
    groups: dict[int, list[int]] = {}
    for k, p in enumerate(layout.parameters):
        groups.setdefault(p.matrix, []).append(k)
    return list(groups.values())


def _cholesky_system(layout: Layout, ev: Evaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(φ, J = ∂θ/∂φ, H, J'g) at the evaluation, φ the lower-triangle entries of the Cholesky
    factors (φ for parameter (a, b) is L[b, a]); None when a matrix is not positive definite."""
    params = layout.parameters
    m = len(params)
    phi = np.zeros(m)
    jac = np.zeros((m, m))
    second = np.zeros((m, m))
    for block in _blocks(layout):
        k = max(params[i].i for i in block) + 1
        mat = np.zeros((k, k))
        for i in block:
            p = params[i]
            mat[p.i, p.j] = mat[p.j, p.i] = ev.theta[i]
        try:
            low = np.linalg.cholesky(mat)
        except np.linalg.LinAlgError:
            return None
        pos = {(params[i].i, params[i].j): i for i in block}
        for i in block:
            a, b = params[i].i, params[i].j
            phi[i] = low[b, a]
            e = np.zeros((k, k))
            e[b, a] = 1.0
            dm = e @ low.T + low @ e.T
            for (x, y), row in pos.items():
                jac[row, i] = dm[x, y]
            for i2 in block:
                a2, b2 = params[i2].i, params[i2].j
                if a2 != a:
                    continue
                x, y = min(b, b2), max(b, b2)
                second[i, i2] += ev.gradient[pos[(x, y)]] * (2.0 if x == y else 1.0)
    h = jac.T @ ev.ai @ jac - second
    return phi, jac, 0.5 * (h + h.T), jac.T @ ev.gradient


def cholesky_newton(layout: Layout, ev: Evaluation, damping: float = 0.0) -> np.ndarray | None:
    """θ after one Newton step on the Cholesky factors (module docstring), with H + damping·I
    (a Levenberg–Marquardt step) when damping > 0; None when that is not positive definite."""
    system = _cholesky_system(layout, ev)
    if system is None:
        return None
    phi, _, h, g_phi = system
    try:
        chol = np.linalg.cholesky(h + damping * np.eye(h.shape[0]))
    except np.linalg.LinAlgError:
        return None
    phi_new = phi + np.linalg.solve(chol.T, np.linalg.solve(chol, g_phi))
    params = layout.parameters
    out = np.zeros_like(phi)
    for block in _blocks(layout):
        k = max(params[i].i for i in block) + 1
        low = np.zeros((k, k))
        for i in block:
            low[params[i].j, params[i].i] = phi_new[i]
        mat = low @ low.T
        for i in block:
            out[i] = mat[params[i].i, params[i].j]
    return out


def project(layout: Layout, theta: np.ndarray, current: np.ndarray) -> np.ndarray:
    """θ moved into the positive definite cone: every variance at least a thousandth of its
    current value, every correlation matrix with eigenvalues at least PROJECTION_FLOOR
    (eigenvalues clipped, then rescaled to unit diagonal)."""
    mats = VarianceComponents.from_theta(layout, theta).matrices
    cur = VarianceComponents.from_theta(layout, current).matrices
    out = []
    for mat, c in zip(mats, cur):
        k = mat.shape[0]
        if k == 0:
            out.append(mat)
            continue
        d = np.maximum(np.diag(mat), 1e-3 * np.diag(c))
        scale = np.abs(np.diag(mat)) + (np.diag(mat) <= 0)
        corr = mat / np.sqrt(np.outer(scale, scale))
        corr[np.diag_indices(k)] = 1.0
        w, v = np.linalg.eigh(corr)
        corr = (v * np.maximum(w, PROJECTION_FLOOR)) @ v.T
        s = np.sqrt(np.diag(corr))
        out.append(corr / np.outer(s, s) * np.sqrt(np.outer(d, d)))
    return VarianceComponents(layout, tuple(out[:-1]), out[-1]).theta


def _dampings(layout: Layout, ev: Evaluation) -> list[float]:
    """Levenberg–Marquardt dampings when H on the Cholesky factors is indefinite: just enough
    to make it positive definite, then larger by factors of 10 (3 values)."""
    system = _cholesky_system(layout, ev)
    if system is None:
        return []
    h = system[2]
    w = np.linalg.eigvalsh(h)
    base = max(-w[0], 0.0) + 1e-3 * max(abs(w[-1]), 1e-12)
    return [base, 10.0 * base, 100.0 * base]


def newton_decrement(ev: Evaluation) -> float:
    """√(g' AI⁻¹ g); inf when AI is not positive definite."""
    try:
        chol = np.linalg.cholesky(ev.ai)
    except np.linalg.LinAlgError:
        return float("inf")
    z = np.linalg.solve(chol, ev.gradient)
    return float(math.sqrt(z @ z))


def cholesky_decrement(layout: Layout, ev: Evaluation) -> float:
    """√(g_φ' H⁻¹ g_φ) in the Cholesky parameterisation (vanishes at a boundary optimum of a
    singular matrix); inf when H is not positive definite."""
    system = _cholesky_system(layout, ev)
    if system is None:
        return float("inf")
    _, _, h, g_phi = system
    try:
        chol = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return float("inf")
    z = np.linalg.solve(chol, g_phi)
    return float(math.sqrt(z @ z))
