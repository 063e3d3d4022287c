"""A sire model: the additive effect on the sire column (`{type: additive, column: sire}`),
relationships among sires from the pedigree, h² = 4σ²s/σ²p."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_workflow import MRODE_PEDIGREE, mrode_config, setup_dir, snakemake

from henderson.config import model_from_dict
from henderson.errors import ConfigError
from henderson.pedigree import relationship_matrix_dense, sort_pedigree


def _dense_sire_solutions(sigma_s: float, sigma_e: float, mgs: list[str] | None = None) -> dict[str, float]:
    """Henderson's equations built by hand for Mrode's Example 3.1 data as a sire model: X the
    sex of the calf, Z the calf's sire among the 8 pedigree animals, G = A σ²s with A the full
    tabular relationship matrix (the sires' relationships through the whole pedigree); with `mgs`
    the maternal grandsire of each calf enters Z with ½."""
    ped = pd.read_csv(pd.io.common.StringIO(MRODE_PEDIGREE), dtype=str)
    known = [[None if v == "0" else v for v in ped[c]] for c in ("sire", "dam")]
    order = sort_pedigree(list(ped["id"]), *known)
    a = relationship_matrix_dense(order)
    ids = list(order.ids)
    sexes, sires, y = ["M", "F", "F", "M", "M"], ["1", "3", "1", "4", "3"], np.array([4.5, 2.9, 3.9, 3.5, 5.0])
    x = np.array([[s == "M", s == "F"] for s in sexes], dtype=float)
    z = np.zeros((5, len(ids)))
    z[np.arange(5), [ids.index(s) for s in sires]] = 1.0
    for row, grandsire in enumerate(mgs or []):
        if grandsire != "0":
            z[row, ids.index(grandsire)] += 0.5
    c = np.block([[x.T @ x, x.T @ z], [z.T @ x, z.T @ z + np.linalg.inv(a) * sigma_e / sigma_s]])
    sol = np.linalg.solve(c, np.concatenate([x.T @ y, z.T @ y]))
    return dict(zip(ids, sol[2:])) | {"M": sol[0], "F": sol[1]}


def test_sire_model_matches_the_dense_equations(tmp_path):
    config = mrode_config(wwg={"random": {"sire": {"type": "additive", "column": "sire"}},
                               "variances": {"sire": 5, "residual": 55}})
    work = setup_dir(tmp_path, config)
    snakemake(work)
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])["estimate"]
    dense = _dense_sire_solutions(5.0, 55.0)
    for level in [str(i) for i in range(1, 9)]:
        assert sol[("sire", level)] == pytest.approx(dense[level], abs=1e-10)
    assert sol[("sex", "M")] == pytest.approx(dense["M"], abs=1e-10)
    vc = json.loads((work / "results/wwg/variance_components.json").read_text())
    assert vc["ratios"]["h2"]["estimate"] == pytest.approx(4 * 5 / 60, rel=1e-12)


def test_sire_model_spec_and_its_limits():
    block = {"traits": ["wwg"], "fixed": ["sex"], "random": {"sire": {"type": "additive", "column": "sire"}}}
    spec = model_from_dict("m", block, id_column="animal")
    assert spec.layout().terms[0].types == ("sire",)
    assert "sire" in spec.columns.classes
    again = model_from_dict("m", spec.to_dict(), id_column="animal")
    assert again.layout() == spec.layout()
    animal = model_from_dict("m", {**block, "random": {"animal": "additive"}}, id_column="animal")
    assert animal.layout().terms[0].types == ("additive",)
    maternal = {**block, "random": {"sire": {"type": "additive", "column": "sire"},
                                    "dam": {"type": "maternal", "column": "dam", "of": "sire"}}}
    with pytest.raises(ConfigError, match="maternal effect needs the additive effect on the id column"):
        model_from_dict("m", maternal, id_column="animal")


def test_sire_maternal_grandsire_model_matches_the_dense_equations(tmp_path):
    """y = sex + s + ½ mgs + e on Mrode's Example 3.1 data (the calves' maternal grandsires from
    the pedigree: 7's dam 5 is a daughter of 3, 8's dam 6 of 1; the others unknown)."""
    from test_workflow import MRODE_DATA

    mgs = ["0", "0", "0", "3", "1"]
    lines = MRODE_DATA.strip().splitlines()
    data = "\n".join([lines[0] + ",mgs"] + [f"{row},{g}" for row, g in zip(lines[1:], mgs)]) + "\n"
    config = mrode_config(wwg={"random": {"sire": {"type": "additive", "column": "sire", "mgs": "mgs"}},
                               "variances": {"sire": 5, "residual": 55}})
    work = setup_dir(tmp_path, config, data=data)
    snakemake(work)
    sol = pd.read_parquet(work / "results/wwg/solutions.parquet").set_index(["effect", "level"])["estimate"]
    dense = _dense_sire_solutions(5.0, 55.0, mgs)
    for level in [str(i) for i in range(1, 9)]:
        assert sol[("sire", level)] == pytest.approx(dense[level], abs=1e-10)
    plain = _dense_sire_solutions(5.0, 55.0)
    assert abs(dense["3"] - plain["3"]) > 1e-4  # the grandsire information changes the solutions
    with pytest.raises(ConfigError, match="`mgs` applies to an additive effect on the sire column"):
        model_from_dict("m", {"traits": ["wwg"], "random": {"animal": {"type": "additive", "mgs": "mgs"}}},
                        id_column="animal")
