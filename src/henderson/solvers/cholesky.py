"""The exact solver: sparse Cholesky (CHOLMOD) with the selected inverse on the factor's pattern."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from henderson.linalg import SparseCholesky
from henderson.mme import Equations


class CholeskySolver:
    """C = L L' on the pattern of `equations` (analysed once). log|C| from the pivots; traces
    and diag(C⁻¹) from the selected inverse (Takahashi), never a dense inverse."""

    name = "cholesky"
    exact = True

    def __init__(self, equations: Equations) -> None:
        self.equations = equations
        self.factor = SparseCholesky(equations.pattern)

    @property
    def factor_nnz(self) -> int:
        return self.factor.factor_nnz

    def update(self, lhs: sp.csc_matrix) -> None:
        self.factor.factorize(lhs)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.factor.solve(rhs)

    def logdet(self) -> float:
        return self.factor.logdet()

    def traces(self) -> np.ndarray:
        return self.equations.traces(self.factor.selected_inverse())

    def inverse_diagonal(self) -> np.ndarray:
        return self.factor.inverse_diagonal()
