"""Approximate PEV and reliabilities without inverting the coefficient matrix: effective record
contributions propagated through the pedigree (after Misztal & Wiggans 1988, VanRaden & Wiggans
1991 and, for several traits and effects within an animal, Tier & Meyer 2004).

For a random term with k components (effect e, trait j) and G0 (k × k), in three steps:

1. Own information, k × k per level i. The diagonal of Z_e'WZ_e over trait j's records (W the
   record weights), ``raw_ic``, is reduced by absorbing, one factor at a time, every other effect
   of the record on trait j: each column l of X_j (fixed, κ_l = 0), the levels of every iid term
   and of the term's other effects (e.g. the maternal effect for the direct one; κ_l =
   R0_jj / σ²_l). With n_il = (Z_e'WF)_il the records of i in level l and n_l = (F'WF)_ll all of
   them, level l keeps ``n_il ((n_l − n_il)ρ_l + κ_l) / (n_il + (n_l − n_il)ρ_l + κ_l)`` of i's
   information: the level's value is estimated from the other records, each as good as
   ρ_l = R0_jj / (R0_jj + P̄_l) with P̄_l the mean PEV of their own component c (from a first
   pass with ρ = 1, the classical absorption n_il − n_il²/(n_l + κ_l): 1 − 1/n for one record
   in a contemporary group of n; n κ/(n + κ) for n repeated records with a permanent
   environment). For a fixed factor this is multiplied by (1 − ā_il)², ā_il = ¼ (n_sl + n_dl −
   2n_il)/(n_l − n_il) the mean relationship of i with the other records through its sire s and
   dam d (n_pl: the records of p's progeny in l): the level's estimate carries that share of
   a_i. The factors are taken one after the other, each removing its share of what the others
   left: φ_ic = Π_F (kept_F,ic / raw_ic), and::

       R_i[c, c'] = √(φ_ic φ_ic') Σ_r w_r z_(e,r,i) z_(e',r,i) Q_r[j, j'],   Q_r = R0[O_r, O_r]⁻¹

   (O_r the traits observed on record r). Towards a parent p (step 2) n_pl takes the place of
   n_il but for the first factor, ``n_il ((n_l − n_pl)ρ_l + κ_l) / (n_pl + (n_l − n_pl)ρ_l +
   κ_l)``: a group's mean takes the share of the group that p's progeny hold
   (all of it when a sire's daughters are a contemporary group on their own).
2. Upward, youngest first: U_i = R_i + Σ_o M_(o→i) over the progeny o of i (U_o with o's own
   information towards i in the message). Progeny o of
   parents i and m gives u_o = ½u_i + ε, Var ε = V = b_o G0 + ¼P_m (P_m: the mate's prior
   (1 + F_m)G0 in the first round, the default; with `rounds` = 2 a second round takes the mate's
   approximate PEV without o from the first; 0 for an unknown mate), hence ``M = ¼ (U_o⁻¹ + V)⁻¹ = ¼ [V⁻¹ − V⁻¹(U_o + V⁻¹)⁻¹V⁻¹]`` (u_o = u_i + ε and no ¼
   for a selfed o).
3. Downward, oldest first: T_i = U_i + Π_i, the parents' information
   ``Π_i = [b_i G0 + ¼P_s + ¼P_d + F_i (P_s/(1+F_s) + P_d/(1+F_d))/2]⁻¹`` with
   P_p = (T_p − M_(i→p))⁻¹, the parent's PEV without i (the last term: the parents' prediction
   error covariance, taken as their prior covariance 2F_i G0 scaled by their remaining PEV).
   Founders: Π_i = G0⁻¹. PEV_i ≈ T_i⁻¹ and ``reliability = 1 − PEV_cc / (G0_cc (1 + F_i))``.

Exact (Gaussian belief propagation on a tree) for a sire with n daughters of unknown dams, one
record each, without fixed effects: reliability n/(n + (4 − h²)/h²); an animal without
information gets the parent-average reliability (r_s + r_d)/4. Ignored: the covariances between
animals that step 1 absorbs beyond ρ_l and ā_il, prediction error covariances between relatives
other than the two parents of one animal, loops of the pedigree beyond one round trip,
covariates (each absorbed alone), and between effects of a term only the within-animal part (a
record links the direct effect of the calf with the maternal effect of its dam, which is
ignored). Terms with K = I are steps 1 and 3 with Π = G0⁻¹. Fixed effects get no PEV (NaN).

Fixed unknown parent groups: the animals follow the grouped pedigree, a group standing for an
unknown parent (:func:`henderson.reliability.links.term_links`); the error of the group
estimates, which the animals' solutions (a + Qĝ) carry, is ignored like that of the other fixed
effects, and the group levels get no PEV (NaN). Random groups, metafounders and genomic
relationships have no approximation here (an error says so).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from henderson.covariance import VarianceComponents
from henderson.model import MixedModel
from henderson.reliability.links import (
    PedigreeLinks,
    is_genomic,
    pilot_links,
    term_links,
)

__all__ = ["approximate_inverse_diagonal", "own_information", "prior_variances", "propagate"]


def _factors(model: MixedModel, vc: VarianceComponents, m: int, c: int) -> list[tuple[sp.csr_matrix, float]]:
    """(F over trait j's records, κ) of every factor absorbed for component c of term m."""
    term = model.terms[m]
    e, j = term.components[c]
    rows = model.fixed_rows[j]
    r_jj = float(vc.r0[j, j])
    out = [(sp.csr_matrix(model.fixed[j].matrix), 0.0)]
    for mm, (other, g0) in enumerate(zip(model.terms, vc.g0)):
        for cc, (ee, jj) in enumerate(other.components):
            if jj != j or (mm == m and ee == e) or not g0[cc, cc] > 0:
                continue
            out.append((sp.csr_matrix(other.incidence[ee][rows]), r_jj / float(g0[cc, cc])))
    return out


def own_information(model: MixedModel, vc: VarianceComponents, m: int, links: PedigreeLinks | None = None,
                    pev: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R_i, R_i towards the sire, R_i towards the dam), each (q, k, k), of term m: step 1 of
    the module docstring (without `links` the three are equal); `pev` (q, k): the term's PEV
    from a first pass, for the uncertainty of the level mates' own values (ρ_l; 1 when None)."""
    term = model.terms[m]
    q, k, n = term.q, term.k, model.n_records
    weights = np.ones(n) if model.weights is None else model.weights
    parents = [] if links is None else [links.sire, links.dam]
    phi = np.zeros((1 + len(parents), q, k))
    for c, (e, j) in enumerate(term.components):
        rows = model.fixed_rows[j]
        w = weights[rows]
        z = sp.csr_matrix(term.incidence[e][rows])
        raw = np.asarray(z.multiply(z).T @ w).ravel()
        kept = np.repeat((raw > 0).astype(float)[None], phi.shape[0], axis=0)
        pev_r = None if pev is None else np.asarray(z @ pev[:, c]).ravel()
        for f, kappa in _factors(model, vc, m, c):
            coo = sp.coo_matrix(z.T @ (sp.diags(w) @ f))
            coo.sum_duplicates()
            i, lv, a = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
            ff = sp.csr_matrix(f.multiply(f))
            n_l = np.asarray(ff.T @ w).ravel()
            rho = np.ones_like(n_l)
            if pev_r is not None:
                mean_pev = np.divide(np.asarray(ff.T @ (w * pev_r)).ravel(), n_l, out=np.zeros_like(n_l),
                                     where=n_l > 0)
                rho = vc.r0[j, j] / (vc.r0[j, j] + mean_pev)
            held = [a]  # records of i in l; then of all progeny of i's sire, of its dam
            for par in parents:
                known = par[i] >= 0
                by_parent = sp.coo_matrix((a[known], (par[i][known], lv[known])), shape=(q, f.shape[1])).tocsr()
                by_parent.sum_duplicates()
                held.append(np.where(known, np.asarray(by_parent[np.maximum(par[i], 0), lv]).ravel(), a))
            for side, share in enumerate(held):
                den = share + (n_l[lv] - share) * rho[lv] + kappa
                left = a - np.divide(a * share, den, out=np.zeros_like(a), where=den > 0)
                if side == 0 and parents and kappa == 0.0:
                    others = np.maximum(n_l[lv] - a, 1e-300)
                    sib = 0.25 * ((held[1] - a) + (held[2] - a)) / others
                    left = left * (1.0 - np.clip(sib, 0.0, 1.0)) ** 2
                red = np.bincount(i, weights=a - left, minlength=q)
                kept[side] *= np.clip(1.0 - np.divide(red, raw, out=np.zeros(q), where=raw > 0), 0.0, 1.0)
        phi[:, :, c] = kept
    # Σ_r w_r Q_r[j, j'] per record for every pair of traits (0 where either is missing)
    t = model.n_traits
    g = np.zeros((n, t, t))
    for traits, records in zip(*model.patterns):
        qp = np.linalg.inv(vc.r0[np.ix_(traits, traits)])
        g[np.ix_(records, traits, traits)] = weights[records, None, None] * qp[None]
    out = np.zeros((phi.shape[0], q, k, k))
    zs = [sp.csr_matrix(z) for z in term.incidence]
    for c, (e, j) in enumerate(term.components):
        for cc in range(c, k):
            ee, jj = term.components[cc]
            both = np.asarray(sp.csr_matrix(zs[e].multiply(zs[ee])).T @ g[:, j, jj]).ravel()
            value = both[None] * np.sqrt(phi[:, :, c] * phi[:, :, cc])
            out[:, :, c, cc] = out[:, :, cc, c] = value
    return (out[0], out[0], out[0]) if links is None else (out[0], out[1], out[2])


@numba.njit(cache=True)
def _inv(a, out, work):  # pragma: no cover - compiled
    """out = a⁻¹ (k × k, nonsingular) by Gauss–Jordan with partial pivoting; work: k × 2k."""
    k = a.shape[0]
    if k == 1:
        out[0, 0] = 1.0 / a[0, 0]
        return
    for r in range(k):
        for c in range(k):
            work[r, c] = a[r, c]
            work[r, k + c] = 1.0 if r == c else 0.0
    for col in range(k):
        piv = col
        for r in range(col + 1, k):
            if abs(work[r, col]) > abs(work[piv, col]):
                piv = r
        if piv != col:
            for c in range(2 * k):
                work[col, c], work[piv, c] = work[piv, c], work[col, c]
        d = work[col, col]
        for c in range(2 * k):
            work[col, c] /= d
        for r in range(k):
            if r != col:
                f = work[r, col]
                if f != 0.0:
                    for c in range(2 * k):
                        work[r, c] -= f * work[col, c]
    for r in range(k):
        for c in range(k):
            out[r, c] = work[r, k + c]


@numba.njit(cache=True)
def _message(u_o, v, factor, out, vinv, tmp, tmp2, work):  # pragma: no cover - compiled
    """out = factor (U_o⁻¹ + V)⁻¹ = factor [V⁻¹ − V⁻¹(U_o + V⁻¹)⁻¹V⁻¹] (U_o may be singular);
    loops instead of array expressions: no allocation per animal."""
    k = v.shape[0]
    _inv(v, vinv, work)
    for r in range(k):
        for c in range(k):
            tmp[r, c] = u_o[r, c] + vinv[r, c]
    _inv(tmp, tmp2, work)
    for r in range(k):  # tmp = (U_o + V⁻¹)⁻¹ V⁻¹
        for c in range(k):
            acc = 0.0
            for x in range(k):
                acc += tmp2[r, x] * vinv[x, c]
            tmp[r, c] = acc
    for r in range(k):
        for c in range(k):
            acc = 0.0
            for x in range(k):
                acc += vinv[r, x] * tmp[x, c]
            out[r, c] = factor * (vinv[r, c] - acc)


@numba.njit(cache=True)
def _lin(out, a, x, b, y, c, z):  # pragma: no cover - compiled
    """out = a x + b y + c z for k × k x, y, z (in place, no allocation)."""
    k = out.shape[0]
    for r in range(k):
        for col in range(k):
            out[r, col] = a * x[r, col] + b * y[r, col] + c * z[r, col]


@numba.njit(cache=True)
def _propagate(own, own_s, own_d, g0, sire, dam, b, f, rounds):  # pragma: no cover - compiled
    q, k = own.shape[0], own.shape[1]
    up = np.empty_like(own)
    total = np.zeros_like(own)
    to_sire = np.zeros_like(own)
    to_dam = np.zeros_like(own)
    v = np.empty((k, k))
    vinv = np.empty((k, k))
    tmp = np.empty((k, k))
    tmp2 = np.empty((k, k))
    msg = np.empty((k, k))
    toward = np.empty((k, k))
    p_s = np.zeros((k, k))
    p_d = np.zeros((k, k))
    zero = np.zeros((k, k))
    work = np.empty((k, 2 * k))
    for rnd in range(rounds):
        up[:] = own
        for o in range(q - 1, -1, -1):
            s, d = sire[o], dam[o]
            if s >= 0 and s == d:
                _lin(v, b[o], g0, 0.0, zero, 0.0, zero)
                _lin(toward, 1.0, up[o], -1.0, own[o], 1.0, own_s[o])
                _message(toward, v, 1.0, msg, vinv, tmp, tmp2, work)
                to_sire[o] = msg
                up[s] += msg
                continue
            # the mates' PEV without o (prior in the first round), before o's messages change
            for side in range(2):
                mate = d if side == 0 else s
                target = p_d if side == 0 else p_s
                if mate < 0:
                    target[:, :] = 0.0
                elif rnd == 0:
                    _lin(target, 1.0 + f[mate], g0, 0.0, zero, 0.0, zero)
                else:
                    _lin(tmp, 1.0, total[mate], -1.0, to_dam[o] if side == 0 else to_sire[o], 0.0, zero)
                    _inv(tmp, target, work)
            for side in range(2):
                parent = s if side == 0 else d
                if parent < 0:
                    continue
                _lin(v, b[o], g0, 0.25, p_d if side == 0 else p_s, 0.0, zero)
                _lin(toward, 1.0, up[o], -1.0, own[o], 1.0, own_s[o] if side == 0 else own_d[o])
                _message(toward, v, 0.25, msg, vinv, tmp, tmp2, work)
                if side == 0:
                    to_sire[o] = msg
                else:
                    to_dam[o] = msg
                _lin(up[parent], 1.0, up[parent], 1.0, msg, 0.0, zero)
        for i in range(q):
            s, d = sire[i], dam[i]
            _lin(v, b[i], g0, 0.0, zero, 0.0, zero)
            if s >= 0 and s == d:
                _lin(tmp, 1.0, total[s], -1.0, to_sire[i], 0.0, zero)
                _inv(tmp, p_s, work)
                _lin(v, 1.0, v, 1.0, p_s, 0.0, zero)
            else:
                if s >= 0:
                    _lin(tmp, 1.0, total[s], -1.0, to_sire[i], 0.0, zero)
                    _inv(tmp, p_s, work)
                    _lin(v, 1.0, v, 0.25, p_s, 0.0, zero)
                if d >= 0:
                    _lin(tmp, 1.0, total[d], -1.0, to_dam[i], 0.0, zero)
                    _inv(tmp, p_d, work)
                    _lin(v, 1.0, v, 0.25, p_d, 0.0, zero)
                if s >= 0 and d >= 0 and f[i] > 0.0:
                    # the parents' prediction error covariance: prior 2F_i G0 scaled by their remaining PEV
                    _lin(v, 1.0, v, 0.5 * f[i] / (1.0 + f[s]), p_s, 0.5 * f[i] / (1.0 + f[d]), p_d)
            _inv(v, tmp, work)
            _lin(total[i], 1.0, up[i], 1.0, tmp, 0.0, zero)
    pev = np.empty((q, k))
    for i in range(q):
        _inv(total[i], tmp, work)
        for c in range(k):
            pev[i, c] = tmp[c, c]
    return pev


def propagate(own: tuple[np.ndarray, np.ndarray, np.ndarray], g0: np.ndarray, links: PedigreeLinks | None,
              rounds: int = 1) -> np.ndarray:
    """Approximate PEV (q, k) from the own information `own` (:func:`own_information`) of a term
    with G0 `g0` (k × k): steps 2–3 of the module docstring through `links` (None: K = I,
    Π = G0⁻¹); `rounds` > 1 repeats them with the mates' PEV of the previous round."""
    q = own[0].shape[0]
    g0 = np.ascontiguousarray(g0, dtype=float)
    if links is None:
        none = np.full(q, -1, np.int64)
        sire, dam, b, f = none, none, np.ones(q), np.zeros(q)
        rounds = 1
    else:
        sire, dam, b, f = links.sire, links.dam, links.b, links.f
    arrays = [np.ascontiguousarray(x, dtype=float) for x in own]
    return _propagate(*arrays, g0, sire, dam, b, f, int(rounds))


def prior_variances(model: MixedModel, vc: VarianceComponents) -> np.ndarray:
    """G0_cc diag(K)_i for every random unknown (N,), NaN for the fixed effects: the PEV of a
    level without information; reliability = 1 − PEV / prior."""
    out = np.full(model.n_unknowns, np.nan)
    for m, (term, g0) in enumerate(zip(model.terms, vc.g0)):
        for c in range(term.k):
            lo, hi = model.block(m, c)
            out[lo:hi] = g0[c, c] * term.relationship.diagonal
    return out


def approximate_inverse_diagonal(model: MixedModel, vc: VarianceComponents, rounds: int = 1, mates: bool = True,
                                 *, genomic_pilot: bool = False) -> np.ndarray:
    """Approximate diag(C⁻¹) (N,) of `model` at `vc` (module docstring): PEV for every random
    component, NaN for the fixed effects. `mates`: a second pass with the group mates' PEV of
    the first (ρ_l); False: the classical absorption alone. `rounds`: of steps 2–3.
    `genomic_pilot`: a genomic relationship taken through :func:`pilot_links` (single step as
    its pedigree, GBLUP as levels without relatives: the genomic information left out, too low a
    reliability), the pilot of the sampled method, instead of the NumericalError of
    :func:`term_links`."""
    out = np.full(model.n_unknowns, np.nan)
    for m, (term, g0) in enumerate(zip(model.terms, vc.g0)):
        if genomic_pilot and is_genomic(term.relationship):
            links, groups = pilot_links(term.relationship), None
        else:
            links, groups = term_links(term.relationship)
        pev = propagate(own_information(model, vc, m, links), g0, links, rounds)
        if mates:
            pev = propagate(own_information(model, vc, m, links, pev), g0, links, rounds)
        if groups is not None:  # no approximation for the group levels themselves
            pev[groups] = np.nan
        for c in range(term.k):
            lo, hi = model.block(m, c)
            out[lo:hi] = pev[:, c]
    return out
