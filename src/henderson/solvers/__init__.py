"""Solvers of the mixed model equations behind one interface, chosen by name.

A solver is created on the fixed pattern of C (:class:`henderson.mme.Equations`) and then:

* ``update(C)``: new numeric values on that pattern (a factorization, or a new preconditioner);
* ``solve(B, guess=None)``: C⁻¹B for one (N,) or many (N, m) right-hand sides (an iterative
  solver starts from `guess`, e.g. the solution at the previous θ);
* ``logdet()``: log|C|, or None where the solver has none (iterative solvers);
* ``traces()``: tr(C⁻¹ M_c) for every component M_c of C (exact or sampled), as REML needs;
* ``inverse_diagonal()``: diag(C⁻¹) (PEV; exact or approximated);
* ``exact``: True when log-determinants, traces and the inverse diagonal are exact.

``cholesky`` (CHOLMOD; one symbolic analysis, a numeric refactorization per update, selected
inverse by the Takahashi recurrences) is the exact solver; ``pcg`` (preconditioned conjugate
gradients with a block-diagonal preconditioner) solves without factorising, has no
log-determinant or inverse diagonal, and samples the traces (Hutchinson probes) when given
`probes` (Monte Carlo REML, :mod:`henderson.reml.stochastic`). PCG takes C as an operator, with
the dense genomic blocks of K⁻¹ applied as products instead of stored in C (``operator = True``
on the class; :func:`equations_for` builds the equations in the form a solver takes).
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

    def solve(self, rhs: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray: ...

    def logdet(self) -> float | None: ...

    def traces(self) -> np.ndarray: ...

    def inverse_diagonal(self) -> np.ndarray: ...


_REGISTRY: dict[str, type] = {}

# Bytes per entry of the Cholesky factor that the exact solver holds at its peak: the factor,
# its converted copy and the selected inverse on its pattern (values and indices), measured on
# animal models of 100k animals (benchmarks/README.md).
BYTES_PER_FACTOR_ENTRY = 40
# Bytes per entry of C in a merged dense block while the equations are built (entry lists,
# pattern, positions and values; 80-94 measured with tracemalloc for n_b = 3,000, k = 1, 2).
BYTES_PER_DENSE_ENTRY = 90


def solver_choice(equations: Equations, memory_mb: float | None, *, exact: bool) -> tuple[str, str, object]:
    """What `auto` picks: the exact solver unless the factor its symbolic analysis predicts would
    not fit in `memory_mb` (with BYTES_PER_FACTOR_ENTRY per entry), then PCG — for REML
    (`exact`) with sampled traces (Monte Carlo REML). Dense blocks of K⁻¹ kept apart from the
    pattern (``Equations(operator=True)``) count with what merging them costs: the
    (k n_b)(k n_b + 1)/2 entries each puts in the factor and BYTES_PER_DENSE_ENTRY per each of its
    (k n_b)² entries of C while the equations are built. Returns (name, reason for the log and
    the summary, the analysed factor for the exact solver, or None when the pattern analysed was
    not the merged one)."""
    from henderson.linalg import SparseCholesky

    factor = SparseCholesky(equations.pattern)
    sizes = equations.dense_sizes()
    dense_mb = sum(BYTES_PER_FACTOR_ENTRY * s * (s + 1) / 2 + BYTES_PER_DENSE_ENTRY * s * s for s in sizes) / 2**20
    need_mb = BYTES_PER_FACTOR_ENTRY * factor.predicted_factor_nnz() / 2**20 + dense_mb
    of_dense = f", {dense_mb:,.0f} MB of it for the dense genomic block merged into C" if sizes else ""
    if memory_mb is None or need_mb <= memory_mb:
        reason = (
            f"solver auto: cholesky (the factor needs about {need_mb:,.0f} MB"
            + (f" of {memory_mb:,.0f} MB" if memory_mb is not None else "") + of_dense + ")"
        )
        return "cholesky", reason, None if equations.dense_terms else factor
    if exact:
        reason = (
            f"solver auto: pcg with sampled traces, Monte Carlo REML (the factor would need about {need_mb:,.0f} MB"
            f"{of_dense}, more than the {memory_mb:,.0f} MB given; estimates carry a Monte Carlo SE; reliabilities "
            "approximated or sampled, not exact)"
        )
    else:
        reason = (
            f"solver auto: pcg (the factor would need about {need_mb:,.0f} MB{of_dense}, more than the "
            f"{memory_mb:,.0f} MB given; reliabilities approximated or sampled, not exact)"
        )
    return "pcg", reason, None


def choose_solver(equations: Equations, memory_mb: float | None, *, exact: bool, **pcg_options) -> tuple[Solver, str]:
    """`auto` (:func:`solver_choice`): the solver, built (PCG with `pcg_options`: its traces
    need `probes` for REML), and the reason. Give `equations` with ``operator=True`` when K⁻¹
    may hold dense blocks: the solver is then built on the equations its kind needs (its
    ``equations``, merged again for the exact solver)."""
    name, reason, factor = solver_choice(equations, memory_mb, exact=exact)
    if equations.dense_terms and not takes_operator(name):
        equations = Equations(equations.model)
    if name == "cholesky":
        return _REGISTRY["cholesky"](equations, factor=factor), reason
    return _REGISTRY["pcg"](equations, **pcg_options), reason


def takes_operator(name: str) -> bool:
    """Whether solver `name` takes C as an operator with its dense blocks apart
    (:class:`henderson.mme.CoefficientOperator`); the others need them merged."""
    return bool(getattr(_REGISTRY.get(name), "operator", False))


def equations_for(model, name: str) -> Equations:
    """The equations of `model` in the form solver `name` takes (dense blocks apart or merged)."""
    return Equations(model, operator=takes_operator(name))


def dense_blocks(equations: Equations) -> list[dict]:
    """The dense blocks of K⁻¹ that `equations` keep apart, for the summary: term, block size
    and entries."""
    return [{"term": equations.model.terms[d.term].name, "levels": d.block.size, "components": int(d.rows.size),
             "entries": d.block.entries, "applied": "as an operator in the PCG products"} for d in equations.dense_terms]


def dense_note(equations: Equations) -> str:
    """The log's words for the dense blocks kept out of C (empty when there are none)."""
    return "".join(
        f"; the dense {b['levels']:,} × {b['levels']:,} genomic block of {b['term']} is applied as an operator in "
        "the PCG products, not stored in the coefficient matrix" for b in dense_blocks(equations)
    )


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
