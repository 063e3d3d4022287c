"""Traces ``tr(A⁻¹ B)`` from the selected inverse, for ``B`` inside the pattern of ``A``."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from henderson.linalg.selected_inverse import _gallop


@numba.njit(cache=True)
def _trace_kernel(z_indptr, z_indices, z_data, b_indptr, b_indices, b_data):  # pragma: no cover
    """Σ_{(r,c) ∈ B} Z_rc B_rc, looking each entry of B up in column c of Z (sorted rows).

    Returns (total, missing_row, missing_col); missing_row = -1 when every nonzero of B was found.
    """
    n = b_indptr.shape[0] - 1
    total = 0.0
    for c in range(n):
        z0 = z_indptr[c]
        z1 = z_indptr[c + 1]
        lo = z0
        for q in range(b_indptr[c], b_indptr[c + 1]):
            v = b_data[q]
            if v == 0.0:
                continue
            r = b_indices[q]
            pos = _gallop(z_indices, lo, z1, r)
            if pos < 0:
                return total, r, c
            total += z_data[pos] * v
            lo = pos + 1
    return total, -1, -1


def trace_of_product(selected_inverse: sp.csc_matrix, B: sp.spmatrix) -> float:
    """tr(A⁻¹ B) = Σ_ij (A⁻¹)_ij B_ji for B whose pattern lies inside the selected inverse's.

    ``selected_inverse`` is the output of `SparseCholesky.selected_inverse` (symmetric, n × n).
    Because A⁻¹ is symmetric, Σ_ij (A⁻¹)_ij B_ji = Σ_ij (A⁻¹)_ij B_ij, so B need not itself be
    symmetric. Explicitly stored zeros of B are ignored. Raises ValueError when a nonzero of B
    falls outside the selected pattern (those entries of A⁻¹ were not computed).
    """
    z = selected_inverse
    if not sp.issparse(z) or z.format != "csc":
        raise TypeError("selected_inverse must be the csc_matrix returned by selected_inverse()")
    if not sp.issparse(B):
        raise TypeError(f"B must be a scipy sparse matrix, got {type(B).__name__}")
    if B.shape != z.shape:
        raise ValueError(f"B has shape {B.shape}, the selected inverse {z.shape}")
    if not z.has_sorted_indices:
        z = z.sorted_indices()
    b = sp.csc_matrix(B, dtype=np.float64)
    if not b.has_canonical_format:
        b = b.copy()
        b.sum_duplicates()
    total, row, col = _trace_kernel(
        z.indptr.astype(np.int64, copy=False), z.indices, z.data,
        b.indptr.astype(np.int64, copy=False), b.indices, b.data,
    )
    if row >= 0:
        raise ValueError(
            f"B has a nonzero at ({row}, {col}) outside the pattern of the selected inverse; "
            "tr(A⁻¹ B) needs B inside the pattern of A (or of L + L')"
        )
    return float(total)
