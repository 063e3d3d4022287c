"""The mixed model: traits, records, fixed effects per trait, random terms and the residual.

For t traits and n records (a record is one row of the phenotype table; some of its traits may
be missing)::

    y_j = X_j b_j + Σ_terms Σ_(e, j) Z_e u_(e, j) + e_j,     j = 1..t,

* X_j: trait j's own fixed effects over the records observing trait j
  (:func:`henderson.design.fixed_design`);
* a random term groups effects that share one relationship K (an animal's direct and maternal
  additive effects share A); its components are (effect, trait) pairs, effect-major, and
  Var(u_term) = G0 ⊗ K with G0 (k × k) over the components. Univariate animal model: k = 1;
  direct + maternal: 2; t traits: t; t traits with a maternal effect: 2t. Permanent environment,
  litter and other iid effects are terms with K = I;
* the residuals of record i have covariance R0[O_i, O_i] / w_i for its observed traits O_i and
  record weight w_i (1 without weights): missing values are neither imputed nor dropped.

Unknowns are ordered: the fixed effects of trait 1, …, trait t, then for each term its
components in order, each with the term's q levels. W (t n × N, rows trait-major: row j n + i is
record i, trait j, empty where missing) is the design of every observed value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from henderson.covariance import RESIDUAL, Layout, TermLayout
from henderson.design import FixedDesign, RandomEffect, fixed_design
from henderson.errors import ConfigError, InputError
from henderson.relationship import Relationship

__all__ = ["MixedModel", "RandomTerm", "build_model"]


@dataclass(frozen=True, eq=False)
class RandomTerm:
    """Effects sharing one relationship K: incidence (n × q, CSR) per effect, and the components
    (effect index, trait index) the term has (all pairs, or fewer after components were fixed at
    zero)."""

    layout: TermLayout
    incidence: tuple[sp.csr_matrix, ...]
    relationship: Relationship

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def effects(self) -> tuple[str, ...]:
        return self.layout.effects

    @property
    def components(self) -> tuple[tuple[int, int], ...]:
        return self.layout.components

    @property
    def k(self) -> int:
        return self.layout.k

    @property
    def q(self) -> int:
        return self.relationship.q


@dataclass(frozen=True, eq=False)
class MixedModel:
    """The data side of the mixed model equations (module docstring), independent of the
    variances. y (n × t, NaN = missing); fixed[j] is X_j over the records ``fixed_rows[j]``;
    weights (n,) or None; record_ids (n,): the ID of each record's animal (for messages)."""

    traits: tuple[str, ...]
    y: np.ndarray
    fixed: tuple[FixedDesign, ...]
    fixed_rows: tuple[np.ndarray, ...]
    terms: tuple[RandomTerm, ...]
    weights: np.ndarray | None = None
    record_ids: np.ndarray | None = None

    @property
    def n_records(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_traits(self) -> int:
        return len(self.traits)

    @cached_property
    def observed(self) -> np.ndarray:
        return ~np.isnan(self.y)

    @property
    def n_observed(self) -> int:
        return int(self.observed.sum())

    @property
    def n_fixed(self) -> int:
        return int(sum(f.n_columns for f in self.fixed))

    @cached_property
    def layout(self) -> Layout:
        return Layout(self.traits, tuple(term.layout for term in self.terms))

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start of every block of unknowns: fixed effects of each trait, then every component of
        every term; the last entry is the number of unknowns N."""
        sizes = [f.n_columns for f in self.fixed]
        for term in self.terms:
            sizes.extend([term.q] * term.k)
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_unknowns(self) -> int:
        return int(self.offsets[-1])

    def block(self, term: int, component: int) -> tuple[int, int]:
        """[lo, hi) of the unknowns of component `component` of term `term`."""
        b = self.n_traits + sum(t.k for t in self.terms[:term]) + component
        return int(self.offsets[b]), int(self.offsets[b + 1])

    @cached_property
    def patterns(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """(trait sets, record sets): the distinct sets of observed traits (ascending bit code)
        and the records with each."""
        t = self.n_traits
        codes = self.observed.astype(np.int64) @ (1 << np.arange(t, dtype=np.int64))
        traits, rows = [], []
        for code in np.unique(codes):
            traits.append(np.flatnonzero((int(code) >> np.arange(t)) & 1).astype(np.int64))
            rows.append(np.flatnonzero(codes == code))
        return tuple(traits), tuple(rows)

    @cached_property
    def w(self) -> sp.csr_matrix:
        """W (t n × N, CSR), rows trait-major, columns in unknown order."""
        n, t = self.n_records, self.n_traits
        off = self.offsets
        rows, cols, vals = [], [], []
        for j in range(t):
            x = sp.coo_matrix(self.fixed[j].matrix)
            rows.append(j * n + self.fixed_rows[j][x.row])
            cols.append(off[j] + x.col.astype(np.int64))
            vals.append(x.data)
        for m, term in enumerate(self.terms):
            coo = [sp.coo_matrix(z) for z in term.incidence]
            for c, (e, j) in enumerate(term.components):
                z = coo[e]
                keep = self.observed[z.row, j]
                lo, _ = self.block(m, c)
                rows.append(j * n + z.row[keep].astype(np.int64))
                cols.append(lo + z.col[keep].astype(np.int64))
                vals.append(z.data[keep])
        w = sp.csr_matrix(
            (np.concatenate(vals).astype(float), (np.concatenate(rows), np.concatenate(cols))),
            shape=(t * n, self.n_unknowns),
        )
        w.sum_duplicates()
        return w

    @cached_property
    def y_flat(self) -> np.ndarray:
        """y in the trait-major layout of W's rows, 0 where missing."""
        return np.nan_to_num(self.y, nan=0.0).T.reshape(-1)

    def without(self, drops: Mapping[int, Sequence[int]]) -> MixedModel:
        """The model with components fixed at zero removed: `drops` maps a term index to the
        indices of its components to drop (a term left without components is removed)."""
        terms = []
        for m, term in enumerate(self.terms):
            gone = set(drops.get(m, ()))
            kept = tuple(c for i, c in enumerate(term.components) if i not in gone)
            if not kept:
                continue
            layout = TermLayout(term.name, term.effects, term.layout.types, kept)
            terms.append(RandomTerm(layout, term.incidence, term.relationship))
        return MixedModel(self.traits, self.y, self.fixed, self.fixed_rows, tuple(terms), self.weights, self.record_ids)


    def trait_model(self, j: int) -> MixedModel:
        """Trait j alone: its records, its fixed effects and the components of every term on it
        (a univariate model, t = 1)."""
        rows = self.fixed_rows[j]
        terms = []
        for term in self.terms:
            kept = tuple((e, 0) for e, tj in term.components if tj == j)
            if not kept:
                continue
            layout = TermLayout(term.name, term.effects, term.layout.types, kept)
            incidence = tuple(sp.csr_matrix(z[rows]) for z in term.incidence)
            terms.append(RandomTerm(layout, incidence, term.relationship))
        return MixedModel(
            (self.traits[j],),
            self.y[rows][:, [j]],
            (self.fixed[j],),
            (np.arange(rows.size),),
            tuple(terms),
            None if self.weights is None else self.weights[rows],
            None if self.record_ids is None else self.record_ids[rows],
        )


def build_model(
    records: pd.DataFrame,
    traits: Sequence[str],
    fixed: Mapping[str, tuple[Sequence[str], Sequence[str]]] | tuple[Sequence[str], Sequence[str]],
    terms: Sequence[RandomEffect | Sequence[RandomEffect]] = (),
    *,
    weights: np.ndarray | None = None,
    id_column: str | None = None,
) -> MixedModel:
    """The mixed model of `records`.

    Args:
        records: one row per record with the trait and effect columns; every row observes at
            least one trait.
        traits: trait columns (float, NaN = missing), t ≥ 1, distinct.
        fixed: (class effect columns, covariate columns), shared by every trait or per trait; X_j
            is built from trait j's records by :func:`henderson.design.fixed_design`.
        terms: random terms; each one effect or effects that share one relationship (direct and
            maternal); every term gets a component per (effect, trait).
        weights: record weights (n,), positive; residual covariance R0 / w_i.
        id_column: the column whose value names a record in messages.

    Raises:
        ConfigError: a trait or effect that is unknown, repeated or misnamed.
        InputError: non-numeric or infinite trait values, a row without any observed trait, a
            trait without records, a missing covariate or class level on a record of its trait.
    """
    traits = tuple(str(t) for t in traits)
    if not traits:
        raise ConfigError("a model needs at least one trait.")
    if len(set(traits)) != len(traits):
        raise ConfigError(f"traits {list(traits)} are listed more than once; list each trait once.")
    missing = [t for t in traits if t not in records.columns]
    if missing:
        raise ConfigError(f"traits {missing} are not columns of the phenotype table; its columns are {list(records.columns)}.")
    if isinstance(fixed, tuple):
        fixed = {t: fixed for t in traits}
    unknown = sorted(set(fixed) - set(traits))
    if unknown:
        raise ConfigError(f"fixed effects are given for {unknown}, which are not traits of the model {list(traits)}.")
    absent = [t for t in traits if t not in fixed]
    if absent:
        raise ConfigError(f"no fixed effects given for trait(s) {absent}; give (class effects, covariates) for every trait.")
    n = len(records)
    groups = [[t] if isinstance(t, RandomEffect) else list(t) for t in terms]
    names = [e.name for g in groups for e in g]
    if len(set(names)) != len(names) or RESIDUAL in names:
        raise ConfigError(f"random effect names {names} must be distinct and not {RESIDUAL!r}.")
    built = []
    for group in groups:
        rel = group[0].relationship
        for e in group:
            if e.incidence.shape[0] != n:
                raise ValueError(f"Z of random effect {e.name!r} has {e.incidence.shape[0]} rows for {n} records.")
            if e.relationship is not rel and not np.array_equal(e.relationship.levels, rel.levels):
                raise ConfigError(f"effects {[x.name for x in group]} of one term must share their levels.")
        components = tuple((e, j) for e in range(len(group)) for j in range(len(traits)))
        layout = TermLayout(group[0].name, tuple(e.name for e in group), tuple(e.type for e in group), components)
        built.append(RandomTerm(layout, tuple(sp.csr_matrix(e.incidence) for e in group), rel))

    y = _trait_values(records, traits)
    observed = ~np.isnan(y)
    none = np.flatnonzero(~observed.any(axis=1))
    if none.size:
        raise InputError(
            f"{none.size} row(s) have no observed trait (first: row {records.index[none[0]]}); drop the rows "
            f"without any of {list(traits)} before building the model."
        )
    designs, rows_of = [], []
    for j, t in enumerate(traits):
        rows = np.flatnonzero(observed[:, j])
        if rows.size == 0:
            raise InputError(f"trait {t} has no records; remove it from the model.")
        classes, covariates = (tuple(c) for c in fixed[t])
        cols = [c for c in (*classes, *covariates) if c not in records.columns]
        if cols:
            raise ConfigError(f"trait {t}: fixed effect columns {cols} are not in the phenotype table.")
        sub = records.iloc[rows]
        _check_fixed_values(sub, t, classes, covariates)
        designs.append(fixed_design(sub, classes, covariates))
        rows_of.append(rows)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (n,) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise InputError("record weights must be positive and finite, one per record.")
    ids = records[id_column].astype(str).to_numpy(dtype=object) if id_column in records.columns else None
    return MixedModel(traits, y, tuple(designs), tuple(rows_of), tuple(built), weights, ids)


def _trait_values(records: pd.DataFrame, traits: tuple[str, ...]) -> np.ndarray:
    y = np.empty((len(records), len(traits)))
    for j, t in enumerate(traits):
        values = pd.to_numeric(records[t], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & records[t].notna().to_numpy())
        if bad.size:
            raise InputError(
                f"trait {t}: the value {records[t].iloc[bad[0]]!r} in row {records.index[bad[0]]} is not a "
                "number; correct it or leave the cell empty for a missing record."
            )
        y[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
    if np.any(np.isinf(y)):
        i, j = np.argwhere(np.isinf(y))[0]
        raise InputError(f"trait {traits[j]}: row {records.index[i]} has an infinite value; correct or remove it.")
    return y


def _check_fixed_values(sub: pd.DataFrame, trait: str, classes: tuple[str, ...], covariates: tuple[str, ...]) -> None:
    for c in covariates:
        values = pd.to_numeric(sub[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all(np.isfinite(values)):
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(
                f"trait {trait}: covariate {c} is missing or not a number in row {sub.index[i]}, a record of "
                "this trait; fill it in or set the trait missing on that record."
            )
    for c in classes:
        if sub[c].isna().any():
            i = int(np.flatnonzero(sub[c].isna().to_numpy())[0])
            raise InputError(
                f"trait {trait}: class effect {c} is missing in row {sub.index[i]}, a record of this trait; fill "
                "it in or set the trait missing on that record."
            )
