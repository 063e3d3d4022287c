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

    def __init__(self, equations: Equations, factor: SparseCholesky | None = None) -> None:
        """`factor`: a SparseCholesky already analysed on the pattern of `equations`."""
        self.equations = equations
        self.factor = factor if factor is not None else SparseCholesky(equations.pattern)
        self._positions: tuple | None = None  # (L's pattern, C's pattern in the selected inverse)

    @property
    def factor_nnz(self) -> int:
        return self.factor.factor_nnz

    def update(self, lhs: sp.csc_matrix) -> None:
        self.factor.factorize(lhs)

    def solve(self, rhs: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
        """C⁻¹B; a direct solve needs no starting point (`guess` is ignored)."""
        return self.factor.solve(rhs)

    def logdet(self) -> float:
        return self.factor.logdet()

    def traces(self) -> np.ndarray:
        data = self.factor.selected_inverse_data()
        if self._positions is None or self._positions[0] is not self.factor.factor_pattern:
            index = self.factor.selected_inverse_positions(self.equations.pattern)
            self._positions = (self.factor.factor_pattern, index)
        return self.equations.traces_from_values(data[self._positions[1]])

    def inverse_diagonal(self) -> np.ndarray:
        return self.factor.inverse_diagonal()
