"""Sparse design matrices X (fixed effects) and Z (random effects) from a model's records.

Parameterisation of the fixed part (as in Mrode and BLUPF90):

* With at least one class effect, no separate intercept is fitted and the first class effect
  carries all its levels. With none, an intercept (effect ``mean``) is fitted.
* Each further class effect k loses one level per connected component of the graph whose nodes
  are the levels of class effects 1..k and whose edges join the levels that occur together in a
  record: in each component, the first level of effect k (levels in sorted order, numerically when
  all are integers) is set to zero. For two class effects this removes exactly the redundant
  columns; any dependency left over (rare, e.g. a covariate that is constant within a class) is
  reported as an error naming the effect.
* Covariates are fitted on their raw values, one column each.
* The label ``mean`` (:data:`INTERCEPT`) is reserved for the intercept: no class effect, covariate
  or random effect may be named ``mean``, and a random effect may not share its name with a
  fixed effect or covariate (:func:`check_labels`), so that (trait, effect, level) names one row
  of the solutions.

Zeroed levels are reported with estimate 0 and no standard error. Estimable functions, BLUPs and
EBVs do not depend on which levels are zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.columns import INTERCEPT, check_labels
from henderson.errors import InputError, NumericalError
from henderson.relationship import Relationship, identity_relationship


def sorted_levels(values: pd.Series) -> np.ndarray:
    """Distinct labels of a class column: numeric order when all are integers, else text order."""
    unique = pd.unique(values.astype(str))
    try:
        keys = np.array([int(v) for v in unique])
    except ValueError:
        return np.array(sorted(unique), dtype=object)
    return np.asarray(unique, dtype=object)[np.argsort(keys, kind="stable")]


def _codes(values: pd.Series, levels: np.ndarray) -> np.ndarray:
    index = pd.Index(levels)
    codes = index.get_indexer(values.astype(str))
    return codes.astype(np.int64)


def _indicator(codes: np.ndarray, n_levels: int) -> sp.csc_matrix:
    n = len(codes)
    return sp.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_levels))


@dataclass(frozen=True)
class FixedDesign:
    """Fixed-effect design.

    matrix: n × p sparse X of the estimable columns only; effect, level: labels of all p_all
    columns (including zeroed ones); kept: bool mask (p_all,) of the columns in `matrix`.
    """

    matrix: sp.csc_matrix
    effect: np.ndarray
    level: np.ndarray
    kept: np.ndarray

    @property
    def n_columns(self) -> int:
        return int(self.matrix.shape[1])


def fixed_design(records: pd.DataFrame, fixed: tuple[str, ...], covariates: tuple[str, ...]) -> FixedDesign:
    """Build X for class effects `fixed` and `covariates` (see module docstring for the rule).
    A class effect or covariate named ``mean`` is a :class:`ConfigError` (:func:`check_labels`)."""
    check_labels(fixed, covariates, (), where="fixed effects")
    n = len(records)
    blocks: list[sp.csc_matrix] = []
    effects: list[np.ndarray] = []
    levels: list[np.ndarray] = []
    kept: list[np.ndarray] = []
    if not fixed:
        blocks.append(sp.csc_matrix(np.ones((n, 1))))
        effects.append(np.array([INTERCEPT], dtype=object))
        levels.append(np.array([INTERCEPT], dtype=object))
        kept.append(np.array([True]))
    offset = 0
    graph_codes: list[np.ndarray] = []
    for k, name in enumerate(fixed):
        labels = sorted_levels(records[name])
        codes = _codes(records[name], labels)
        keep = np.ones(len(labels), dtype=bool)
        graph_codes.append(codes + offset)
        offset += len(labels)
        if k > 0:
            keep[_redundant_levels(graph_codes, offset, codes, len(labels))] = False
        blocks.append(_indicator(codes, len(labels)))
        effects.append(np.full(len(labels), name, dtype=object))
        levels.append(labels)
        kept.append(keep)
    for name in covariates:
        values = records[name].to_numpy(dtype=float)
        blocks.append(sp.csc_matrix(values.reshape(-1, 1)))
        effects.append(np.array([name], dtype=object))
        levels.append(np.array([name], dtype=object))
        kept.append(np.array([True]))
    full = sp.hstack(blocks, format="csc") if blocks else sp.csc_matrix((n, 0))
    mask = np.concatenate(kept) if kept else np.zeros(0, dtype=bool)
    design = FixedDesign(
        matrix=sp.csc_matrix(full[:, np.flatnonzero(mask)]),
        effect=np.concatenate(effects) if effects else np.zeros(0, dtype=object),
        level=np.concatenate(levels) if levels else np.zeros(0, dtype=object),
        kept=mask,
    )
    _check_full_rank(design)
    return design


def _redundant_levels(graph_codes: list[np.ndarray], n_nodes: int, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Levels of the newest class effect to zero: the first of them in each connected component."""
    # imported here: scipy.sparse.csgraph loads scipy.sparse.linalg and scipy.linalg, which the
    # modules importing `design` for its names only (the cleaning rules) do not need
    from scipy.sparse.csgraph import connected_components

    first = graph_codes[0]
    rows = np.concatenate([first for _ in graph_codes[1:]])
    cols = np.concatenate(graph_codes[1:])
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes))
    _, component = connected_components(graph, directed=False)
    start = n_nodes - n_levels
    comp_of_level = component[start:]
    present = np.zeros(n_levels, dtype=bool)
    present[codes] = True
    out = []
    seen: set[int] = set()
    for level in range(n_levels):
        c = int(comp_of_level[level])
        if present[level] and c not in seen:
            seen.add(c)
            out.append(level)
    return np.array(out, dtype=np.int64)


def _check_full_rank(design: FixedDesign) -> None:
    """X must have full column rank after the rule; otherwise name the first dependent column."""
    x = design.matrix
    if x.shape[1] == 0:
        return
    xtx = (x.T @ x).toarray() if x.shape[1] <= 3000 else None
    if xtx is None:
        from henderson.linalg import SparseCholesky

        try:
            SparseCholesky(x.T @ x).factorize(x.T @ x)
        except NumericalError as exc:
            raise NumericalError(f"the fixed effects are confounded ({exc}); simplify the fixed part.") from exc
        return
    scale = np.sqrt(np.maximum(np.diag(xtx), 1e-300))
    xtx = xtx / scale[:, None] / scale[None, :]
    eff = design.effect[design.kept]
    lev = design.level[design.kept]
    if np.any(np.diag(xtx) <= 0):
        j = int(np.flatnonzero(np.diag(xtx) <= 0)[0])
        raise InputError(f"fixed effect {eff[j]} level {lev[j]} has no records.")
    if _is_positive_definite(xtx):
        return
    # The first leading block that is singular ends at a column that is a linear combination of
    # the columns before it (bisection over leading blocks; singularity is monotone in j).
    lo, hi = 1, xtx.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if _is_positive_definite(xtx[:mid, :mid]):
            lo = mid + 1
        else:
            hi = mid
    raise NumericalError(
        f"the fixed effects are confounded: {eff[lo - 1]} ({lev[lo - 1]}) is a linear combination "
        "of the effects before it. Remove or merge that effect (e.g. a covariate that is constant "
        "within a class, or class effects that nest each other)."
    )


def _is_positive_definite(matrix: np.ndarray, rtol: float = 1e-10) -> bool:
    """Cholesky succeeds and no pivot is negligible relative to the (unit) diagonal."""
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return bool(np.min(np.diag(factor)) ** 2 > rtol)


@dataclass(frozen=True, eq=False)
class RandomEffect:
    """One random effect on the records: incidence Z (n × q, CSR; a zero row where the record
    has no level, e.g. an unknown dam) and the relationship K of its q levels."""

    name: str
    type: str
    incidence: sp.csr_matrix
    relationship: Relationship

    @property
    def levels(self) -> np.ndarray:
        return self.relationship.levels


def _mapped(name: str, what: str, values: pd.Series, levels: np.ndarray) -> sp.csr_matrix:
    """Incidence of `values` (n,) on `levels` (q,); missing values (None/NaN/"") give zero rows,
    values not among the levels are an InputError naming them."""
    text = values.astype(object)
    known = text.notna().to_numpy() & (text.astype(str) != "").to_numpy()
    codes = pd.Index(levels).get_indexer(text[known].astype(str))
    if np.any(codes < 0):
        missing = sorted(set(text[known].astype(str)[codes < 0]))[:10]
        raise InputError(
            f"random effect {name}: {what} of records are not in the cleaned pedigree: {missing}; rerun the "
            "clean stage."
        )
    rows = np.flatnonzero(known)
    return sp.csr_matrix((np.ones(rows.size), (rows, codes)), shape=(len(values), len(levels)))


def additive_effect(name: str, ids: pd.Series, relationship: Relationship) -> RandomEffect:
    """Z maps each record to its animal among the relationship's levels (all pedigree animals)."""
    return RandomEffect(name, "additive", _mapped(name, "animals", ids, relationship.levels), relationship)


def maternal_effect(name: str, dams: pd.Series, relationship: Relationship) -> RandomEffect:
    """Z of a maternal genetic effect: each record points to its dam among the pedigree animals;
    a record whose dam is unknown (missing) has a zero row."""
    return RandomEffect(name, "maternal", _mapped(name, "dams", dams, relationship.levels), relationship)


def iid_effect(name: str, values: pd.Series) -> RandomEffect:
    """Independent levels (q = distinct values among the records, K = I); a missing value gives
    the record no level of this effect."""
    present = values[values.notna() & (values.astype(str) != "")]
    labels = sorted_levels(present)
    return RandomEffect(name, "iid", _mapped(name, "levels", values, labels), identity_relationship(labels))
