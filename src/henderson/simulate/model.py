"""The animal model of a simulated data set as a :class:`henderson.model.MixedModel`, for tests
and benchmarks: y = herd_year + sex + animal (+ dam, maternal runs) (+ pe, optional) + e over
the records with at least one trait, the additive relationship from the simulated pedigree."""

from __future__ import annotations

from henderson.design import additive_effect, iid_effect, maternal_effect
from henderson.model import MixedModel, build_model
from henderson.pedigree import sort_pedigree
from henderson.relationship import Relationship, pedigree_relationship_from
from henderson.simulate.phenotypes import SimulatedData

__all__ = ["simulated_model"]


def _known(values) -> list[str | None]:
    """Parent IDs with the simulator's "0" (unknown) as None."""
    return [None if v == "0" else v for v in values.astype(str)]


def simulated_model(data: SimulatedData, *, relationship: Relationship | None = None,
                    permanent_environment: bool = False) -> MixedModel:
    """The model of `data` (module docstring): one genetic term (direct, and maternal when the
    records carry a `dam` column; K = `relationship`, default A of the simulated pedigree) and,
    with `permanent_environment`, an iid term `pe` on the animal."""
    if relationship is None:
        pf = data.pedigree
        relationship = pedigree_relationship_from(
            sort_pedigree(list(pf["id"].astype(str)), _known(pf["sire"]), _known(pf["dam"])))
    names = list(data.parameters["traits"])
    rec = data.phenotypes
    rec = rec[rec[names].notna().any(axis=1)].reset_index(drop=True)
    genetic = [additive_effect("animal", rec["id"], relationship)]
    if "dam" in rec.columns:
        dams = rec["dam"].astype(str).where(rec["dam"].astype(str) != "0", None)
        genetic.append(maternal_effect("dam", dams, relationship))
    terms = [genetic] + ([iid_effect("pe", rec["id"])] if permanent_environment else [])
    return build_model(rec, names, (("herd_year", "sex"), ()), terms)
