"""Time the whole workflow (snakemake) on simulated data: seconds and peak memory per rule, and
end to end.

Data: ``python -m henderson.simulate --animals N --seed S`` (10 yearly cohorts, 20 herds, 80 % of
the animals with one record; σ²_a = 20, σ²_e = 40), evaluated with the simulator's own model
(herd_year + sex fixed, age covariate, additive animal effect). ``--estimate ai`` (default)
estimates the variances by AI-REML from the simulated values; ``none`` uses them as given.
Extra simulator options (``--traits 2 --maternal``) pass through ``--simulate``.

Each run is a fresh directory: ``snakemake -s <repo>/Snakefile --directory <dir> --cores C``.
Per-rule seconds and peak RSS come from Snakemake's ``benchmark:`` files (wall-clock ``s`` and
``max_rss`` of the rule's process); "end to end" is the wall-clock time of the whole snakemake
call, including its own start-up and the DAG. ``--repo`` measures another checkout (e.g. an older
commit, for a before/after table).

Usage: python benchmarks/bench_workflow.py [--animals 100000] [--seed 1] [--cores 2]
           [--estimate ai|none] [--solver auto|cholesky|pcg] [--repo .] [--keep DIR]
           [--simulate "--traits 2 --maternal"]
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _set_estimate(config: Path, estimate: str, solver: str | None = None) -> None:
    text = config.read_text(encoding="utf-8")
    replacement = f"estimate: {estimate}" + (f"\n    solver: {solver}" if solver else "")
    config.write_text(re.sub(r"estimate: \w+", replacement, text), encoding="utf-8")


def _rule_benchmarks(directory: Path) -> list[tuple[str, float, float]]:
    """(rule file stem, seconds, max RSS MiB) of every benchmark file Snakemake wrote."""
    out = []
    for path in sorted(directory.rglob("*.tsv")):
        if "benchmark" not in str(path.relative_to(directory)):
            continue
        with open(path, encoding="utf-8") as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        rss = row.get("max_rss", "NA")
        out.append((path.stem, float(row["s"]), float(rss) if rss not in ("NA", "-") else float("nan")))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--estimate", choices=["ai", "em", "none"], default="ai")
    parser.add_argument("--solver", choices=["auto", "cholesky", "pcg"], help="the models' solver (default: the config's)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose Snakefile runs")
    parser.add_argument("--keep", type=Path, default=None, help="run in this directory and keep it")
    parser.add_argument("--simulate", default="", help="extra simulator arguments")
    args = parser.parse_args(argv)

    work = args.keep if args.keep else Path(tempfile.mkdtemp(prefix="henderson-bench-"))
    if work.exists() and args.keep:
        shutil.rmtree(work)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "henderson.simulate", "--animals", str(args.animals), "--seed", str(args.seed),
         "--out", str(work), *shlex.split(args.simulate)],
        check=True, cwd=args.repo, env=_env(args.repo),
    )
    simulated = time.perf_counter() - start
    _set_estimate(work / "config" / "config.yaml", args.estimate, args.solver)
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(args.repo / "Snakefile"), "--directory", str(work),
         "--cores", str(args.cores), "--quiet", "rules"],
        cwd=work, env=_env(args.repo), capture_output=True, text=True, check=False,
    )
    total = time.perf_counter() - start
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
        return run.returncode
    rows = _rule_benchmarks(work)
    print(f"animals {args.animals:,}, seed {args.seed}, estimate {args.estimate}, cores {args.cores}, "
          f"repo {args.repo}; simulation {simulated:.1f} s (not counted)\n")
    print("| rule | seconds | peak RSS (MiB) |")
    print("|---|---:|---:|")
    for name, seconds, rss in rows:
        print(f"| {name} | {seconds:.1f} | {rss:.0f} |")
    print(f"| **end to end** (snakemake call) | **{total:.1f}** | |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _env(repo: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(repo / "src"), env.get("PYTHONPATH", "")] if p)
    return env


if __name__ == "__main__":
    raise SystemExit(main())
