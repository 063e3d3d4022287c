"""Simulated pedigrees, phenotypes and true breeding values for tests, examples and benchmarks.

`spec` holds `SimulationSpec` (what to simulate, with defaults and checks), `population` the
pedigree structure (`simulate_pedigree`), `phenotypes` the genetic values and records
(`simulate`, `SimulatedData`), `write` the files and config.yaml (`write_simulation`), and `cli`
the command line (``python -m henderson.simulate``).
"""

from henderson.simulate.cli import main
from henderson.simulate.phenotypes import (
    AGE_RANGE_DAYS,
    HERD_YEAR_SHARE,
    INBREEDING_DECIMALS,
    PHENOTYPE_DECIMALS,
    TBV_DECIMALS,
    SimulatedData,
    simulate,
)
from henderson.simulate.population import (
    DAM_KEEP,
    DAM_YEARS,
    SIRE_YEARS,
    simulate_pedigree,
)
from henderson.simulate.spec import (
    SELECTION_METHODS,
    TRAIT_NAMES,
    Matrix,
    SimulationSpec,
    trait_names,
)
from henderson.simulate.write import config_yaml, write_simulation

__all__ = [
    "AGE_RANGE_DAYS",
    "DAM_KEEP",
    "DAM_YEARS",
    "HERD_YEAR_SHARE",
    "INBREEDING_DECIMALS",
    "PHENOTYPE_DECIMALS",
    "SELECTION_METHODS",
    "SIRE_YEARS",
    "TBV_DECIMALS",
    "TRAIT_NAMES",
    "Matrix",
    "SimulatedData",
    "SimulationSpec",
    "config_yaml",
    "main",
    "simulate",
    "simulate_pedigree",
    "trait_names",
    "write_simulation",
]
