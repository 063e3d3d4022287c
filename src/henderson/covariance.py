"""Variance components of a mixed model: one k × k covariance matrix G0 per random term and the
t × t residual covariance R0, their packing into the REML parameter vector θ, the parameter
space, and the only code that derives σ²p, ratios, correlations and their delta-method SEs.

A random term has components (effect, trait), effect-major: a univariate animal model has one
component; direct + maternal, two; t traits, t; t traits with a maternal effect, 2t
(``G0 = [[G_aa, G_am], [G_am', G_mm]]``). After a component is fixed at zero (the REML boundary)
it is no longer one of the term's components.

Parameters θ: for each term and then the residual, the diagonal of its matrix followed by the
upper triangle above it row by row. Names:

* one trait: ``"<effect>"`` for a variance, ``"<a>.<b>"`` for the covariance of effects a and b
  of one term (a before b in model order), ``"residual"``;
* several traits: ``"<effect>[<trait>,<trait>]"``, ``"<a>.<b>[<trait of a>,<trait of b>]"`` for
  the covariance of effect a on one trait with effect b on another (direct rows, maternal
  columns), ``"residual[<trait>,<trait>]"``.

Phenotypic variance of trait j (Willham 1972): σ²p_j = Σ over terms of the variances of their
components on trait j + the direct–maternal covariance on trait j (an additive and a maternal
effect of one term), + R0_jj. Ratios: h² = σ²_a/σ²p for the first additive effect (4σ²_s/σ²p for an
additive effect on the sire column, a sire model), ``<effect>_ratio``
for every other effect, correlations within each matrix; standard errors by the delta method,
√(∇f' Cov(θ) ∇f) with Cov(θ) = AI⁻¹.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from henderson.errors import ConfigError

__all__ = [
    "PD_MARGIN",
    "RESIDUAL",
    "Layout",
    "Parameter",
    "TermLayout",
    "VarianceComponents",
]

RESIDUAL = "residual"
# h² of a sire model: the sire transmits half its breeding value, σ²s = σ²a / 4.
SIRE_SCALE = 4.0
# A matrix is inside the parameter space when its variances are positive and the smallest
# eigenvalue of its correlation matrix exceeds this (|r| < 1 with a margin, G0⁻¹ well defined).
PD_MARGIN = 1e-8


@dataclass(frozen=True)
class TermLayout:
    """Names of one random term: its effects (model order) and their types ("additive",
    "maternal", "iid"), the model's traits, and its components as (effect index, trait index)
    pairs, effect-major."""

    name: str
    effects: tuple[str, ...]
    types: tuple[str, ...]
    components: tuple[tuple[int, int], ...]

    @property
    def k(self) -> int:
        return len(self.components)

    def label(self, c: int, traits: Sequence[str]) -> tuple[str, str]:
        e, j = self.components[c]
        return self.effects[e], traits[j]


@dataclass(frozen=True)
class Parameter:
    """One element (i, j), i ≤ j, of matrix `matrix` (a term index, or -1 for R0)."""

    name: str
    matrix: int
    i: int
    j: int

    @property
    def is_variance(self) -> bool:
        return self.i == self.j


@dataclass(frozen=True)
class Layout:
    """The traits and random terms of a model: what names and packs its variance components."""

    traits: tuple[str, ...]
    terms: tuple[TermLayout, ...]
    residual_traits: tuple[int, ...] | None = None  # None: every trait

    @property
    def t(self) -> int:
        return len(self.traits)

    @property
    def residual_components(self) -> tuple[int, ...]:
        return tuple(range(self.t)) if self.residual_traits is None else self.residual_traits

    def matrix_names(self) -> list[str]:
        return [term.name for term in self.terms] + [RESIDUAL]

    def _element_name(self, m: int, i: int, j: int) -> str:
        single = self.t == 1
        if m < 0:
            rc = self.residual_components
            a, b = self.traits[rc[i]], self.traits[rc[j]]
            return RESIDUAL if single else f"{RESIDUAL}[{a},{b}]"
        term = self.terms[m]
        (ea, ta), (eb, tb) = term.label(i, self.traits), term.label(j, self.traits)
        base = ea if ea == eb else f"{ea}.{eb}"
        return base if single else f"{base}[{ta},{tb}]"

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        out: list[Parameter] = []
        sizes = [term.k for term in self.terms] + [len(self.residual_components)]
        for m, k in enumerate(sizes):
            index = m if m < len(self.terms) else -1
            out.extend(Parameter(self._element_name(index, i, i), index, i, i) for i in range(k))
            for i in range(k):
                for j in range(i + 1, k):
                    out.append(Parameter(self._element_name(index, i, j), index, i, j))
        return tuple(out)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def phenotypic_weights(self) -> np.ndarray:
        """c (t × m) with σ²p_j = c_j'θ (module docstring)."""
        params = self.parameters
        out = np.zeros((self.t, len(params)))
        for k, p in enumerate(params):
            if p.matrix < 0:
                rc = self.residual_components
                if p.is_variance:
                    out[rc[p.i], k] = 1.0
                continue
            term = self.terms[p.matrix]
            (ea, ta), (eb, tb) = term.components[p.i], term.components[p.j]
            if p.is_variance or ta == tb and {term.types[ea], term.types[eb]} == {"additive", "maternal"}:
                out[ta, k] = 1.0
        return out


def _matrix(value: Any, k: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a {k} × {k} matrix of numbers, got {value!r}.") from None
    if arr.ndim == 0 and k == 1:
        arr = arr.reshape(1, 1)
    if arr.shape != (k, k):
        raise ConfigError(f"{what} must be a {k} × {k} matrix, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} has values that are not finite: {arr.tolist()}.")
    return arr


def is_inside(matrix: np.ndarray) -> bool:
    """Positive variances and a correlation matrix with smallest eigenvalue above PD_MARGIN."""
    d = np.diag(matrix)
    if not np.all(np.isfinite(matrix)) or np.any(d <= 0):
        return False
    if matrix.shape[0] <= 1:
        return True
    corr = matrix / np.sqrt(np.outer(d, d))
    return bool(np.linalg.eigvalsh(corr)[0] > PD_MARGIN)


@dataclass(frozen=True, eq=False)
class VarianceComponents:
    """G0 per random term (k × k, layout order) and R0 (over the residual components)."""

    layout: Layout
    g0: tuple[np.ndarray, ...]
    r0: np.ndarray
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        g0 = tuple(np.array(g, dtype=float, copy=True) for g in self.g0)
        r0 = np.array(self.r0, dtype=float, copy=True)
        for term, g in zip(self.layout.terms, g0):
            if g.shape != (term.k, term.k):
                raise ValueError(f"G0 of {term.name} is {g.shape}; expected {term.k} × {term.k}.")
        rk = len(self.layout.residual_components)
        if r0.shape != (rk, rk):
            raise ValueError(f"R0 is {r0.shape}; expected {rk} × {rk}.")
        object.__setattr__(self, "g0", tuple(0.5 * (g + g.T) for g in g0))
        object.__setattr__(self, "r0", 0.5 * (r0 + r0.T))
        object.__setattr__(self, "names", self.layout.names)

    # ---------------------------------------------------------------------------------------
    @property
    def matrices(self) -> tuple[np.ndarray, ...]:
        return (*self.g0, self.r0)

    @property
    def theta(self) -> np.ndarray:
        mats = self.matrices
        return np.array([mats[p.matrix][p.i, p.j] for p in self.layout.parameters])

    @classmethod
    def from_theta(cls, layout: Layout, theta: np.ndarray) -> VarianceComponents:
        sizes = [term.k for term in layout.terms] + [len(layout.residual_components)]
        mats = [np.zeros((k, k)) for k in sizes]
        for p, value in zip(layout.parameters, theta):
            mats[p.matrix][p.i, p.j] = mats[p.matrix][p.j, p.i] = value
        return cls(layout, tuple(mats[:-1]), mats[-1])

    def is_inside(self) -> bool:
        """Every matrix positive definite (PD_MARGIN on the correlation scale)."""
        return all(is_inside(m) for m in self.matrices)

    def check_inside(self, what: str) -> None:
        """ConfigError naming the first matrix outside the parameter space."""
        for name, m in zip(self.layout.matrix_names(), self.matrices):
            if np.any(np.diag(m) <= 0):
                bad = [p.name for p in self.layout.parameters
                       if p.is_variance and self.matrices[p.matrix][p.i, p.i] <= 0]
                raise ConfigError(
                    f"{what}: {bad[0] if bad else name} is {np.diag(m).min():g}; variances must be positive "
                    "(a variance that is zero is estimated as such: start it at a small positive value)."
                )
            if not is_inside(m):
                raise ConfigError(
                    f"{what}: the (co)variances of {name} are not positive definite ({m.tolist()}); use "
                    "covariances that give correlations strictly between -1 and 1."
                )

    def phenotypic_variance(self) -> np.ndarray:
        """σ²p per trait (t,), module docstring."""
        return self.layout.phenotypic_weights() @ self.theta

    # ---------------------------------------------------------------------------------------
    def ratios(
        self, covariance: np.ndarray | None = None, fixed: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Heritabilities, variance ratios and correlations with delta-method SEs.

        covariance: sampling covariance of θ (m × m, NaN where unknown); fixed: parameters held
        at the boundary (their SE and those of correlations with them are NaN).

        One trait: ``{"h2": {"estimate", "se"}, "<effect>_ratio": …, "r_<a>_<b>": …}``. Several
        traits: ``{"h2": {trait: …}, "<effect>_ratio": {trait: …}, "genetic_correlation":
        {"a.b": …}, "correlation_<effect>": {…}, "r_<a>_<b>": {"<trait a>.<trait b>": …},
        "residual_correlation": {…}}``.
        """
        layout = self.layout
        params = layout.parameters
        m = len(params)
        theta = self.theta
        cov = np.full((m, m), np.nan) if covariance is None else np.asarray(covariance, float)
        fixed = np.zeros(m, dtype=bool) if fixed is None else np.asarray(fixed, bool)
        free = ~fixed
        weights = layout.phenotypic_weights()
        sigma_p = weights @ theta
        index = {(p.matrix, p.i, p.j): k for k, p in enumerate(params)}
        index.update({(p.matrix, p.j, p.i): k for k, p in enumerate(params)})

        def summarise(estimate: float, grad: np.ndarray, undefined_se: bool = False) -> dict[str, float]:
            if not math.isfinite(estimate):
                return {"estimate": float("nan"), "se": float("nan")}
            sub = cov[np.ix_(free, free)]
            var = float(grad[free] @ sub @ grad[free]) if np.all(np.isfinite(sub)) else float("nan")
            se = math.sqrt(var) if var >= 0 and not undefined_se else float("nan")
            return {"estimate": float(estimate), "se": se}

        single = layout.t == 1
        out: dict[str, Any] = {}
        first_additive = next(
            ((m_, e) for m_, term in enumerate(layout.terms) for e, ty in enumerate(term.types)
             if ty in ("additive", "sire")),
            None,
        )
        # variance ratios, per effect and trait
        for mi, term in enumerate(layout.terms):
            for e, effect in enumerate(term.effects):
                label = "h2" if (mi, e) == first_additive else f"{effect}_ratio"
                entry: dict[str, Any] = {}
                for c, (ec, j) in enumerate(term.components):
                    if ec != e:
                        continue
                    k = index[(mi, c, c)]
                    # a sire model's h²: the sire variance is σ²a / 4
                    scale = SIRE_SCALE if label == "h2" and term.types[e] == "sire" else 1.0
                    if sigma_p[j] > 0:
                        ratio = scale * theta[k] / sigma_p[j]
                        grad = -ratio * weights[j] / sigma_p[j]
                        grad[k] += scale / sigma_p[j]
                    else:
                        ratio, grad = float("nan"), np.zeros(m)
                    entry[layout.traits[j]] = summarise(ratio, grad, bool(fixed[k]))
                if entry:
                    out[label] = entry[layout.traits[0]] if single else entry
        # correlations within each matrix
        for mi in list(range(len(layout.terms))) + [-1]:
            mat = self.matrices[mi]
            if mi < 0:
                labels = [(RESIDUAL, layout.traits[j]) for j in layout.residual_components]
            else:
                labels = [layout.terms[mi].label(c, layout.traits) for c in range(mat.shape[0])]
            for a in range(mat.shape[0]):
                for b in range(a + 1, mat.shape[0]):
                    (ea, ta), (eb, tb) = labels[a], labels[b]
                    ka, kb, kab = index[(mi, a, a)], index[(mi, b, b)], index[(mi, a, b)]
                    if ea == eb:
                        if single:
                            continue
                        if mi < 0:
                            label = "residual_correlation"
                        elif first_additive is not None and mi == first_additive[0] and \
                                layout.terms[mi].effects[first_additive[1]] == ea:
                            label = "genetic_correlation"
                        else:
                            label = f"correlation_{ea}"
                        key = f"{ta}.{tb}"
                    else:
                        label = f"r_{ea}_{eb}"
                        key = f"{ta}.{tb}"
                    if fixed[ka] or fixed[kb] or not (theta[ka] > 0 and theta[kb] > 0):
                        value = {"estimate": float("nan"), "se": float("nan")}
                    else:
                        scale = math.sqrt(theta[ka] * theta[kb])
                        rho = theta[kab] / scale
                        grad = np.zeros(m)
                        grad[kab] = 1.0 / scale
                        grad[ka] = -0.5 * rho / theta[ka]
                        grad[kb] = -0.5 * rho / theta[kb]
                        value = summarise(rho, grad)
                    if single:
                        out[label] = value
                    else:
                        out.setdefault(label, {})[key] = value
        return out

    # ---------------------------------------------------------------------------------------
    def named(self) -> dict[str, Any]:
        """The components under the configuration's keys.

        One trait: ``({effect: σ², "residual": σ²e}, {"a.b": σ_ab})`` flattened into one dict with
        key ``"covariances"`` separate (see :meth:`to_json`). Several traits: effect → t × t,
        ``"a.b"`` → t × t cross-covariance (rows a's traits, columns b's), residual → t × t, with
        NaN for elements of components that are not in the model."""
        return _named(self.layout, self.matrices)

    def to_json(self, se: np.ndarray | None = None) -> dict[str, Any]:
        """``variances``, ``covariances`` (one trait) and ``se`` in the configuration's keys;
        undefined values are None. `se`: standard errors in θ order (NaN = none)."""
        layout = self.layout
        out = _named(layout, self.matrices)
        if se is None:
            se_part: dict[str, Any] = {}
        else:
            sizes = [term.k for term in layout.terms] + [len(layout.residual_components)]
            mats = [np.full((k, k), np.nan) for k in sizes]
            for p, value in zip(layout.parameters, se):
                mats[p.matrix][p.i, p.j] = mats[p.matrix][p.j, p.i] = value
            se_part = _named(layout, mats, fill=np.nan)
        if layout.t == 1:
            split = {
                "variances": {k: _num(v) for k, v in out.items() if "." not in k},
                "covariances": {k: _num(v) for k, v in out.items() if "." in k},
                "se": {k: _num(v) for k, v in se_part.items()},
            }
            return split
        return {
            "traits": list(layout.traits),
            "variances": {k: _nested(v) for k, v in out.items()},
            "se": {k: _nested(v) for k, v in se_part.items()},
        }

    @classmethod
    def from_named(cls, layout: Layout, values: Mapping[str, Any], what: str = "variances") -> VarianceComponents:
        """From the configuration's keys (as :meth:`named` writes them; a covariance ``a.b`` may
        also be given as ``b.a``, transposed). Missing covariances are 0; a missing variance is
        a ConfigError naming it."""
        t = layout.t
        given = dict(values)
        mats = []
        known: set[str] = set()
        for term in layout.terms:
            k = term.k
            g = np.zeros((k, k))
            blocks = _term_blocks(term, t)
            for (ea, eb), (rows, cols) in blocks.items():
                a_name, b_name = term.effects[ea], term.effects[eb]
                key = a_name if ea == eb else f"{a_name}.{b_name}"
                swapped = None if ea == eb else f"{b_name}.{a_name}"
                known.update({key} | ({swapped} if swapped else set()))
                if key in given:
                    block = _matrix(given[key], t, f"{what}.{key}") if t > 1 else _matrix(given[key], 1, f"{what}.{key}")
                elif swapped and swapped in given:
                    block = _matrix(given[swapped], t, f"{what}.{swapped}").T
                elif ea == eb:
                    raise ConfigError(
                        f"{what}: no value for {key!r}; give one for every random effect and the residual "
                        "(covariances may be left out: they start at 0)."
                    )
                else:
                    continue
                for r, i in rows.items():
                    for c, j in cols.items():
                        g[i, j] = block[r, c]
                        if ea != eb:
                            g[j, i] = block[r, c]
            mats.append(g)
        known.add(RESIDUAL)
        if RESIDUAL not in given:
            raise ConfigError(f"{what}: no value for 'residual'.")
        full_r = _matrix(given[RESIDUAL], t, f"{what}.residual")
        rc = list(layout.residual_components)
        r0 = full_r[np.ix_(rc, rc)]
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(
                f"{what}: unknown variance parameter(s) {unknown}; the model has {sorted(known)}. Remove "
                "them or add the effects to the model."
            )
        for g in mats + [full_r]:
            if not np.allclose(g, g.T, rtol=1e-9, atol=1e-12):
                raise ConfigError(f"{what}: a covariance matrix is not symmetric: {g.tolist()}.")
        return cls(layout, tuple(mats), r0)


def _term_blocks(term: TermLayout, t: int) -> dict[tuple[int, int], tuple[dict[int, int], dict[int, int]]]:
    """For every pair of effects (a ≤ b) of the term: (trait → component index of a, trait →
    component index of b)."""
    by_effect: dict[int, dict[int, int]] = {}
    for c, (e, j) in enumerate(term.components):
        by_effect.setdefault(e, {})[j] = c
    effects = sorted(by_effect)
    out = {}
    for x, ea in enumerate(effects):
        for eb in effects[x:]:
            out[(ea, eb)] = (by_effect[ea], by_effect[eb])
    return out


def _named(layout: Layout, mats: Sequence[np.ndarray], fill: float = np.nan) -> dict[str, Any]:
    t = layout.t
    out: dict[str, Any] = {}
    for term, g in zip(layout.terms, mats[:-1]):
        for (ea, eb), (rows, cols) in _term_blocks(term, t).items():
            block = np.full((t, t), fill)
            if ea == eb:
                block = np.full((t, t), fill)
            for r, i in rows.items():
                for c, j in cols.items():
                    block[r, c] = g[i, j]
            key = term.effects[ea] if ea == eb else f"{term.effects[ea]}.{term.effects[eb]}"
            out[key] = float(block[0, 0]) if t == 1 else block
        # effects of the term with no component left (all fixed at zero): zero matrices
        for e, name in enumerate(term.effects):
            if name not in out:
                out[name] = 0.0 if t == 1 else np.zeros((t, t))
    rc = list(layout.residual_components)
    r = np.full((t, t), fill) if len(rc) < t else np.zeros((t, t))
    r[np.ix_(rc, rc)] = mats[-1]
    out[RESIDUAL] = float(r[0, 0]) if t == 1 else r
    return out


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _nested(matrix: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in np.asarray(matrix, dtype=float)]


def json_ratios(ratios: Mapping[str, Any]) -> dict[str, Any]:
    """Ratios with NaN as None, nested as :meth:`VarianceComponents.ratios` returns them."""
    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        return _num(value)

    return clean(ratios)
