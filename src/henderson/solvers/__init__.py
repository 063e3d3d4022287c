"""Solvers of the mixed model equations behind one interface, chosen by name.

A solver is created on the fixed pattern of C (:class:`henderson.mme.Equations`) and then:

* ``update(C)``: new numeric values on that pattern (a factorization, or a new preconditioner);
* ``solve(B)``: C⁻¹B for one (N,) or many (N, m) right-hand sides;
* ``logdet()``: log|C|, or None where the solver has none (iterative solvers);
* ``traces()``: tr(C⁻¹ M_c) for every component M_c of C (exact or sampled), as REML needs;
* ``inverse_diagonal()``: diag(C⁻¹) (PEV; exact or approximated);
* ``exact``: True when log-determinants, traces and the inverse diagonal are exact.

``cholesky`` (CHOLMOD; one symbolic analysis, a numeric refactorization per update, selected
inverse by the Takahashi recurrences) is the exact solver; ``pcg`` (preconditioned conjugate
gradients with a block-diagonal preconditioner) solves without factorising, has no
log-determinant or inverse diagonal, and samples the traces (Hutchinson probes) when given
`probes` (Monte Carlo REML, :mod:`henderson.reml.stochastic`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from henderson.errors import ConfigError
from henderson.mme import Equations


class Solver(Protocol):
    name: str
    exact: bool

    def update(self, lhs: sp.csc_matrix) -> None: ...

    def solve(self, rhs: np.ndarray) -> np.ndarray: ...

    def logdet(self) -> float | None: ...

    def traces(self) -> np.ndarray: ...

    def inverse_diagonal(self) -> np.ndarray: ...


_REGISTRY: dict[str, type] = {}

# Bytes per entry of the Cholesky factor that the exact solver holds at its peak: the factor,
# its converted copy and the selected inverse on its pattern (values and indices), measured on
# animal models of 100k animals (benchmarks/README.md).
BYTES_PER_FACTOR_ENTRY = 40


def solver_choice(equations: Equations, memory_mb: float | None, *, exact: bool) -> tuple[str, str, object]:
    """What `auto` picks: the exact solver unless the factor its symbolic analysis predicts would
    not fit in `memory_mb` (with BYTES_PER_FACTOR_ENTRY per entry), then PCG — for REML
    (`exact`) with sampled traces (Monte Carlo REML). Returns (name, reason for the log and
    the summary, the analysed factor for the exact solver)."""
    from henderson.linalg import SparseCholesky

    factor = SparseCholesky(equations.pattern)
    need_mb = BYTES_PER_FACTOR_ENTRY * factor.predicted_factor_nnz() / 2**20
    if memory_mb is None or need_mb <= memory_mb:
        reason = (
            f"solver auto: cholesky (the factor needs about {need_mb:,.0f} MB"
            + (f" of {memory_mb:,.0f} MB" if memory_mb is not None else "") + ")"
        )
        return "cholesky", reason, factor
    if exact:
        reason = (
            f"solver auto: pcg with sampled traces, Monte Carlo REML (the factor would need about {need_mb:,.0f} MB, "
            f"more than the {memory_mb:,.0f} MB given; estimates carry a Monte Carlo SE; no reliabilities from PCG)"
        )
    else:
        reason = (
            f"solver auto: pcg (the factor would need about {need_mb:,.0f} MB, more than the {memory_mb:,.0f} MB "
            "given; no standard errors or reliabilities from PCG)"
        )
    return "pcg", reason, None


def choose_solver(equations: Equations, memory_mb: float | None, *, exact: bool, **pcg_options) -> tuple[Solver, str]:
    """`auto` (:func:`solver_choice`): the solver, built (PCG with `pcg_options`: its traces
    need `probes` for REML), and the reason."""
    name, reason, factor = solver_choice(equations, memory_mb, exact=exact)
    if name == "cholesky":
        return _REGISTRY["cholesky"](equations, factor=factor), reason
    return _REGISTRY["pcg"](equations, **pcg_options), reason


def register_solver(name: str, factory: type) -> None:
    """Make `factory(equations, **options)` available as solver `name` (e.g. an iterative
    solver, or a test double)."""
    _REGISTRY[name] = factory


def make_solver(name: str, equations: Equations, **options) -> Solver:
    """The solver registered under `name` for the pattern of `equations`."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown solver {name!r}; use one of {sorted(_REGISTRY)}.") from None
    return cls(equations, **options)


from henderson.solvers.cholesky import CholeskySolver  # registers the solvers below
from henderson.solvers.pcg import PCGSolver

register_solver("cholesky", CholeskySolver)
register_solver("pcg", PCGSolver)
