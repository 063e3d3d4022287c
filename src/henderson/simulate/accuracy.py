"""Forward prediction on simulated data: how well pedigree BLUP and single-step GBLUP predict the
true breeding values of young genotyped animals whose own records are withheld.

The last birth cohort's records are removed; both evaluations run on the simulator's model at the
simulated (true) variances; the accuracy is corr(prediction, TBV) over that cohort's genotyped
animals. With TBVs from QTL off the SNP panel (``qtl``) and LD in the base (``history``), single
step should gain over the pedigree; with polygenic TBVs it cannot.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from henderson.covariance import VarianceComponents
from henderson.genomic import GenomicOptions, single_step_relationship
from henderson.pedigree import sort_pedigree
from henderson.simulate.model import simulated_model
from henderson.simulate.phenotypes import SimulatedData
from henderson.solutions import solve

__all__ = ["YoungAccuracy", "young_genotyped_accuracy"]


@dataclass(frozen=True)
class YoungAccuracy:
    """corr(EBV, TBV) by pedigree BLUP and corr(GEBV, TBV) by single step over `animals` young
    genotyped animals without records."""

    pedigree: float
    single_step: float
    animals: int

    @property
    def gain(self) -> float:
        return self.single_step - self.pedigree


def young_genotyped_accuracy(data: SimulatedData, options: GenomicOptions | None = None) -> YoungAccuracy:
    """:class:`YoungAccuracy` of simulated `data` (one trait, with genotypes) for the last birth
    cohort (module docstring); `options`: the genomic options of single step (default ones)."""
    if data.genotypes is None:
        raise ValueError("the simulated data have no genotypes (simulate with genotyped > 0)")
    ped = data.pedigree
    young = set(ped.loc[ped["birth_year"] == ped["birth_year"].max(), "id"])
    data = dataclasses.replace(data, phenotypes=data.phenotypes[~data.phenotypes["id"].isin(young)])
    ids = np.asarray(data.genotypes.ids).astype(str)
    target = [i for i in ids if i in young]
    trait = data.parameters["traits"][0]
    tbv = data.truth.set_index("id")[f"tbv_{trait}"].reindex(target)
    known = [[None if v == "0" else v for v in ped[c].astype(str)] for c in ("sire", "dam")]
    pedigree = sort_pedigree(list(ped["id"].astype(str)), *known)
    variances = data.parameters["variances"]
    named = {"animal": float(np.asarray(variances["genetic_covariance"])[0, 0]),
             "residual": float(np.asarray(variances["residual_covariance"])[0, 0])}
    out = []
    for relationship in (None, single_step_relationship(pedigree, ids, data.genotypes.codes,
                                                        options or GenomicOptions())):
        model = simulated_model(data, relationship=relationship)
        table = solve(model, VarianceComponents.from_named(model.layout, named), pev=False).table
        ebv = table[table["effect"] == "animal"].set_index("level")["estimate"].reindex(target)
        out.append(float(np.corrcoef(ebv, tbv)[0, 1]))
    return YoungAccuracy(out[0], out[1], len(target))
