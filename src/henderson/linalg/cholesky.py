"""`SparseCholesky`: CHOLMOD analysis once, numeric factorization per call, solve, log-determinant
and selected inverse of a symmetric positive definite sparse matrix.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sksparse import cholmod
from threadpoolctl import threadpool_limits

from henderson.errors import NumericalError
from henderson.linalg.ordering import (
    dense_limit,
    elimination_order,
    factor_kind,
    permuted_lower,
)
from henderson.linalg.selected_inverse import (
    _expand_symmetric,
    _find_supernodes,
    _lower_positions,
    _takahashi,
)
from henderson.linalg.symbolic import elimination_tree, factor_entries, postorder

_LOG = logging.getLogger("henderson.linalg")

FactorMode = Literal["auto", "supernodal", "simplicial"]
Ordering = Literal["default", "amd", "metis", "nesdis", "best", "natural"]

_MODES = ("auto", "supernodal", "simplicial")
_ORDERINGS = ("default", "amd", "metis", "nesdis", "best", "natural")
# From this order on, the elimination order is postordered and `auto` decides the kind of factor
# from the column counts of L; below it `auto` is CHOLMOD's own switch (work per entry ≥ 40): the
# choice hardly matters there, and the elimination tree would load the compiled kernels.
_AUTO_BY_COUNTS_FROM = 5_000


def _limit_was_lowered(pattern: sp.csc_matrix) -> bool:
    degree = np.diff(pattern.indptr)
    return dense_limit(degree) < dense_limit(degree, lowered=False)


def _as_square_csc(matrix: sp.spmatrix, what: str) -> sp.csc_matrix:
    """``matrix`` as a float64 ``csc_matrix`` with sorted, unique indices (never mutates input)."""
    if not sp.issparse(matrix):
        raise TypeError(f"{what} must be a scipy sparse matrix, got {type(matrix).__name__}")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{what} must be square, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{what} is empty (0 × 0)")
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    if not csc.has_canonical_format:
        csc = csc.copy()
        csc.sum_duplicates()  # also sorts the indices
    return csc


def _lower_pattern(csc: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Pattern of the lower triangle (indptr, indices)."""
    cols = np.repeat(np.arange(csc.shape[1], dtype=np.int64), np.diff(csc.indptr))
    rows = csc.indices.astype(np.int64, copy=False)
    keep = rows >= cols
    indptr = np.zeros(csc.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols[keep], minlength=csc.shape[1]), out=indptr[1:])
    return indptr, rows[keep].astype(np.int32)


def _check_structurally_symmetric(csc: sp.csc_matrix, what: str) -> None:
    cols = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
    n_strict_lower = int(np.count_nonzero(csc.indices > cols))
    n_upper = int(np.count_nonzero(csc.indices < cols))
    if n_strict_lower != n_upper:
        raise ValueError(
            f"{what} is not stored as a full symmetric matrix ({n_strict_lower} entries below "
            f"the diagonal, {n_upper} above); pass both triangles, e.g. M + M.T - diag(M)"
        )


class SparseCholesky:
    """Sparse Cholesky of a symmetric positive definite matrix: symbolic analysis once
    (fill-reducing ordering), numeric factorization per call of `factorize` for matrices with the
    same pattern.

    ``L L' = A[P, :][:, P]`` with ``P`` the elimination order chosen at analysis. Matrices are
    n × n scipy sparse with both triangles stored; only the lower triangle is read. CHOLMOD
    factors the permuted lower triangle in its natural order (the permutation is applied here,
    by one gather of the values per factorization).

    Parameters
    ----------
    pattern
        Any matrix with the sparsity pattern of the matrices to factor (values are ignored;
        explicitly stored zeros count as part of the pattern).
    mode
        Factorization kind: ``"auto"`` (simplicial or supernodal by the work per entry of L,
        :func:`henderson.linalg.ordering.factor_kind`; CHOLMOD's own switch below order
        5,000), ``"supernodal"`` (dense blocks, BLAS) or ``"simplicial"``.
    ordering
        Fill-reducing ordering: ``"default"`` (AMD with the dense columns last,
        :func:`henderson.linalg.ordering.elimination_order`), or CHOLMOD's ``"amd"``,
        ``"metis"``, ``"nesdis"``, ``"best"`` (tries several; slow) or ``"natural"``.

    Example
    -------
    >>> chol = SparseCholesky(lhs).factorize(lhs)        # doctest: +SKIP
    >>> x, logdet = chol.solve(rhs), chol.logdet()      # doctest: +SKIP
    """

    def __init__(
        self,
        pattern: sp.spmatrix,
        *,
        mode: FactorMode = "auto",
        ordering: Ordering = "default",
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if ordering not in _ORDERINGS:
            raise ValueError(f"ordering must be one of {_ORDERINGS}, got {ordering!r}")
        csc = _as_square_csc(pattern, "pattern")
        _check_structurally_symmetric(csc, "pattern")
        self._n = int(csc.shape[0])
        self._lower: tuple[np.ndarray, np.ndarray] | None = None  # its lower triangle, when needed
        self._full_indptr = csc.indptr.copy()  # fast path of the pattern check in factorize
        self._full_indices = csc.indices.copy()
        start = time.perf_counter()
        try:
            large = self._n >= _AUTO_BY_COUNTS_FROM
            order = elimination_order(csc, ordering, lowered=large)
            self._predicted_nnz: int | None = None
            kind = mode
            if large:
                parent, counts = elimination_tree(csc, order)
                if mode == "auto":
                    kind = factor_kind(counts)
                if kind == "supernodal" and ordering == "default" and _limit_was_lowered(csc):
                    # a dense factor (multi-trait models): the columns between √n and 2√n entries
                    # keep their place in AMD's order (ordering module docstring)
                    order = elimination_order(csc, ordering, lowered=False)
                    parent, counts = elimination_tree(csc, order)
                    if mode == "auto":
                        kind = factor_kind(counts)
                post = postorder(parent)  # dense columns set aside leave the order unpostordered
                order, counts = order[post], counts[post]  # the same counts, so the same kind
                self._predicted_nnz = int(counts.sum())
            # the permuted lower triangle, and where each of its entries comes from in `csc`
            self._p_indptr, self._p_indices, self._gather = permuted_lower(csc, order)
            self._factor = cholmod.analyze(self._permuted(csc.data[self._gather]), mode=kind,
                                           ordering_method="natural")
        except (cholmod.CholmodTooLargeError, cholmod.CholmodOutOfMemoryError) as exc:
            raise self._too_large_error(csc, exc) from None
        self._kind = kind
        self._order = order  # the order CHOLMOD's factor is given its matrix in
        # CHOLMOD keeps the natural order; were it to reorder, the orders compose
        self._perm = order[np.asarray(self._factor.P(), dtype=np.int64)]
        self._factorized = False
        # Pattern of L (fixed for the analysed pattern) and its supernodes, filled on first use.
        self._l_indptr: np.ndarray | None = None
        self._l_indices: np.ndarray | None = None
        self._supernodes: np.ndarray | None = None
        self._zdata: np.ndarray | None = None  # selected inverse on the pattern of L (permuted)
        _LOG.debug(
            "analysed %d x %d pattern (%d stored entries, mode=%s: %s, ordering=%s) in %.2f s",
            self._n, self._n, csc.nnz, mode, kind, ordering, time.perf_counter() - start,
        )

    def _permuted(self, data: np.ndarray) -> sp.csc_matrix:
        """The permuted lower triangle with the given values (in its stored order)."""
        out = sp.csc_matrix((data, self._p_indices, self._p_indptr), shape=(self._n, self._n))
        out.has_sorted_indices = True
        return out

    # ---------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Order of the matrix (number of unknowns)."""
        return self._n

    @property
    def kind(self) -> str:
        """"simplicial" or "supernodal" as analysed; "auto" where CHOLMOD's own switch chose
        (`mode="auto"` below 5,000 unknowns)."""
        return self._kind

    @property
    def permutation(self) -> np.ndarray:
        """Fill-reducing permutation P (length n): row k of the factor is original row P[k]."""
        return self._perm.copy()

    def predicted_factor_nnz(self) -> int:
        """Entries of L (lower triangle, diagonal included) as the symbolic analysis predicts
        them, before any factorization (no supernodal padding)."""
        if self._predicted_nnz is not None:
            return self._predicted_nnz
        pattern = sp.csc_matrix(
            (np.ones(self._full_indices.size), self._full_indices, self._full_indptr), shape=(self._n, self._n)
        )
        return factor_entries(pattern, self._perm)

    @property
    def factor_nnz(self) -> int:
        """Stored entries of L (lower triangle incl. diagonal and supernodal padding).

        Requires a factorization; extracts the factor once (the pattern is then cached)."""
        self._require_factor()
        if self._l_indptr is None:
            self._extract_factor()
        assert self._l_indptr is not None
        return int(self._l_indptr[-1])

    # ---------------------------------------------------------------------------------------
    def factorize(self, matrix: sp.spmatrix) -> SparseCholesky:
        """Numeric factorization of ``matrix`` (n × n, pattern inside the analysed one).

        Returns ``self``. Raises `henderson.errors.NumericalError` naming the original row at
        which elimination met a pivot ≤ 0 when ``matrix`` is not positive definite, and
        ValueError when ``matrix`` has entries outside the analysed pattern.
        """
        csc = _as_square_csc(matrix, "matrix")
        if csc.shape[0] != self._n:
            raise ValueError(
                f"matrix is {csc.shape[0]} x {csc.shape[0]}; analysed {self._n} x {self._n}"
            )
        same = self._check_pattern(csc)
        if same:
            permuted = self._permuted(csc.data[self._gather])
        else:  # a pattern inside the analysed one: permuted on its own
            indptr, indices, gather = permuted_lower(csc, self._order)
            permuted = sp.csc_matrix((csc.data[gather], indices, indptr), shape=csc.shape)
        self._factorized = False
        self._zdata = None
        start = time.perf_counter()
        try:
            self._factor.cholesky_inplace(permuted)
        except cholmod.CholmodNotPositiveDefiniteError:
            raise self._not_positive_definite(csc) from None
        except (cholmod.CholmodTooLargeError, cholmod.CholmodOutOfMemoryError) as exc:
            raise self._too_large_error(csc, exc) from None
        pivots = np.asarray(self._factor.D())
        bad = np.flatnonzero(~(pivots > 0.0))  # also catches NaN
        if bad.size:
            # Simplicial LDL' does not stop at a negative pivot; the first one marks the failure.
            raise self._pd_error(int(self._perm[bad[0]]), float(pivots[bad[0]]))
        self._factorized = True
        _LOG.debug(
            "factorized %d x %d matrix in %.2f s", self._n, self._n, time.perf_counter() - start
        )
        return self

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """x = A⁻¹ rhs for rhs of shape (n,) or (n, k); the result has the shape of rhs."""
        self._require_factor()
        b = np.asarray(rhs, dtype=np.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self._n:
            raise ValueError(f"rhs must have shape ({self._n},) or ({self._n}, k), got {b.shape}")
        if b.ndim == 2 and b.shape[1] == 0:
            return np.empty_like(b)
        y = np.asarray(self._factor.solve_A(b[self._order])).reshape(b.shape)
        x = np.empty_like(y)
        x[self._order] = y
        return x

    def inverse_root_times(self, z: np.ndarray) -> np.ndarray:
        """x = P' L'⁻¹ z for z of shape (n,) or (n, k), the result in the original order: with
        z ~ N(0, I), x ~ N(0, A⁻¹) (Cov x = P' (L L')⁻¹ P = A⁻¹), e.g. a draw of effects whose
        precision matrix is A."""
        self._require_factor()
        b = np.asarray(z, dtype=np.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self._n:
            raise ValueError(f"z must have shape ({self._n},) or ({self._n}, k), got {b.shape}")
        y = np.asarray(self._factor.solve_Lt(b, use_LDLt_decomposition=False)).reshape(b.shape)
        out = np.empty_like(y)
        out[self._perm] = y
        return out

    def logdet(self) -> float:
        """log|A| = Σ_k log d_k over the pivots of the factorization (natural log)."""
        self._require_factor()
        return float(np.sum(np.log(np.asarray(self._factor.D()))))

    def selected_inverse(self) -> sp.csc_matrix:
        """Entries of A⁻¹ on the pattern of L + L', mapped back to the original ordering.

        Symmetric n × n ``csc_matrix`` with sorted row indices; its pattern contains every
        structural entry of A (and the fill of the factor). Entries outside the pattern are not
        zero in A⁻¹, they are simply not computed. Cost: a few times that of the factorization.
        """
        zdata = self._selected_inverse_data()
        assert self._l_indptr is not None and self._l_indices is not None
        start = time.perf_counter()
        ptr, idx, val = _expand_symmetric(self._l_indptr, self._l_indices, zdata, self._perm)
        if ptr[-1] <= np.iinfo(np.int32).max:
            ptr = ptr.astype(np.int32)
        else:
            idx = idx.astype(np.int64)
        out = sp.csc_matrix((val, idx, ptr), shape=(self._n, self._n))
        out.has_sorted_indices = True
        _LOG.debug(
            "expanded selected inverse (%d entries) in %.2f s", out.nnz, time.perf_counter() - start
        )
        return out

    def selected_inverse_data(self) -> np.ndarray:
        """The selected inverse as stored: A⁻¹ on the lower triangle of L's pattern, in L's
        (permuted) column order; :meth:`selected_inverse_positions` says where entries of A⁻¹
        lie in it."""
        return self._selected_inverse_data()

    def selected_inverse_positions(self, pattern: sp.csc_matrix) -> np.ndarray:
        """Positions in :meth:`selected_inverse_data` of every stored entry of `pattern` (a
        symmetric CSC in the original order, inside the analysed pattern), in its stored order:
        computed once per factor pattern, they turn every later selected inverse on the same
        analysis into one gather. Raises RuntimeError for an entry outside L's pattern."""
        self._selected_inverse_data()
        assert self._l_indptr is not None and self._l_indices is not None
        inverse = np.empty(self._n, np.int64)
        inverse[self._perm] = np.arange(self._n)
        positions, missing = _lower_positions(self._l_indptr, self._l_indices, inverse,
                                              pattern.indptr.astype(np.int64), pattern.indices)
        if missing >= 0:
            raise RuntimeError("the factor's pattern does not cover the pattern asked for")
        return positions

    @property
    def factor_pattern(self) -> np.ndarray | None:
        """Column pointers of L's pattern (an identity for caches keyed on the pattern)."""
        return self._l_indptr

    def inverse_diagonal(self) -> np.ndarray:
        """diag(A⁻¹) in the original order (length n), from the selected inverse."""
        zdata = self._selected_inverse_data()
        assert self._l_indptr is not None
        out = np.empty(self._n)
        out[self._perm] = zdata[self._l_indptr[:-1]]  # the diagonal heads every column of L
        return out

    # ---------------------------------------------------------------------------------------
    def _require_factor(self) -> None:
        if not self._factorized:
            raise RuntimeError("call factorize() with a positive definite matrix first")

    def _check_pattern(self, csc: sp.csc_matrix) -> bool:
        """Raise when `csc` has entries outside the analysed pattern; True when its stored
        pattern is the analysed one itself."""
        if np.array_equal(csc.indptr, self._full_indptr) and np.array_equal(
            csc.indices, self._full_indices
        ):
            return True
        _check_structurally_symmetric(csc, "matrix")
        indptr, indices = _lower_pattern(csc)
        n = self._n
        if self._lower is None:  # the analysed pattern's lower triangle, derived once on demand
            full = sp.csc_matrix((np.ones(self._full_indices.size), self._full_indices, self._full_indptr),
                                 shape=(n, n))
            self._lower = _lower_pattern(full)
        lower_indptr, lower_indices = self._lower
        if np.array_equal(indptr, lower_indptr) and np.array_equal(indices, lower_indices):
            return False
        new = sp.csc_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
        old = sp.csc_matrix((np.ones(lower_indices.size), lower_indices, lower_indptr), shape=(n, n))
        extra = (new + old).nnz - old.nnz
        if extra:
            raise ValueError(
                f"matrix has {extra} entries (lower triangle) outside the analysed pattern; "
                "create a new SparseCholesky for a new pattern"
            )
        return False

    def _pd_error(self, row: int | None, pivot: float | None) -> NumericalError:
        where = (
            f"elimination met pivot {pivot:.6g} at row {row} (0-based, original order)"
            if row is not None
            else "CHOLMOD reported a pivot <= 0"
        )
        return NumericalError(
            f"The {self._n} x {self._n} coefficient matrix is not positive definite: {where}. "
            "The equations are singular or indefinite at or before that unknown: check that the "
            "effect level it belongs to has records, that no design columns are linearly dependent "
            "(e.g. an intercept plus every level of a factor), and that every variance component "
            "is positive."
        )

    def _too_large_error(self, csc: sp.csc_matrix, exc: Exception) -> NumericalError:
        return NumericalError(
            f"The {csc.shape[0]} x {csc.shape[0]} coefficient matrix ({csc.nnz} stored entries) "
            f"is too large to factor on this machine ({exc}). Use the iterative solver (pcg) for "
            "the solutions, or run on a machine with more memory."
        )

    def _not_positive_definite(self, csc: sp.csc_matrix) -> NumericalError:
        """Locate the failing pivot after CHOLMOD's supernodal LL' refused the matrix.

        The supernodal error does not say where; an LDL' factorization in the same order does
        not stop at negative pivots, and its first pivot ≤ 0 is the failing one (pivot k is
        det(A_k)/det(A_{k-1}) of the leading blocks in that order).
        """
        perm = self._perm
        permuted = sp.csc_matrix(csc[perm, :][:, perm])
        permuted.sort_indices()
        diag = cholmod.analyze(permuted, mode="simplicial", ordering_method="natural")
        try:
            diag.cholesky_inplace(permuted)
        except cholmod.CholmodError:
            pass  # a zero pivot also raises; the pivots up to it are still there
        try:
            pivots = np.asarray(diag.D())
        except cholmod.CholmodError:
            return self._pd_error(None, None)
        inner = np.asarray(diag.P(), dtype=np.int64)
        bad = np.flatnonzero(~(pivots > 0.0))
        if not bad.size:
            return self._pd_error(None, None)
        k = int(bad[0])
        return self._pd_error(int(perm[inner[k]]), float(pivots[k]))

    def _extract_factor(self) -> np.ndarray:
        """Values of L (LL' form, permuted order); caches the pattern and supernodes of L."""
        lfac = self._factor.L()  # a converted copy; the factor itself keeps its form
        if not lfac.has_sorted_indices:
            lfac.sort_indices()
        indptr = lfac.indptr.astype(np.int64)
        indices = lfac.indices.astype(np.int32)
        if (
            self._l_indptr is None
            or not np.array_equal(indptr, self._l_indptr)
            or not np.array_equal(indices, self._l_indices)
        ):
            if not np.array_equal(indices[indptr[:-1]], np.arange(self._n, dtype=np.int32)):
                raise RuntimeError("CHOLMOD factor columns do not start with their diagonal")
            self._l_indptr = indptr
            self._l_indices = indices
            self._supernodes = _find_supernodes(indptr, indices)
        return np.asarray(lfac.data, dtype=np.float64)

    def _selected_inverse_data(self) -> np.ndarray:
        self._require_factor()
        if self._zdata is None:
            start = time.perf_counter()
            ldata = self._extract_factor()
            assert self._l_indices is not None and self._supernodes is not None
            # The kernel makes many small BLAS calls (one set per supernode): threaded BLAS only
            # adds synchronisation, and on a loaded machine it is 10-1000x slower.
            with threadpool_limits(limits=1, user_api="blas"):
                zdata, status = _takahashi(self._l_indptr, self._l_indices, ldata, self._supernodes)
            if status > 0:
                raise RuntimeError(
                    f"factor pattern is not closed under elimination at column {status - 1}"
                )
            if status < 0 or not np.all(np.isfinite(zdata)):
                raise NumericalError(
                    f"The selected inverse of the {self._n} x {self._n} coefficient matrix "
                    "overflowed; the matrix is numerically singular. Check the model for "
                    "dependent effects or tiny variance ratios."
                )
            self._zdata = zdata
            _LOG.debug(
                "selected inverse: %d factor entries, %d supernodes, %.2f s",
                ldata.size, self._supernodes.size - 1, time.perf_counter() - start,
            )
        return self._zdata
