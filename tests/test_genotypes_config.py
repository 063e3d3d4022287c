"""The config keys `genotypes` and `genotype_qc`: defaults, the ID column, refused values."""

from __future__ import annotations

import pytest

from henderson.config import validate_config
from henderson.errors import ConfigError
from henderson.genotypes import QCSettings

MODEL = {"m": {"traits": ["y"], "random": {"animal": "additive"}, "variances": {"animal": 1, "residual": 1},
               "estimate": "none"}}


def config(**keys):
    return {"phenotypes": "data.csv", "pedigree": "ped.csv", "models": MODEL, **keys}


def test_defaults_are_blupf90_like_and_match_the_settings_class():
    evaluation = validate_config(config(genotypes="g.csv"))
    assert evaluation.genotypes == "g.csv"
    qc = evaluation.genotype_qc
    assert qc["min_call_rate_snp"] == 0.9 and qc["min_call_rate_animal"] == 0.9 and qc["min_maf"] == 0.05
    assert qc["missing_codes"] == [5, 9] and qc["parent_conflict"] == "remove_offspring"
    settings = QCSettings.from_config(qc)
    defaults = QCSettings()
    for key in ("min_call_rate_snp", "min_call_rate_animal", "min_maf", "remove_monomorphic",
                "max_parent_conflict_rate", "max_snp_conflict_rate", "min_pairs_snp_conflicts",
                "duplicate_threshold", "missing_codes", "parent_conflict"):
        assert getattr(settings, key) == getattr(defaults, key), key
    assert validate_config(config()).genotypes is None


def test_id_column_defaults_to_the_pedigree_id_column():
    assert validate_config(config(pedigree_columns={"id": "animal"})).genotype_qc["id_column"] == "animal"
    assert validate_config(config(genotype_qc={"id_column": "sample"})).genotype_qc["id_column"] == "sample"
    no_pedigree = {"phenotypes": "d.csv", "id_column": "cow", "models": {"m": {"traits": ["y"]}}}
    assert validate_config(no_pedigree).genotype_qc["id_column"] == "cow"


@pytest.mark.parametrize("qc,words", [
    ({"missing_codes": [1, 9]}, "genotype_qc.missing_codes: [1] is a genotype"),
    ({"min_maf": 0.6}, "genotype_qc.min_maf: 0.6 is greater than the maximum of 0.5"),
    ({"parent_conflict": "drop"}, "genotype_qc.parent_conflict: 'drop' is not one of"),
    ({"min_callrate": 0.9}, "unknown key 'min_callrate' in genotype_qc"),
    ({"id_column": True}, "genotype_qc.id_column: True (a boolean)"),
])
def test_bad_genotype_qc_values(qc, words):
    with pytest.raises(ConfigError) as err:
        validate_config(config(genotype_qc=qc))
    assert words in str(err.value)
