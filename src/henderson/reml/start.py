"""Starting values of a REML fit when the configuration gives none.

One trait: the phenotypic variance, taken as the residual mean square of y after the fixed
effects (ordinary least squares, σ²_y = (y'y − b̂'X'y)/(n − p), weighted by the record weights),
split evenly among the variances of the random components and the residual; covariances 0.

Several traits: every trait fitted alone by REML (AI, from its own one-trait start); G0 and R0
start diagonal with those variances, each at least 1 % of that trait's phenotypic variance (a
variance estimated at zero must start inside the parameter space).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from henderson.covariance import VarianceComponents
from henderson.errors import InputError
from henderson.linalg import SparseCholesky
from henderson.model import MixedModel

__all__ = ["default_start"]

# A variance that a one-trait fit puts at zero starts at this share of the trait's σ²p.
FLOOR = 0.01


def residual_mean_square(model: MixedModel, j: int = 0) -> float:
    """σ²_y of trait j after its fixed effects (weighted least squares)."""
    rows = model.fixed_rows[j]
    x = sp.csc_matrix(model.fixed[j].matrix)
    y = model.y[rows, j]
    w = np.ones(rows.size) if model.weights is None else model.weights[rows]
    n, p = x.shape
    trait = model.traits[j]
    if n <= p:
        raise InputError(
            f"trait {trait}: {n} records for {p} fixed-effect levels; REML needs more records "
            "than fixed-effect levels. Add records or simplify the fixed part."
        )
    xtw = sp.csc_matrix(x.T.multiply(w))
    xtx = sp.csc_matrix(xtw @ x)
    xty = xtw @ y
    chol = SparseCholesky(xtx).factorize(xtx)
    sse = float(y @ (w * y)) - float(chol.solve(xty) @ xty)
    var_y = sse / (n - p)
    if not var_y > 0:
        raise InputError(
            f"trait {trait}: the records have no variation left after the fixed effects; "
            "nothing to partition into variance components."
        )
    return var_y


def default_start(model: MixedModel, **fit_options) -> VarianceComponents:
    """Starting values (module docstring); `fit_options` go to the one-trait fits of a
    multi-trait model."""
    layout = model.layout
    if model.n_traits == 1:
        var_y = residual_mean_square(model)
        share = var_y / (sum(term.k for term in layout.terms) + 1)
        return VarianceComponents(
            layout, tuple(share * np.eye(term.k) for term in layout.terms), np.array([[share]])
        )
    from henderson.reml.fit import fit_reml

    g0 = [np.zeros((term.k, term.k)) for term in layout.terms]
    r0 = np.zeros((model.n_traits, model.n_traits))
    for j in range(model.n_traits):
        sub = model.trait_model(j)
        fitted = fit_reml(sub, method="ai", **fit_options)
        values = fitted.values
        floor = FLOOR * float(fitted.components.phenotypic_variance()[0])
        for term, g in zip(layout.terms, g0):
            for c, (e, tj) in enumerate(term.components):
                if tj == j:
                    g[c, c] = max(values.get(term.effects[e], 0.0), floor)
        r0[j, j] = max(values["residual"], floor)
    return VarianceComponents(layout, tuple(g0), r0)
