"""Benchmark of the genomic relationships: G and G⁻¹, A22 / A22⁻¹ / H⁻¹, and APY.

Each case runs in its own Python process, which reports seconds per step and its peak resident
memory after each step (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: it sees BLAS and numba
buffers, which tracemalloc does not). Genotype codes are random with a U-shaped allele-frequency
spread (p ~ Beta(0.8, 0.8) clipped to [0.01, 0.99], Hardy–Weinberg codes); pedigrees come from
:func:`henderson.simulate.simulate_pedigree` with the youngest animals genotyped.

    python benchmarks/bench_genomic.py                       # every case at its default size
    python benchmarks/bench_genomic.py --case g --genotyped 10000 --snps 50000
    python benchmarks/bench_genomic.py --case g --genotyped 30000 --snps 2000 [--lapack]
    python benchmarks/bench_genomic.py --case blas --call potrf --genotyped 30000 --threads 2
    python benchmarks/bench_genomic.py --case single_step --animals 100000 --genotyped 20000
    python benchmarks/bench_genomic.py --case ssgblup --animals 100000 --genotyped 10000 --snps 10000
    python benchmarks/bench_genomic.py --case ssgblup_pcg --animals 100000 --genotyped 20000 --snps 10000
    python benchmarks/bench_genomic.py --case ssgblup_pcg --animals 20000 --genotyped 4000 --snps 10000 --samples 50 --exact
    python benchmarks/bench_genomic.py --case apy --genotyped 60000 --core 10000 --snps 10000

Run heavy sizes one at a time: ``flock /tmp/bench.lock python benchmarks/bench_genomic.py ...``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

DEFAULTS = [
    ["--case", "g", "--genotyped", "10000", "--snps", "50000"],
    ["--case", "g", "--genotyped", "10000", "--snps", "50000", "--float32"],
    ["--case", "single_step", "--animals", "100000", "--genotyped", "20000", "--snps", "10000"],
    ["--case", "apy", "--genotyped", "60000", "--core", "10000", "--snps", "10000"],
]


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class _Steps:
    def __init__(self) -> None:
        self.mark = time.perf_counter()

    def __call__(self, step: str, **extra) -> None:
        now = time.perf_counter()
        print(json.dumps({"step": step, "seconds": round(now - self.mark, 2), "peak_gib": round(_peak_gib(), 2), **extra}),
              flush=True)
        self.mark = time.perf_counter()


def random_codes(n: int, m: int, seed: int, rows: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.clip(rng.beta(0.8, 0.8, m), 0.01, 0.99).astype(np.float32)
    codes = np.empty((n, m), dtype=np.int8)
    for i in range(0, n, rows):
        k = min(rows, n - i)
        codes[i : i + k] = (rng.random((k, m), dtype=np.float32) < p).astype(np.int8)
        codes[i : i + k] += rng.random((k, m), dtype=np.float32) < p
    return codes


def case_g(args, step) -> None:
    from henderson.genomic import (
        GenomicOptions,
        adjust_g,
        cholesky_inverse,
        dense,
        vanraden_g,
    )
    from henderson.genomic.vanraden import centred_block, frequencies_for, scale_of

    if args.lapack:  # LAPACK's potrf/potri on the whole matrix, whatever its size
        dense.BLOCKED_SIZE = 2**62
    codes = random_codes(args.genotyped, args.snps, 1)
    step("simulate codes (not part of G)")
    vr = vanraden_g(codes, float32=args.float32)
    flops = args.genotyped**2 * args.snps  # syrk: n(n+1)/2 · m multiply-adds
    step("G = ZZ'/2Σpq", gflop=round(flops / 1e9, 1))
    del codes
    g = vr.g
    if args.float32:  # as genomic_inverse does: single precision for the product only
        g = g.astype(np.float64, order="F")
        del vr
        step("G to double precision")
    g = adjust_g(g, None, GenomicOptions(blend=0.0, ridge=0.01))
    step("G* = G + 0.01 I")
    ginv, _ = cholesky_inverse(g, what="G*", overwrite=True)
    tiled = args.genotyped > dense.BLOCKED_SIZE
    step("G*⁻¹ and log|G*| (Cholesky, " + ("tiled" if tiled else "LAPACK potrf + potri") + ")",
         gflop=round(args.genotyped**3 / 1e9, 1))
    if args.float32:
        return
    # check: G* x = y for x = G*⁻¹ y, with G* y = Z (Z'x)/s + 0.01 x from the codes (never G* itself)
    y = np.random.default_rng(0).normal(size=args.genotyped)
    x = ginv @ y
    del ginv
    codes = random_codes(args.genotyped, args.snps, 1)
    p = frequencies_for(codes, None)
    zx = np.zeros(args.snps)
    for i in range(0, args.genotyped, 4096):
        zx += centred_block(codes[i : i + 4096], p).T @ x[i : i + 4096]
    back = 0.01 * x
    for i in range(0, args.genotyped, 4096):
        back[i : i + 4096] += centred_block(codes[i : i + 4096], p) @ zx / scale_of(p)
    step("check: ‖G* G*⁻¹ y − y‖ / ‖y‖ from the codes", relative_residual=float(np.linalg.norm(back - y) / np.linalg.norm(y)))


def case_blas(args, step) -> None:
    """One OpenBLAS call on an n × n double matrix (n = --genotyped) with --threads threads:
    dsyrk or dgemm (C += Z Z', Z n × --snps) or dpotrf (of 2I with a small first column). A crash
    shows as exit code -11 (the 30k crash, benchmarks/README.md)."""
    from scipy.linalg import blas, lapack
    from threadpoolctl import threadpool_limits

    n, k = args.genotyped, args.snps
    with threadpool_limits(limits=args.threads, user_api="blas"):
        if args.call == "potrf":
            c = np.zeros((n, n), order="F")
            np.fill_diagonal(c, 2.0)
            c[1:, 0] = 0.001
            step("matrix")
            lapack.dpotrf(c, lower=1, overwrite_a=1, clean=0)
        else:
            z = np.asfortranarray(np.random.default_rng(0).normal(size=(n, k)))
            c = np.zeros((n, n), order="F")
            step("matrices")
            if args.call == "syrk":
                blas.dsyrk(1.0, z, beta=1.0, c=c, lower=1, overwrite_c=1)
            else:
                blas.dgemm(1.0, z, z, beta=1.0, c=c, trans_b=1, overwrite_c=1)
        step(f"d{args.call} n={n} k={k} threads={args.threads}")


def case_single_step(args, step) -> None:
    from henderson.genomic import (
        GenomicOptions,
        genomic_inverse,
        pedigree_blocks,
        single_step_parts,
    )
    from henderson.genomic.dense import cholesky_inverse
    from henderson.pedigree import sort_pedigree
    from henderson.simulate import simulate_pedigree

    frame = simulate_pedigree(args.animals, 3, n_generations=max(10, args.animals // 10000))
    unknown = frame["sire"] == "0"
    ped = sort_pedigree(frame["id"].to_numpy(), frame["sire"].where(~unknown, None).to_numpy(),
                        frame["dam"].where(frame["dam"] != "0", None).to_numpy())
    genotyped = ped.ids[-args.genotyped:]
    codes = random_codes(args.genotyped, args.snps, 2)
    step("simulate pedigree and codes (not timed)")
    blocks = pedigree_blocks(ped, genotyped)
    step("pedigree blocks (F, A⁻¹, prune to ancestors)", pruned=blocks.pruned_size)
    a22 = blocks.a22()
    step("A22 (Colleau, dense n_g²)")
    a22inv, logdet_a22 = blocks.a22_inverse()
    step("A22⁻¹ (Schur complement of A⁻¹, sparse Cholesky)")
    _, logdet_check = cholesky_inverse(a22.copy(), what="A22", overwrite=True)
    step("comparison: A22⁻¹ by dense Cholesky of A22", agree=bool(abs(logdet_check - logdet_a22) < 1e-6 * abs(logdet_a22)))
    del a22, a22inv
    opts = GenomicOptions(blend=0.05)
    ginv, logdet_g, diag_g = genomic_inverse(codes, opts, blocks)
    step("G* (VanRaden, blend 0.05 A22) and G*⁻¹")
    parts = single_step_parts(blocks, ginv, logdet_g, diag_g)
    step("H⁻¹ = A⁻¹ + [0 0; 0 G*⁻¹ − A22⁻¹], log|H|, diag(H)", ainv_nnz=int(parts.ainv.nnz),
         dense_block=parts.block.size, diagonal_exact=parts.diagonal_exact)


def _simulated(args):
    """(sorted pedigree, the `--genotyped` youngest animals, their random codes at `--snps` SNPs,
    the records) of ``simulate(SimulationSpec(--animals, seed 3))``, for the ssGBLUP cases."""
    from henderson.pedigree import sort_pedigree
    from henderson.simulate import SimulationSpec, simulate

    data = simulate(SimulationSpec(n_animals=args.animals, seed=3))
    frame = data.pedigree
    known = [[None if v == "0" else v for v in frame[c].astype(str)] for c in ("sire", "dam")]
    ped = sort_pedigree(list(frame["id"].astype(str)), *known)
    return ped, ped.ids[-args.genotyped:], random_codes(args.genotyped, args.snps, 2), data.phenotypes


def _model(records, h):
    """The simulator's model (herd_year + sex, the additive effect with relationship `h`) of its
    trait, and the variances σ²a = 20, σ²e = 40."""
    from henderson.covariance import VarianceComponents
    from henderson.design import additive_effect
    from henderson.model import build_model

    trait = records.columns[-1]
    model = build_model(records, [trait], (("herd_year", "sex"), ()),
                        [additive_effect("animal", records["id"].astype(str), h)])
    return model, VarianceComponents.from_named(model.layout, {"animal": 20.0, "residual": 40.0}, "benchmark")


def case_ssgblup(args, step) -> None:
    """The whole ssGBLUP evaluation of simulated data at given variances: H⁻¹, the model, and its
    solution by CHOLMOD (with PEV from the selected inverse) and by PCG, and one REML evaluation
    (logL, gradient, AI: the cost of one AI-REML iteration)."""
    from henderson.genomic import GenomicOptions, single_step_relationship
    from henderson.reml.objective import Objective
    from henderson.solutions import solve

    ped, genotyped, codes, records = _simulated(args)
    step("simulate pedigree, records and codes (not timed)", records=len(records))
    h = single_step_relationship(ped, genotyped, codes, GenomicOptions(blend=0.05))
    step("H⁻¹, log|H|, diag(H) (A22, A22⁻¹, G*, G*⁻¹ included)", ainv_nnz=int(h.kinv.nnz), dense_block=h.dense.size)
    model, vc = _model(records, h)
    step("model (designs, W'W)", unknowns=model.n_unknowns)
    exact = solve(model, vc, solver="cholesky")
    step("solve by CHOLMOD with PEV (selected inverse)", seconds_by_step=exact.seconds)
    pcg = solve(model, vc, solver="pcg")  # reliabilities sampled (200 samples): H has no approximation
    step("solve by PCG", iterations=pcg.solver.get("iterations"))
    a = exact.table[exact.table["effect"] == "animal"]["estimate"].to_numpy()
    b = pcg.table[pcg.table["effect"] == "animal"]["estimate"].to_numpy()
    step("compare", max_relative_difference=float(np.max(np.abs(a - b)) / np.max(np.abs(a))))
    objective = Objective(model, "cholesky")
    objective.evaluate(vc.theta)
    step("one REML evaluation (logL, gradient, AI)")


def case_ssgblup_pcg(args, step) -> None:
    """ssGBLUP solved by PCG with the genotyped block D = G*⁻¹ − A22⁻¹ as an operator (never in
    a sparse matrix), step by step: G*, G*⁻¹, A22⁻¹ and D, the PCG solve, with `--probes`
    one Monte Carlo REML evaluation (sampled traces through the operator), and with `--samples`
    sampled reliabilities (u ~ N(0, H) drawn from H⁻¹: its preparation timed apart, then the
    whole sampled run by PCG), with `--exact` against the exact ones of CHOLMOD's selected
    inverse."""
    from henderson.genomic import (
        GenomicOptions,
        adjust_g,
        cholesky_inverse,
        pedigree_blocks,
        single_step_parts,
        vanraden_g,
    )
    from henderson.relationship import Relationship
    from henderson.reml.objective import Objective
    from henderson.solutions import solve

    ped, genotyped, codes, records = _simulated(args)
    step("simulate pedigree, records and codes (not timed)", records=len(records))
    options = GenomicOptions(blend=0.05)
    blocks = pedigree_blocks(ped, genotyped)
    step("pedigree blocks (F, A⁻¹, prune to ancestors)", pruned=blocks.pruned_size)
    g = vanraden_g(codes, None).g
    step("G (VanRaden)", gflop=round(args.genotyped**2 * args.snps / 1e9, 1))
    g = adjust_g(g, blocks, options)
    diag_g = np.diagonal(g).copy()
    step("G* in place: A22 by Colleau a block of columns at a time, blend 0.05")
    ginv, logdet_g = cholesky_inverse(g, what="G*", overwrite=True)
    del g
    step("G*⁻¹ and log|G*| (dense Cholesky, in place)", gflop=round(args.genotyped**3 / 1e9, 1))
    parts = single_step_parts(blocks, ginv, logdet_g, diag_g, max_factor_entries=options.max_factor_entries)
    del ginv
    step("A22⁻¹ and D = G*⁻¹ − A22⁻¹ in place, log|H|, diag(H)",
         dense_block_gib=round(parts.block.matrix.nbytes / 2**30, 2), diagonal_exact=parts.diagonal_exact)
    h = Relationship(kind="single_step", levels=blocks.ids, kinv=parts.ainv, logdet=parts.logdet,
                     diagonal=parts.diagonal, dense=parts.block)
    model, vc = _model(records, h)
    step("model (designs, W'W)", unknowns=model.n_unknowns)
    pcg = solve(model, vc, solver="pcg", pev=False)
    step("solve by PCG, D as an operator (tolerance 1e-10)", iterations=pcg.solver.get("iterations"),
         relative_residual=pcg.solver.get("relative_residual"),
         operator=[b["levels"] for b in pcg.solver.get("dense_blocks", [])])
    if args.probes:
        objective = Objective(model, "pcg", probes=args.probes, seed=1, trace_tolerance=1e-6)
        ev = objective.evaluate(vc.theta)
        step(f"one Monte Carlo REML evaluation ({args.probes} probes: gradient, AI)",
             iterations=objective.solver.iterations, gradient=[round(float(v), 4) for v in ev.gradient])
    if args.samples:
        _sampled_reliabilities(args, step, model, vc, h)


def _sampled_reliabilities(args, step, model, vc, h) -> None:
    """Sampled reliabilities of the ssGBLUP model by PCG (`--samples`), and with `--exact` the
    exact ones by CHOLMOD (dense block merged) for comparison."""
    from henderson.reliability.genomic_draws import genomic_draws
    from henderson.solutions import solve

    draws = genomic_draws(h)
    step("draw preparation alone: factor of A¹¹, P = G*⁻¹ (n_g²), its Cholesky",
         ungenotyped=int(draws.rest.size), genotyped=int(draws.positions.size))
    del draws
    sampled = solve(model, vc, solver="pcg", reliability="auto", samples=args.samples)
    info = sampled.solver["reliability"]
    step(f"solve by PCG + sampled reliabilities ({args.samples} samples, reliability: auto)",
         method=info["method"], reliability_seconds=sampled.seconds.get("reliability"),
         sample_iterations=info.get("iterations"), mean_mc_se=round(info.get("mean_mc_se") or float("nan"), 4))
    if not args.exact:
        return
    exact = solve(model, vc, solver="cholesky")
    step("solve by CHOLMOD with exact PEV (selected inverse)", seconds_by_step=exact.seconds)
    rows = (exact.table["effect"] == "animal").to_numpy()
    r_exact = exact.table["reliability"].to_numpy()[rows]
    r_sampled = sampled.table["reliability"].to_numpy()[rows]
    mc_se = sampled.table["reliability_mc_se"].to_numpy()[rows]
    spread = mc_se > 0
    z = (r_sampled - r_exact)[spread] / mc_se[spread]
    step("compare sampled with exact reliabilities", animals=int(rows.sum()),
         correlation=round(float(np.corrcoef(r_sampled, r_exact)[0, 1]), 4),
         mean_bias=round(float(np.mean(r_sampled - r_exact)), 4),
         mean_abs_difference=round(float(np.mean(np.abs(r_sampled - r_exact))), 4),
         within_3_mc_se=round(float(np.mean(np.abs(z) < 3)), 4))


def case_ssgblup_apy(args, step) -> None:
    """ssGBLUP with APY solved by PCG, H⁻¹ = A⁻¹ + [0 0; 0 G_APY⁻¹ − A22⁻¹] held as products
    (:class:`henderson.genomic.singlestep.SingleStepBlock`): G_APY⁻¹ in factored form (core
    `--core` animals drawn at random) and A22⁻¹ from the sparse factor of A¹¹, no n_g × n_g
    array; then the PCG solve."""
    from henderson.genomic import GenomicOptions, single_step_relationship
    from henderson.solutions import solve

    ped, genotyped, codes, records = _simulated(args)
    step("simulate pedigree, records and codes (not timed)", records=len(records))
    options = GenomicOptions(blend=0.05, apy="always", apy_core=args.core)
    h = single_step_relationship(ped, genotyped, codes, options)
    step("H⁻¹ with APY: G_APY⁻¹ factored, A22⁻¹ as products, log|H|, diag(H)",
         block=type(h.dense).__name__, diagonal_exact=not h.notes)
    model, vc = _model(records, h)
    step("model (designs, W'W)", unknowns=model.n_unknowns)
    pcg = solve(model, vc, solver="pcg", pev=False)
    step("solve by PCG, D as products (tolerance 1e-10)", iterations=pcg.solver.get("iterations"),
         relative_residual=pcg.solver.get("relative_residual"))


def case_apy(args, step) -> None:
    from henderson.genomic import GenomicOptions, genomic_inverse

    codes = random_codes(args.genotyped, args.snps, 3)
    step("simulate codes (not timed)")
    opts = GenomicOptions(blend=0.0, ridge=0.01, apy="always", apy_core=args.core)
    inv, _, _ = genomic_inverse(codes, opts)
    step("APY: Gcc, Gcn, diag(Gnn), Gcc⁻¹, M (factored G_APY⁻¹)",
         gflop=round(2 * args.core * args.genotyped * args.snps / 1e9, 1))
    x = np.random.default_rng(0).normal(size=args.genotyped)
    inv.matvec(x)
    step("G_APY⁻¹ x (one product)")


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=["g", "blas", "single_step", "ssgblup", "ssgblup_pcg", "ssgblup_apy", "apy"], required=True)
    parser.add_argument("--genotyped", type=int, default=10000)
    parser.add_argument("--snps", type=int, default=50000)
    parser.add_argument("--animals", type=int, default=100000)
    parser.add_argument("--core", type=int, default=10000)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--probes", type=int, default=0)
    parser.add_argument("--samples", type=int, default=0, help="case ssgblup_pcg: sampled reliabilities")
    parser.add_argument("--exact", action="store_true", help="case ssgblup_pcg with --samples: against CHOLMOD")
    parser.add_argument("--lapack", action="store_true", help="case g: LAPACK's potrf/potri whatever the size")
    parser.add_argument("--call", choices=["syrk", "gemm", "potrf"], default="potrf", help="case blas")
    parser.add_argument("--threads", type=int, default=2, help="case blas")
    args = parser.parse_args(argv)
    step = _Steps()
    cases = {"g": case_g, "blas": case_blas, "single_step": case_single_step, "ssgblup": case_ssgblup, "ssgblup_pcg": case_ssgblup_pcg,
             "ssgblup_apy": case_ssgblup_apy, "apy": case_apy}
    cases[args.case](args, step)


def run(argv: list[str]) -> None:
    label = " ".join(argv)
    print(f"\n## {label}")
    print(f"{'step':<58} {'seconds':>9} {'peak GiB':>9}  notes")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", *argv], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        row = json.loads(line)
        notes = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("step", "seconds", "peak_gib"))
        print(f"{row['step']:<58} {row['seconds']:>9.2f} {row['peak_gib']:>9.2f}  {notes}", flush=True)
    if proc.wait() != 0:
        print(f"(failed with exit code {proc.returncode})")
    print(f"{'total (including simulation)':<58} {time.perf_counter() - start:>9.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    for argv in [sys.argv[1:]] if len(sys.argv) > 1 else DEFAULTS:
        run(argv)


if __name__ == "__main__":
    main()
