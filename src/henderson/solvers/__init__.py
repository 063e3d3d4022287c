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
gradients with a block-diagonal preconditioner) solves without factorising, and has no
log-determinant, traces or inverse diagonal.
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
