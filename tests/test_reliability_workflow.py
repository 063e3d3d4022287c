"""`reliability:` through the workflow: the method in mme_summary.json, the MC SE column and the
report's note; `exact` with `solver: pcg` refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from test_workflow import mrode_config, setup_dir, snakemake


def test_sampled_and_approximate_reliabilities_in_the_outputs(tmp_path):
    """Mrode's Example 3.1 solved by PCG three ways: `sampled` (400 samples) lies within 4 MC SE
    of the exact reliabilities of a Cholesky run and names samples and mean MC SE;
    `approximate` (the `auto` choice with PCG) ranks the animals as the exact ones do
    (correlation > 0.7) but is too high by up to 0.2: five records in two groups of 2 and 3
    whose means take most of the family information, the case the approximation is worst at;
    the report says how they were obtained."""
    work = setup_dir(tmp_path / "run", mrode_config(
        exact={"solver": "cholesky"},
        sampled={"solver": "pcg", "reliability": "sampled", "samples": 400},
        approximate={"solver": "pcg"},
    ))
    snakemake(work)
    tables = {m: pd.read_parquet(work / f"results/{m}/solutions.parquet").query("effect == 'animal'")
              .set_index("level") for m in ("exact", "sampled", "approximate")}
    summaries = {m: json.loads((work / f"results/{m}/mme_summary.json").read_text()) for m in tables}
    assert summaries["exact"]["reliability"] == {"method": "exact"}
    assert summaries["approximate"]["reliability"] == {"method": "approximate"}
    info = summaries["sampled"]["reliability"]
    assert info["method"] == "sampled" and info["samples"] == 400 and info["mean_mc_se"] > 0
    exact, sampled = tables["exact"]["reliability"], tables["sampled"]
    z = (sampled["reliability"] - exact) / sampled["reliability_mc_se"]
    assert np.all(np.abs(z) < 4)
    approx = tables["approximate"]["reliability"].reindex(exact.index)
    assert np.corrcoef(approx, exact)[0, 1] > 0.7 and np.all((approx >= exact) & (approx < exact + 0.25))
    html = (work / "results/sampled/report.html").read_text()
    assert "reliabilities are sampled (400 simulated data sets" in html
    assert "reliabilities are approximate" in (work / "results/approximate/report.html").read_text()


def test_exact_reliabilities_with_pcg_are_refused(tmp_path):
    work = setup_dir(tmp_path / "refused", mrode_config(wwg={"solver": "pcg", "reliability": "exact"}))
    result = snakemake(work, check=False)
    assert result.returncode != 0 and "reliability: approximate or sampled" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
