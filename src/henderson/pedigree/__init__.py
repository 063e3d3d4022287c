"""Pedigree sorting, generations, inbreeding and the inverse relationship matrix A⁻¹.

Animals are numbered 0..n-1 with parents before offspring ("sorted"); an unknown parent is -1.
The numerator relationship matrix factors as ``A = T B T'`` (Henderson 1976; Quaas 1976),
where ``T = (I - P)⁻¹`` with ``P[i, s_i] = P[i, d_i] = 1/2`` for known parents, and ``B`` is
diagonal with the Mendelian-sampling variances (as a fraction of the additive variance)::

    b_i = 1 - (1 + F_s)/4 - (1 + F_d)/4   (a term is left out when that parent is unknown)

so ``b_i = 1`` for a founder. Hence ``A⁻¹ = (I - P)' B⁻¹ (I - P)`` is sparse and is written
down animal by animal (Henderson's rules), never by inverting ``A``. The inbreeding coefficient
of an animal with both parents known is ``F_i = a(s_i, d_i) / 2``; else ``F_i = 0``.

Selfing (``s_i = d_i = p``, monoecious plants and trees) is the same algebra with the two
parent terms on one animal: ``P[i, p] = 1``, ``F_i = a_pp / 2 = (1 + F_p) / 2``,
``b_i = (1 - F_p) / 2`` and ``c_i = e_i - e_p``, so ``δ_i`` is added at (p, p) and ``-δ_i`` at
(i, p). Every routine here takes ``s_i = d_i`` as two contributions to one position.

Heavy loops are numba kernels (``cache=True``); everything else is vectorised numpy. The only
dense O(n²) routine, :func:`relationship_matrix_dense`, is the test oracle.
"""

from henderson.pedigree.ainv import ainv, relationship_matrix_dense
from henderson.pedigree.inbreeding import (
    inbreeding,
    inbreeding_from_parents,
    mendelian_variances,
)
from henderson.pedigree.structure import (
    Pedigree,
    find_cycle,
    generations,
    pedigree_summary,
    sort_pedigree,
)

__all__ = [
    "Pedigree",
    "ainv",
    "find_cycle",
    "generations",
    "inbreeding",
    "inbreeding_from_parents",
    "mendelian_variances",
    "pedigree_summary",
    "relationship_matrix_dense",
    "sort_pedigree",
]
