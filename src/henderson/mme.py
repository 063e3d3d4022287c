"""Henderson's mixed model equations on a fixed pattern.

With W the design of the observed values (:class:`henderson.model.MixedModel`), R the
block-diagonal residual covariance of the observed values and G = blockdiag(G0_term ⊗ K_term)::

    C ŝ = r,   C = W'R⁻¹W + blockdiag(0_p, G0_1⁻¹ ⊗ K_1⁻¹, …),   r = W'R⁻¹y.

C is a weighted sum of fixed components, so every set of variances only rescales them on one
sparsity pattern (one symbolic analysis per model):

* residual components, one per missing pattern P (the records S_P observing the traits P) and
  pair j ≤ l of its traits: M_{P,j,l} = W_j[S_P]' D_w W_l[S_P] (D_w the record weights, and its
  transpose for j ≠ l); coefficient Q_P[j, l], Q_P = R0[P, P]⁻¹;
* random components, one per term and pair a ≤ b of its components: K⁻¹ at block (a, b) and
  (b, a); coefficient (G0⁻¹)_ab.

C⁻¹ gives the sampling covariance of b̂ and the prediction error covariance of û − u (PEV =
diag of the random part). tr(C⁻¹ M) of each component, from C⁻¹ on the pattern, gives the REML
traces (:meth:`Equations.traces`).

Dense blocks of K⁻¹ (genomic relationships: K⁻¹ = S + E'ME, :mod:`henderson.dense_block`) are
merged into the pattern for the exact solvers. With ``operator=True`` they stay out of it: the
random components hold S only and C is the operator (:class:`CoefficientOperator`)::

    C x = C_S x + Σ_terms (G0⁻¹ ⊗ E'ME) x

which an iterative solver applies with one dense product per term; C_S never holds the n_b²
entries of M.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from henderson.covariance import VarianceComponents
from henderson.dense_block import BlockProducts
from henderson.errors import ConfigError
from henderson.model import MixedModel

__all__ = ["CoefficientOperator", "DenseTerm", "Equations", "coefficient_matrix"]


@dataclass(frozen=True)
class _Component:
    kind: str  # "residual" or "random"
    group: int  # pattern index or term index
    a: int
    b: int


@dataclass(frozen=True, eq=False)
class DenseTerm:
    """The dense block M of term `term`'s K⁻¹ in C: component a of the term starts at row
    `rows[a]` of C (k,), so M sits at the rows ``rows[a] + block.positions``."""

    term: int
    rows: np.ndarray
    block: BlockProducts

    def indices(self) -> np.ndarray:
        """Rows of C of the block, per component (k × n_b)."""
        return self.rows[:, None] + self.block.positions[None, :]


@dataclass(frozen=True, eq=False)
class CoefficientOperator:
    """C = `sparse` + Σ (G0⁻¹ ⊗ E'ME) over the `dense` (DenseTerm, G0⁻¹ (k × k)) pairs, N × N
    (module docstring); `sparse` (CSC) holds everything but the dense blocks."""

    sparse: sp.csc_matrix
    dense: tuple[tuple[DenseTerm, np.ndarray], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return self.sparse.shape

    def add_dense(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out += Σ (G0⁻¹ ⊗ E'ME) x for x and out (N, m); returns out."""
        for term, ginv in self.dense:
            idx = term.indices()
            k, nb = idx.shape
            xs = x[idx]  # (k, n_b, m)
            m = xs.shape[2]
            y = term.block.times(np.ascontiguousarray(xs.transpose(1, 0, 2)).reshape(nb, k * m)).reshape(nb, k, m)
            out[idx] += np.einsum("ab,nbm->anm", ginv, y)
        return out

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        """C x for x (N,) or (N, m)."""
        x2 = np.asarray(x, dtype=float).reshape(self.shape[0], -1)
        out = self.add_dense(x2, np.asarray(self.sparse @ x2, dtype=float))
        return out.reshape(np.shape(x))

    def diagonal(self) -> np.ndarray:
        """diag(C) (N,) as the preconditioner takes it: exact for dense blocks, with the blocks'
        ``preconditioner_diagonal`` for blocks held as products."""
        out = self.sparse.diagonal().astype(float)
        for term, ginv in self.dense:
            for a, rows in enumerate(term.indices()):
                out[rows] += ginv[a, a] * term.block.preconditioner_diagonal()
        return out


class Equations:
    """The pattern of C (union over all variances) and its components (module docstring);
    `operator`: keep dense blocks of K⁻¹ out of the pattern (``dense_terms``) and assemble C as
    a :class:`CoefficientOperator`."""

    def __init__(self, model: MixedModel, *, operator: bool = False) -> None:
        self.model = model
        self.operator = bool(operator)
        n, nu = model.n_records, model.n_unknowns
        w = model.w
        trait_sets, record_sets = model.patterns
        self.flat = [traits[None, :] * n + rows[:, None] for traits, rows in zip(trait_sets, record_sets)]
        self.counts = np.array([rows.size for rows in record_sets], dtype=float)
        weights = model.weights
        self.log_weights = (
            [float(np.log(weights[rows]).sum()) for rows in record_sets] if weights is not None
            else [0.0] * len(record_sets)
        )
        entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.components: list[_Component] = []
        for p, (traits, rows) in enumerate(zip(trait_sets, record_sets)):
            parts = [w[j * n + rows] for j in traits]
            right = parts if weights is None else [sp.diags(weights[rows]) @ x for x in parts]
            for a in range(len(traits)):
                for b in range(a, len(traits)):
                    m = sp.coo_matrix(parts[a].T @ right[b])
                    entries.append(_symmetrised(m, a != b))
                    self.components.append(_Component("residual", p, a, b))
        dense_terms: list[DenseTerm] = []
        self._dense_components: list[tuple[int, int, int, int]] = []  # (component, dense term, a, b)
        for t, term in enumerate(model.terms):
            rel = term.relationship
            apart = self.operator and rel.dense is not None
            kinv = sp.coo_matrix(rel.kinv if apart else rel.kinv_matrix())
            if apart:
                rows = np.array([model.block(t, a)[0] for a in range(term.k)], dtype=np.int64)
                dense_terms.append(DenseTerm(t, rows, rel.dense))
            for a in range(term.k):
                for b in range(a, term.k):
                    ra, _ = model.block(t, a)
                    rb, _ = model.block(t, b)
                    m = (kinv.row.astype(np.int64) + ra, kinv.col.astype(np.int64) + rb, kinv.data.astype(float))
                    if a != b:
                        m = (np.concatenate([m[0], m[1]]), np.concatenate([m[1], m[0]]), np.concatenate([m[2], m[2]]))
                    entries.append(m)
                    if apart:
                        self._dense_components.append((len(self.components), len(dense_terms) - 1, a, b))
                    self.components.append(_Component("random", t, a, b))
        self.dense_terms = tuple(dense_terms)
        diag = np.arange(nu, dtype=np.int64)
        rows_all = np.concatenate([diag] + [e[0] for e in entries])
        cols_all = np.concatenate([diag] + [e[1] for e in entries])
        pattern = sp.csc_matrix((np.ones(rows_all.size), (rows_all, cols_all)), shape=(nu, nu))
        pattern.sum_duplicates()
        pattern.sort_indices()
        pattern.data[:] = 1.0
        self.pattern = pattern
        keys = pattern.indices.astype(np.int64) + nu * np.repeat(np.arange(nu, dtype=np.int64), np.diff(pattern.indptr))
        lengths = np.array([e[0].size for e in entries], dtype=np.int64)
        self.lengths = lengths
        self.ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.pos = (
            np.searchsorted(keys, np.concatenate([e[0] + nu * e[1] for e in entries])) if entries else np.zeros(0, np.int64)
        )
        self.val = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0)
        self.trace_scale = np.array([1.0 if c.a == c.b else 0.5 for c in self.components])
        self.wt = sp.csr_matrix(w.T)

    # ---------------------------------------------------------------------------------------
    def q_matrices(self, vc: VarianceComponents) -> list[np.ndarray]:
        """Q_P = R0[P, P]⁻¹ per missing pattern."""
        trait_sets, _ = self.model.patterns
        return [np.linalg.inv(vc.r0[np.ix_(tr, tr)]) for tr in trait_sets]

    def coefficients(self, vc: VarianceComponents) -> np.ndarray:
        qs = self.q_matrices(vc)
        ginvs = [np.linalg.inv(g) for g in vc.g0]
        return np.array(
            [qs[c.group][c.a, c.b] if c.kind == "residual" else ginvs[c.group][c.a, c.b] for c in self.components]
        )

    def assemble(self, coef: np.ndarray) -> sp.csc_matrix | CoefficientOperator:
        """C = Σ coef_c × component_c on the pattern; with dense terms (``operator``) the
        :class:`CoefficientOperator` of that sparse part and the dense blocks."""
        weights = self.val * np.repeat(coef, self.lengths)
        data = np.bincount(self.pos, weights=weights, minlength=self.pattern.nnz)
        out = sp.csc_matrix((data, self.pattern.indices, self.pattern.indptr), shape=self.pattern.shape)
        out.has_sorted_indices = True
        if not self.dense_terms:
            return out
        ginvs = [np.zeros((self.model.terms[d.term].k,) * 2) for d in self.dense_terms]
        for c, d, a, b in self._dense_components:
            ginvs[d][a, b] = ginvs[d][b, a] = coef[c]
        return CoefficientOperator(out, tuple(zip(self.dense_terms, ginvs)))

    def dense_sizes(self) -> list[int]:
        """k n_b of each dense term kept apart: its rows in C, one clique of (k n_b)² entries of C
        and (k n_b)(k n_b + 1)/2 of its Cholesky factor once merged."""
        return [int(d.rows.size * d.block.size) for d in self.dense_terms]

    def dense_probe_products(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The dense blocks' share of the per-probe traces (P, components): for a component
        (a, b) of a dense term, x_a'Mz_b (½(x_a'Mz_b + x_b'Mz_a) for a ≠ b) at the block's rows,
        0 for the other components; x, z (N, P)."""
        out = np.zeros((x.shape[1], len(self.components)))
        for c, d, a, b in self._dense_components:
            idx = self.dense_terms[d].indices()
            block = self.dense_terms[d].block
            value = np.einsum("np,np->p", x[idx[a]], block.times(z[idx[b]]))
            if a != b:
                value = 0.5 * (value + np.einsum("np,np->p", x[idx[b]], block.times(z[idx[a]])))
            out[:, c] = value
        return out

    def rinv(self, x: np.ndarray, qs: Sequence[np.ndarray]) -> np.ndarray:
        """R⁻¹x for x (t n,) or (t n, m) in the trait-major layout of W's rows."""
        out = np.zeros_like(x)
        weights = self.model.weights
        _, record_sets = self.model.patterns
        for idx, q, rows in zip(self.flat, qs, record_sets):
            if x.ndim == 1:
                part = x[idx] @ q
                out[idx] = part if weights is None else part * weights[rows][:, None]
            else:
                part = np.einsum("sjm,jl->slm", x[idx], q)
                out[idx] = part if weights is None else part * weights[rows][:, None, None]
        return out

    def rhs(self, qs: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self.wt @ self.rinv(self.model.y_flat, qs))

    def log_det_r(self, vc: VarianceComponents) -> float:
        """log|R| = Σ_P [n_P log|R0[P, P]| - |P| Σ_{i ∈ S_P} log w_i]."""
        trait_sets, _ = self.model.patterns
        return float(sum(
            c * np.linalg.slogdet(vc.r0[np.ix_(tr, tr)])[1] - tr.size * lw
            for c, tr, lw in zip(self.counts, trait_sets, self.log_weights)
        ))

    def traces_from_values(self, values: np.ndarray) -> np.ndarray:
        prod = self.val * values[self.pos]
        sums = np.add.reduceat(prod, self.ptr[:-1]) if prod.size else np.zeros(0)
        sums[self.lengths == 0] = 0.0
        return sums * self.trace_scale

    def component_traces(self, traces: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per pattern the symmetric |P| × |P| matrix τ_P = tr(C⁻¹ M_{P,j,l}), and per term the
        k × k matrix T = tr(K⁻¹ C^{ab}), from the component traces."""
        trait_sets, _ = self.model.patterns
        taus = [np.zeros((tr.size, tr.size)) for tr in trait_sets]
        ts = [np.zeros((term.k, term.k)) for term in self.model.terms]
        for c, value in zip(self.components, traces):
            target = taus[c.group] if c.kind == "residual" else ts[c.group]
            target[c.a, c.b] = target[c.b, c.a] = value
        return taus, ts


def _symmetrised(m: sp.coo_matrix, both: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, c, v = m.row.astype(np.int64), m.col.astype(np.int64), m.data.astype(float)
    if both:
        r, c, v = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])
    return r, c, v


def coefficient_matrix(model: MixedModel, vc: VarianceComponents) -> tuple[sp.csc_matrix, np.ndarray]:
    """C (N × N sparse, both triangles, structural zeros of the pattern kept) and r (N,) at the
    variance components `vc` (every matrix positive definite)."""
    vc.check_inside("coefficient_matrix")
    eq = Equations(model)
    if not all(np.linalg.eigvalsh(m)[0] > 0 for m in vc.matrices):
        raise ConfigError("coefficient_matrix: the covariance matrices must be positive definite.")
    qs = eq.q_matrices(vc)
    return eq.assemble(eq.coefficients(vc)), eq.rhs(qs)
