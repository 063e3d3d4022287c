"""PEV by sampling (Garcia-Cortes, Moreno, Varona & Altarriba 1995): data simulated from the
model at the given variances, solved with the evaluation's own solver.

Each sample draws u* ~ N(0, G0 ⊗ K) per random term (through the pedigree, u_i = ½(u_s + u_d) +
m_i with m_i ~ N(0, b_i G0), for K = A; for the genomic relationships G*, H and their APY forms
u* = (K^½ ⊗ G0^½) z from the K⁻¹ the relationship holds, exactly,
:mod:`henderson.reliability.genomic_draws`), e* ~ N(0, R0[O, O]/w) per record, y* = Zu* + e*
(fixed effects 0: PEV does not depend on them) and solves C ŝ* = W'R⁻¹y* for all samples of a
batch at once. For a random level with prior variance V = G0_cc diag(K)_i, û* − u* and û* are
independent with variances PEV and V − PEV (BLUP), so two unbiased, independent estimators exist:

    PEV₁ = mean (u* − û*)²   (Monte Carlo variance 2 PEV²/n),
    PEV₂ = V − mean û*²      (Monte Carlo variance 2 (V − PEV)²/n).

Reported: their combination with weights from the deterministic approximation P̃
(:mod:`henderson.reliability.approximate`), fixed before sampling, so unbiased:
``PEV = ω PEV₁ + (1 − ω) PEV₂`` with ω = (V − P̃)² / (P̃² + (V − P̃)²), the inverse-variance
weights: when P̃ is right, the Monte Carlo SE of the reliability r is √(2/n) r(1 − r)/√(r² + (1 − r)²)
(at most 0.5/√n) instead of √(2/n)(1 − r) for PEV₁ alone. A genomic relationship has no
approximation; its pilot leaves the genomic information out (``genomic_pilot``: single step
as its pedigree, GBLUP's levels on their own records), which understates their reliability and
leans the weights towards PEV₂: still unbiased, the Monte Carlo SE between that of the right
weights and √(2/n) r (PEV₂ alone). Its per-level
Monte Carlo SE is the sample standard deviation of the per-sample values over √n. For a fixed
effect (true value 0 in the samples) b̂* is the estimation error, so (C⁻¹)_ii = E b̂*²: PEV₁ only;
so too for a term whose diag(K) is approximated (large single step: 1 + F for the ungenotyped
animals, ``Relationship.diagonal_exact``), as PEV₂ needs the true V.

Why not the diagonal estimator of Hutchinson type (diag C⁻¹ ≈ mean v ∘ C⁻¹v, v = ±1): its
variance for unknown i is Σ_(j≠i) (C⁻¹)_ij²/n, which adds the squared prediction error
covariances with every relative and contemporary-group effect, large where an animal is tied to a
large family or small group; the model-based samples have a variance that depends on the
animal's own PEV only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numba
import numpy as np

from henderson.covariance import VarianceComponents
from henderson.errors import NumericalError
from henderson.mme import Equations
from henderson.model import MixedModel
from henderson.reliability.approximate import (
    approximate_inverse_diagonal,
    prior_variances,
)
from henderson.reliability.genomic_draws import GenomicDraws, genomic_draws
from henderson.reliability.links import is_genomic, term_links

__all__ = ["SampledPEV", "sampled_inverse_diagonal"]

_LOG = logging.getLogger("henderson.reliability")


@dataclass(frozen=True, eq=False)
class SampledPEV:
    """diag(C⁻¹) (N,) estimated from `samples` samples, its Monte Carlo SE (N,), seconds."""

    diagonal: np.ndarray
    mc_se: np.ndarray
    samples: int
    seconds: float


@numba.njit(cache=True)
def _through_pedigree(z, sire, dam, b):  # pragma: no cover - compiled
    """u (q, k, m) with u_i = ½(u_s + u_d) + √b_i z_i (u_p + √b_i z_i when selfed), z (q, k, m)
    already multiplied by the Cholesky factor of G0; parents before offspring."""
    q = z.shape[0]
    u = np.empty_like(z)
    for i in range(q):
        s, d = sire[i], dam[i]
        u[i] = np.sqrt(b[i]) * z[i]
        if s >= 0 and s == d:
            u[i] += u[s]
            continue
        if s >= 0:
            u[i] += 0.5 * u[s]
        if d >= 0:
            u[i] += 0.5 * u[d]
    return u


def _draw(model: MixedModel, vc: VarianceComponents, equations: Equations, rng: np.random.Generator,
          m: int, links: list) -> tuple[np.ndarray, np.ndarray]:
    """(s* (N, m) with the fixed part 0, right-hand sides W'R⁻¹y* (N, m)) of m samples."""
    truth = np.zeros((model.n_unknowns, m))
    for ti, (term, g0) in enumerate(zip(model.terms, vc.g0)):
        chol = np.linalg.cholesky(g0)
        z = np.einsum("ab,qbm->qam", chol, rng.standard_normal((term.q, term.k, m)))
        if isinstance(links[ti], GenomicDraws):  # linear in z: K^½ applied to every (component, sample) column
            u = links[ti].draw(z.reshape(term.q, term.k * m)).reshape(term.q, term.k, m)
        else:
            u = _through_pedigree(z, *links[ti]) if links[ti] is not None else z
        for c in range(term.k):
            lo, hi = model.block(ti, c)
            truth[lo:hi] = u[:, c, :]
    y = np.asarray(model.w @ truth)
    weights = model.weights
    for traits, records, idx in zip(*model.patterns, equations.flat):
        chol = np.linalg.cholesky(vc.r0[np.ix_(traits, traits)])
        e = np.einsum("ab,rbm->ram", chol, rng.standard_normal((records.size, traits.size, m)))
        if weights is not None:
            e /= np.sqrt(weights[records])[:, None, None]
        y[idx] += e
    qs = equations.q_matrices(vc)
    return truth, np.asarray(equations.wt @ equations.rinv(y, qs))


def sampled_inverse_diagonal(model: MixedModel, vc: VarianceComponents, equations: Equations, solver, *,
                             samples: int = 200, seed: int = 1, batch: int | None = None,
                             pilot: np.ndarray | None = None) -> SampledPEV:
    """diag(C⁻¹) of `model` at `vc` by sampling (module docstring) with `solver` (updated to C at
    `vc`; its ``solve`` takes several right-hand sides) in batches of `batch` samples (default:
    about 400 MB of right-hand sides). `pilot`: the approximate diag(C⁻¹) for the weights
    (:func:`~henderson.reliability.approximate.approximate_inverse_diagonal` with
    ``genomic_pilot`` when None).

    Raises:
        NumericalError: a term with unknown parent groups, or a genomic K⁻¹ that is not positive
            definite.
    """
    clock = time.perf_counter()
    n_unknowns = model.n_unknowns
    if batch is None:
        batch = int(max(1, min(samples, 400 * 2**20 // (8 * 6 * max(n_unknowns, 1)))))
    if pilot is None:
        pilot = approximate_inverse_diagonal(model, vc, genomic_pilot=True)
    prior = prior_variances(model, vc)
    random = np.isfinite(prior)
    approx = np.clip(np.where(random, pilot, 0.0), 0.0, np.where(random, prior, np.inf))
    rest = np.where(random, prior - approx, 0.0)
    omega = np.where(random, rest**2 / np.maximum(approx**2 + rest**2, 1e-300), 1.0)
    for m, term in enumerate(model.terms):
        if not term.relationship.diagonal_exact:  # V unknown: PEV₁ alone
            for c in range(term.k):
                omega[slice(*model.block(m, c))] = 1.0
    links = []
    for term in model.terms:
        if is_genomic(term.relationship):
            links.append(genomic_draws(term.relationship))
            continue
        lk, groups = term_links(term.relationship)
        if groups is not None:  # the draws would not follow A* (group levels, a + Qg)
            raise NumericalError(
                f"sampled reliabilities draw the effects of a pedigree or of iid levels; {term.name} has unknown "
                "parent groups."
            )
        links.append(None if lk is None else (lk.sire, lk.dam, lk.b))
    rng = np.random.default_rng(seed)
    total = np.zeros(n_unknowns)
    square = np.zeros(n_unknowns)
    done = 0
    while done < samples:
        m = min(batch, samples - done)
        truth, rhs = _draw(model, vc, equations, rng, m, links)
        solved = np.asarray(solver.solve(rhs)).reshape(n_unknowns, m)
        first = (truth - solved) ** 2
        second = np.where(random, prior, 0.0)[:, None] - solved**2
        value = omega[:, None] * first + (1.0 - omega)[:, None] * second
        total += value.sum(axis=1)
        square += (value**2).sum(axis=1)
        done += m
        _LOG.info("sampled PEV: %d of %d samples, %.1f s", done, samples, time.perf_counter() - clock)
    mean = total / samples
    var = np.maximum(square / samples - mean**2, 0.0) * samples / max(samples - 1, 1)
    return SampledPEV(mean, np.sqrt(var / samples), samples, time.perf_counter() - clock)
