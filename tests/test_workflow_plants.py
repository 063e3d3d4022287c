"""A forest progeny trial through the workflow: `sexes: monoecious` with selfs and parents used
both as sire and as dam, and the same data refused, naming the switch, without it.

The trial (made here with a fixed seed): 20 parent trees, 30 families of 10 trees (8 open-pollinated
with unknown pollen parent, 19 controlled crosses in a chain and its closing reciprocal, so every
crossed parent is the sire of one family and the dam of another, and 3 selfs) planted at random in
6 blocks; height = block + additive genetic value + residual. The oracle for the breeding values is
the dense mixed model equations with A from a tabular recursion written out here and inverted by
numpy: EBVs agree to 1e-8 (two solvers of one well-conditioned 326-equation system).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import snakemake

pytestmark = pytest.mark.workflow

PARENTS = [f"P{k:02d}" for k in range(1, 21)]
OPEN_POLLINATED = [(None, PARENTS[k]) for k in range(8)]
CROSSES = [(PARENTS[k], PARENTS[k + 1]) for k in range(18)] + [(PARENTS[19], PARENTS[0])]
SELFS = [(PARENTS[k], PARENTS[k]) for k in (2, 6, 10)]
FAMILIES = OPEN_POLLINATED + CROSSES + SELFS
VARIANCES = {"animal": 4.0, "residual": 12.0}


def tabular_a(ids: list[str], sire: list[str | None], dam: list[str | None]) -> np.ndarray:
    """A by the tabular method for rows listed parents first (selfing: s = d, same rule)."""
    pos = {a: k for k, a in enumerate(ids)}
    n = len(ids)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = pos.get(sire[i]), pos.get(dam[i])
        for j in range(i):
            A[i, j] = A[j, i] = 0.5 * ((A[j, s] if s is not None else 0) + (A[j, d] if d is not None else 0))
        A[i, i] = 1 + (0.5 * A[s, d] if s is not None and d is not None else 0)
    return A


def progeny_trial(seed: int = 2024):
    rng = np.random.default_rng(seed)
    ids, sire, dam = list(PARENTS), [None] * len(PARENTS), [None] * len(PARENTS)
    for f, (s, d) in enumerate(FAMILIES, start=1):
        for k in range(1, 11):
            ids.append(f"F{f:02d}-{k:02d}")
            sire.append(s)
            dam.append(d)
    A = tabular_a(ids, sire, dam)
    a = np.linalg.cholesky(A) @ rng.normal(size=len(ids)) * np.sqrt(VARIANCES["animal"])
    trees = ids[len(PARENTS):]
    block = rng.integers(1, 7, size=len(trees))
    block_effect = {b: 3.0 * b for b in range(1, 7)}
    height = [
        block_effect[b] + a[len(PARENTS) + i] + rng.normal(scale=np.sqrt(VARIANCES["residual"]))
        for i, b in enumerate(block)
    ]
    code = {None: "0"}
    pedigree = "id,sire,dam\n" + "".join(
        f"{i},{code.get(s, s)},{code.get(d, d)}\n" for i, s, d in zip(ids, sire, dam, strict=True)
    )
    data = pd.DataFrame({"id": trees, "block": [f"B{b}" for b in block], "height": np.round(height, 3)})
    # two measured trees whose labels were lost from the pedigree: added as founders, with a warning
    data = pd.concat([data, pd.DataFrame({"id": ["LOST-1", "LOST-2"], "block": ["B1", "B2"],
                                          "height": [4.2, 7.9]})], ignore_index=True)
    return pedigree, data, ids, sire, dam


def trial_config(**top):
    return {
        "pedigree": "pedigree.csv",
        "phenotypes": "data.csv",
        "id_column": "id",
        **top,
        "models": {
            "height": {
                "traits": ["height"],
                "fixed": ["block"],
                "random": {"animal": "additive"},
                "variances": VARIANCES,
                "estimate": "none",
            }
        },
    }


def setup_trial(path, config):
    pedigree, data, *_ = progeny_trial()
    (path / "config").mkdir(parents=True, exist_ok=True)
    (path / "pedigree.csv").write_text(pedigree)
    data.to_csv(path / "data.csv", index=False)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return path


def dense_ebvs(data: pd.DataFrame, ids: list[str], sire, dam) -> dict[str, float]:
    """EBVs from the dense mixed model equations [X'X X'Z; Z'X Z'Z + A⁻¹ λ] (λ = σ²e/σ²a)."""
    ids = ids + ["LOST-1", "LOST-2"]
    sire, dam = sire + [None, None], dam + [None, None]
    Ainv = np.linalg.inv(tabular_a(ids, sire, dam))
    blocks = sorted(data["block"].unique())
    X = (data["block"].to_numpy()[:, None] == np.array(blocks)[None, :]).astype(float)
    pos = {a: k for k, a in enumerate(ids)}
    Z = np.zeros((len(data), len(ids)))
    Z[np.arange(len(data)), [pos[i] for i in data["id"]]] = 1.0
    lam = VARIANCES["residual"] / VARIANCES["animal"]
    lhs = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + lam * Ainv]])
    rhs = np.concatenate([X.T @ data["height"].to_numpy(), Z.T @ data["height"].to_numpy()])
    solution = np.linalg.solve(lhs, rhs)
    return dict(zip(ids, solution[len(blocks):], strict=True))


def test_progeny_trial_with_selfs_runs_when_monoecious(tmp_path):
    work = setup_trial(tmp_path, trial_config(sexes="monoecious"))
    snakemake(work)
    ped_summary = json.loads((work / "results/clean/pedigree_summary.json").read_text())
    assert ped_summary["sexes"] == "monoecious" and ped_summary["selfed"] == 30
    assert ped_summary["phenotyped_added"] == 2
    f = pd.read_parquet(work / "results/relationships/inbreeding.parquet").set_index("id")
    selfed = [f"F{f:02d}-{k:02d}" for f in range(28, 31) for k in range(1, 11)]
    assert (f.loc[selfed, "F"] == 0.5).all() and (f.loc[selfed, "b"] == 0.5).all()
    assert (f.drop(index=selfed)["F"] == 0.0).all()
    meta = json.loads((work / "results/relationships/ainv.npz.meta.json").read_text())
    assert meta["log_det"] == pytest.approx(np.log(f["b"]).sum(), abs=1e-12)

    _, data, ids, sire, dam = progeny_trial()
    expected = dense_ebvs(data, ids, sire, dam)
    sol = pd.read_parquet(work / "results/height/solutions.parquet")
    ebv = sol[sol["effect"] == "animal"].set_index("level")["estimate"]
    assert sorted(ebv.index) == sorted(expected)
    np.testing.assert_allclose(ebv[list(expected)].to_numpy(), list(expected.values()), rtol=0, atol=1e-8)

    # the added trees are a warning in the log and in the clean summary
    log = (work / "logs/clean/pedigree.log").read_text()
    summary = json.loads((work / "results/clean/summary.json").read_text())
    warning = next(w for w in summary["pedigree"]["warnings"] if "'LOST-1', 'LOST-2'" in w)
    assert "2 of 302 phenotyped animals" in warning and warning in log


def test_progeny_trial_without_the_switch_stops_naming_it(tmp_path):
    work = setup_trial(tmp_path, trial_config())
    result = snakemake(work, check=False)
    assert result.returncode != 0
    log = (work / "logs/clean/pedigree.log").read_text()
    assert "pedigree.csv" in log and "set `sexes: monoecious`" in log
    assert "Traceback" not in log and "Traceback" not in result.stderr
    assert not (work / "results/relationships").exists()
