"""Benchmark: MME for an animal model, from simulated files to solutions with PEV.

Data: `henderson.simulate` (80 % of animals with one record; herd_year and sex fixed, age covariate,
additive animal effect, σ²a = 20, σ²e = 40). Steps timed: clean (pedigree + phenotypes), A⁻¹ with
inbreeding, records and design, MME assembly, CHOLMOD analysis, factorization + solve, selected
inverse for PEV. Each size runs in a fresh subprocess (numba cache warmed first) so the peak RSS is
that of one evaluation. Prints a Markdown table.

    python benchmarks/bench_mme.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def run_one(n_animals: int) -> dict:
    from henderson.config import load_config, model_columns_params
    from henderson.simulate import SimulationSpec, simulate, write_simulation
    from henderson.stages.clean import (
        clean_pedigree_stage,
        clean_phenotypes_stage,
    )
    from henderson.stages.evaluate import build_model, evaluate_stage
    from henderson.stages.relationships import relationships_stage

    with tempfile.TemporaryDirectory() as tmp:
        write_simulation(simulate(SimulationSpec(n_animals=n_animals, seed=11)), tmp)
        config = load_config(Path(tmp) / "config" / "config.yaml")
        ped_path, phen_path = Path(tmp) / config.pedigree, Path(tmp) / config.phenotypes
        t0 = time.perf_counter()
        ped = clean_pedigree_stage(ped_path, phen_path, id_column=config.id_column, unknown_parent=config.unknown_parent)
        phen = clean_phenotypes_stage(phen_path, id_column=config.id_column, models=model_columns_params(config.models))
        clean_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rel = relationships_stage(ped.table)
        ainv_s = time.perf_counter() - t0
        spec = next(iter(config.models.values()))
        t0 = time.perf_counter()
        model = build_model(spec, phen.table, id_column=config.id_column, relationships=rel)
        design_s = time.perf_counter() - t0
        summary = evaluate_stage(replace(spec, estimate="none"), model).summary  # the true variances, given
    steps = summary["step_seconds"]
    return {
        "animals": n_animals,
        "records": summary["records"],
        "unknowns": summary["unknowns"],
        "clean_s": round(clean_s, 2),
        "ainv_s": round(ainv_s, 2),
        "design_s": round(design_s, 2),
        **{f"{k}_s": round(v, 2) for k, v in steps.items()},
        "mme_solve_pev_s": round(summary["seconds"], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    subprocess.run([sys.executable, __file__, "--one", "2000"], check=True, capture_output=True)
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = list(rows[0])
    print(f"MME solve with PEV; {platform.machine()}, {len(os.sched_getaffinity(0))} cores")
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
