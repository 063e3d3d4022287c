"""Sparse symmetric positive definite systems: Cholesky, log-determinant, selected inverse, PCG.

This package is the only place that touches CHOLMOD (through ``sksparse.cholmod``) and scipy
factorizations. Everything above it (mixed model equations, REML) sees four operations on a
symmetric positive definite coefficient matrix ``A`` (n × n, scipy sparse, both triangles stored):

* ``SparseCholesky(pattern)`` — symbolic analysis once: a fill-reducing permutation ``P`` and the
  pattern of the factor ``L`` with ``L L' = A[P, :][:, P]``;
* ``.factorize(A)`` — numeric factorization, repeated for every new set of values on that pattern
  (REML evaluates the objective at many variance ratios, the pattern never changes);
* ``.solve(b)``, ``.logdet()`` — ``A⁻¹ b`` and ``log|A|``;
* ``.selected_inverse()`` — the entries of ``A⁻¹`` on the pattern of ``L + L'`` (which contains
  the pattern of ``A``), by the Takahashi / Erisman–Tinney recurrences, never a dense inverse.
  ``trace_of_product(Z, B) = tr(A⁻¹ B)`` then needs only those entries when ``B`` lies inside the
  pattern of ``A`` (e.g. ``tr(A⁻¹ · K⁻¹)`` for a relationship-matrix block in REML).

``pcg`` solves systems too large to factor by Jacobi-preconditioned conjugate gradients.

Modules: `cholesky` (`SparseCholesky`), `ordering` (its elimination order: AMD with the dense
columns last; simplicial or supernodal from the work per entry of L), `symbolic` (elimination
tree, column counts and postorder of L before it is computed), `selected_inverse` (its numba
kernels), `traces` (`trace_of_product`), `iterative` (`pcg`).

Index convention: every index in an argument, a result or an error message is 0-based in the
caller's (original) ordering; the permutation is internal.

Threads: CHOLMOD and the selected inverse spend their time in BLAS. Set the BLAS thread count
(``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS``) to the cores the job
owns; more BLAS threads than free cores makes the many medium-sized block operations of the
selected inverse several times slower.
"""

from henderson.linalg.cholesky import FactorMode, Ordering, SparseCholesky
from henderson.linalg.iterative import PCGResult, pcg
from henderson.linalg.traces import trace_of_product

__all__ = ["FactorMode", "Ordering", "PCGResult", "SparseCholesky", "pcg", "trace_of_product"]
