"""Command line of the simulator: ``python -m henderson.simulate`` / ``henderson-simulate``."""

from __future__ import annotations

import argparse
import re
import sys

from henderson.errors import HendersonError
from henderson.simulate.genotypes import HISTORY_SIZE
from henderson.simulate.phenotypes import simulate
from henderson.simulate.spec import SELECTION_METHODS, SimulationSpec
from henderson.simulate.write import write_simulation


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="henderson-simulate",
        description=(
            "Simulate a pedigree, phenotypes and true breeding values, and write pedigree.csv, "
            "phenotypes.csv, truth.csv, truth.json and config/config.yaml (a henderson "
            "configuration that evaluates them at the true variances) into --out."
        ),
    )
    add = parser.add_argument
    add("--animals", type=int, required=True, metavar="N", help="number of animals (pedigree rows)")
    add("--seed", type=int, required=True, metavar="S", help="random seed (same seed, same files)")
    add("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    add("--generations", type=int, default=10, metavar="G", help="yearly birth cohorts (default 10)")
    add("--herds", type=int, default=20, metavar="H", help="number of herds (default 20)")
    add("--traits", type=int, default=1, metavar="T", help="number of traits (default 1)")
    parser.add_argument(
        "--maternal", action="store_true", help="add a maternal genetic effect of the dam"
    )
    parser.add_argument(
        "--records-per-animal", type=int, default=1, metavar="K",
        help="records per phenotyped animal; above 1 adds a permanent environment effect",
    )
    parser.add_argument(
        "--h2", type=float, default=None, metavar="H2",
        help="heritability; sets the residual variances (default: sigma2_a 20, sigma2_e 40)",
    )
    parser.add_argument(
        "--selection", choices=SELECTION_METHODS, default="phenotype",
        help="how parents are chosen: truncation on own phenotype (default), on true BV, or none",
    )
    parser.add_argument(
        "--fraction-phenotyped", type=float, default=0.8, metavar="P",
        help="fraction of animals with records (default 0.8)",
    )
    parser.add_argument(
        "--missing-fraction", type=float, default=None, metavar="P",
        help="fraction of trait values missing per record (default 0.1 with several traits)",
    )
    parser.add_argument(
        "--genotyped", type=float, default=0.0, metavar="F",
        help="fraction of animals with SNP genotypes (with --snps; writes genotypes.csv and snps.csv)",
    )
    parser.add_argument("--snps", type=int, default=0, metavar="M", help="number of SNPs (with --genotyped)")
    parser.add_argument(
        "--ld", action="store_true",
        help="SNPs linked on 10 chromosomes of 1 Morgan (recombination); default unlinked",
    )
    parser.add_argument(
        "--qtl", type=int, default=0, metavar="K",
        help=("true breeding values from K QTL dropped through the pedigree beside the SNPs (not on "
              "the panel; writes qtl.csv); default 0: polygenic values"),
    )
    parser.add_argument(
        "--history", type=int, default=0, metavar="T",
        help=(f"base haplotypes from T generations of random mating in a historical population of "
              f"{HISTORY_SIZE} animals (LD and drift before the pedigree, with --snps or --qtl); "
              "default 0: alleles drawn independently"),
    )
    parser.add_argument(
        "--genotype-format", choices=("csv", "plink"), default="csv",
        help="genotypes.csv (default) or PLINK genotypes.bed/.bim/.fam",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 2 bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and message (or --help)
        return int(exc.code or 0)
    try:
        spec = SimulationSpec(
            n_animals=args.animals, seed=args.seed, n_generations=args.generations,
            n_herds=args.herds, traits=args.traits, maternal=args.maternal,
            records_per_animal=args.records_per_animal, h2=args.h2, selection=args.selection,
            fraction_phenotyped=args.fraction_phenotyped, missing_fraction=args.missing_fraction,
            genotyped=args.genotyped, snps=args.snps, ld=args.ld, genotype_format=args.genotype_format,
            qtl=args.qtl, history=args.history,
        )
        data = simulate(spec)
        write_simulation(data, args.out)
    except HendersonError as exc:
        message = re.sub(r"SimulationSpec\.(\w+)", lambda m: _FLAGS.get(m.group(1), m.group(1)), str(exc))
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    summary = data.parameters["summary"]
    print(
        f"wrote {summary['n_animals']} animals, {summary['n_records']} records "
        f"(mean inbreeding {summary['mean_inbreeding']:.4f}) to {args.out}"
    )
    return 0


_FLAGS = {
    "n_animals": "--animals", "n_generations": "--generations", "n_herds": "--herds",
    "records_per_animal": "--records-per-animal", "fraction_phenotyped": "--fraction-phenotyped",
    "missing_fraction": "--missing-fraction", "traits": "--traits", "seed": "--seed", "h2": "--h2",
    "residual_covariance": "the residual covariance", "genotyped": "--genotyped", "snps": "--snps",
    "genotype_format": "--genotype-format", "qtl": "--qtl", "history": "--history",
}
