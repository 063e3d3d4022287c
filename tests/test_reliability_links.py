"""Parents and Mendelian-sampling variances read back from A⁻¹ (henderson.reliability.links)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from henderson.errors import NumericalError
from henderson.pedigree import inbreeding, mendelian_variances, sort_pedigree
from henderson.relationship import Relationship, pedigree_relationship_from
from henderson.reliability import pedigree_links
from henderson.simulate import SimulationSpec, simulate


def _check(ped):
    links = pedigree_links(pedigree_relationship_from(ped))
    truth = np.sort(np.column_stack([ped.sire, ped.dam]), axis=1)
    found = np.sort(np.column_stack([links.sire, links.dam]), axis=1)
    np.testing.assert_array_equal(found, truth)
    f = inbreeding(ped)
    np.testing.assert_allclose(links.b, mendelian_variances(ped, f), rtol=1e-10)
    np.testing.assert_allclose(links.f, f, atol=1e-12)


def test_parents_of_a_simulated_pedigree():
    """3,000 animals over 10 overlapping generations with inbreeding and unknown parents."""
    pf = simulate(SimulationSpec(n_animals=3000, seed=5)).pedigree
    ped = sort_pedigree(list(pf["id"].astype(str)), [None if v == "0" else v for v in pf["sire"].astype(str)],
                        [None if v == "0" else v for v in pf["dam"].astype(str)])
    _check(ped)


def test_selfing_backcrosses_and_matings_of_relatives():
    """A selfed plant (−1 in L), a sire mated to his daughter twice (his entry with her cancels
    to zero in A⁻¹ and may be missing from its pattern), full-sib matings, one parent unknown."""
    ids = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    sires = [None, None, "a", "c", "a", "a", "e", "e", None]
    dams = [None, None, "b", "c", "c", "c", "f", "f", "h"]
    _check(sort_pedigree(ids, sires, dams))


def test_other_matrices_are_refused():
    """K⁻¹ not of a pedigree in parents-first order: an off-diagonal that is no −½δ, or a
    diagonal that disagrees with 1 + F."""
    levels = np.array(["x", "y"], dtype=object)
    odd = Relationship("pedigree", levels, sp.csc_matrix(np.array([[1.2, -0.3], [-0.3, 1.0]])), 0.0, np.ones(2))
    with pytest.raises(NumericalError, match="not a pedigree"):
        pedigree_links(odd)
    scaled = Relationship("pedigree", levels, sp.csc_matrix(2.0 * np.eye(2)), 0.0, np.ones(2))
    with pytest.raises(NumericalError, match="disagree"):
        pedigree_links(scaled)
