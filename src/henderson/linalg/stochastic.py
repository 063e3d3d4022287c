"""Stochastic (Hutchinson) traces tr(C⁻¹ M_c) of the components of the mixed model equations.

For z with independent Rademacher entries (±1, E[zz'] = I) and x = C⁻¹z::

    E[x' M z] = E[z' C⁻¹ M z] = tr(C⁻¹ M E[zz']) = tr(C⁻¹ M)        (Hutchinson 1990)

for every matrix M at once: one solve per probe gives the traces of all components of C
(:class:`henderson.mme.Equations`), and, since Σ_c coef_c M_c = C, each probe satisfies
Σ_c coef_c x'M_c z = z'z = N exactly. With P probes the estimate is the mean of the per-probe
values t_p (P × components) and its Monte Carlo covariance Cov(t_p)/P (sample covariance).
Rademacher probes have the smallest variance among sign-symmetric ones, 2 Σ_{i≠j} (C⁻¹M)_ij²
for symmetric C⁻¹M (Hutchinson 1990); the diagonal contributes none.

Probes are generated from a seed and an index (probe p of seed s is always the same vector), so
a fit evaluates every θ with the same probes (common random numbers: the estimated objective is a
smooth deterministic function of θ, and its iterations converge as for exact traces), and more
probes can be added to a set without changing the first ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["ComponentEntries", "ProbeTraces", "component_entries", "probe_products", "rademacher"]


def rademacher(n: int, first: int, count: int, seed: int) -> np.ndarray:
    """Probes first … first + count − 1 of `seed` as an (n, count) array of ±1; probe p depends
    only on (seed, p)."""
    out = np.empty((n, count))
    for j in range(count):
        rng = np.random.default_rng([int(seed), first + j])
        out[:, j] = rng.integers(0, 2, size=n, dtype=np.int8) * 2.0 - 1.0
    return out


@dataclass(frozen=True)
class ComponentEntries:
    """The stored entries of every component M_c of C: rows, cols, values (E,), and the offsets
    `ptr` (components + 1,) of each component's entries; `scale` (components,) maps the sum over
    a component's entries to the trace REML uses (½ for a symmetrised off-diagonal component)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    ptr: np.ndarray
    scale: np.ndarray

    @property
    def n_components(self) -> int:
        return self.ptr.size - 1


def component_entries(equations) -> ComponentEntries:
    """The entries of the components of `equations` (:class:`henderson.mme.Equations`), from
    their positions on its pattern."""
    pattern = equations.pattern
    pos = np.asarray(equations.pos, dtype=np.int64)
    rows = pattern.indices[pos].astype(np.int64)
    cols = (np.searchsorted(pattern.indptr, pos, side="right") - 1).astype(np.int64)
    return ComponentEntries(rows, cols, np.asarray(equations.val, dtype=float),
                            np.asarray(equations.ptr, dtype=np.int64), np.asarray(equations.trace_scale, dtype=float))


@numba.njit(cache=True, parallel=False)
def _products(rows, cols, values, ptr, x, z):  # pragma: no cover - compiled
    """out[c, p] = Σ_{e ∈ c} values_e x[rows_e, p] z[cols_e, p]."""
    n_comp = ptr.shape[0] - 1
    n_probe = x.shape[1]
    out = np.zeros((n_comp, n_probe))
    for c in range(n_comp):
        for e in range(ptr[c], ptr[c + 1]):
            r = rows[e]
            s = cols[e]
            v = values[e]
            for p in range(n_probe):
                out[c, p] += v * x[r, p] * z[s, p]
    return out


def probe_products(entries: ComponentEntries, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-probe traces (P, components): x_p' M_c z_p × scale_c for x = C⁻¹z (N, P)."""
    x = np.ascontiguousarray(x, dtype=float)
    z = np.ascontiguousarray(z, dtype=float)
    out = _products(entries.rows, entries.cols, entries.values, entries.ptr, x, z)
    return (out * entries.scale[:, None]).T


@dataclass(frozen=True, eq=False)
class ProbeTraces:
    """Per-probe traces `samples` (P, components); `mean` the estimate, `covariance` its Monte
    Carlo covariance Cov(samples)/P (components × components)."""

    samples: np.ndarray

    @property
    def probes(self) -> int:
        return self.samples.shape[0]

    @property
    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    @property
    def covariance(self) -> np.ndarray:
        p = self.probes
        if p < 2:
            return np.full((self.samples.shape[1],) * 2, np.nan)
        return np.atleast_2d(np.cov(self.samples, rowvar=False)) / p
