# Configuration validation, constants and input functions; no rules here.
import os
import sys
from pathlib import Path

SRC = Path(workflow.basedir) / "src"
# Rule scripts run in their own interpreter: let them import the package from this checkout even
# when it is not installed (e.g. under --software-deployment-method conda).
# (Each job re-reads this file, so the setting also holds for cluster jobs.)
os.environ.update(
    {
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(SRC), os.environ.get("PYTHONPATH", "")] if p
        )
    }
)
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from henderson.errors import HendersonError
from henderson.config import model_columns_params, validate_config
from henderson.provenance import digest_cache_path, script_digests
from henderson.scheduler_timers import cancel_scheduler_timers

try:
    EVALUATION = validate_config(config, source="config/config.yaml")
except HendersonError as error:
    raise WorkflowError(str(error)) from None

MODEL_NAMES = sorted(EVALUATION.models)
HAS_PEDIGREE = EVALUATION.pedigree is not None
HAS_GENOTYPES = EVALUATION.genotypes is not None
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
# the package code each rule's script runs (a rerun trigger when it changes); the parses are
# kept beside the package's byte code, so a start in any directory reparses only edited files
CODE = script_digests(
    {
        "clean_pedigree": (SCRIPTS / "clean_pedigree.py", []),
        "clean_phenotypes": (SCRIPTS / "clean_phenotypes.py", []),
        "relationships": (SCRIPTS / "relationships.py", []),
        "variance": (SCRIPTS / "variance.py", []),
        "report": (SCRIPTS / "report.py", ["templates/report.html"]),
        "animals": (SCRIPTS / "animals.py", []),
        "clean_genotypes": (SCRIPTS / "clean_genotypes.py", []),
    },
    cache=digest_cache_path(),
)
ENV = "../../envs/henderson.yaml"
# unknown parent groups: the relationships rule's extra outputs (and the raw pedigree when the
# group rules read one of its columns); the groups block reaches the script as a param
GROUPS = EVALUATION.groups
GROUPS_PARAMS = GROUPS.to_dict() if GROUPS is not None else None
# explicit group codes stand for unknown parents in the pedigree checks
GROUP_CODES = list(GROUPS.codes) if GROUPS is not None and GROUPS.assign == "explicit" else []
GROUP_OUTPUTS = (
    {
        "groups": "results/relationships/groups.parquet",
        "group_pedigree": "results/relationships/group_pedigree.parquet",
        "ainv_groups": "results/relationships/ainv_groups.npz",
        "ainv_groups_meta": "results/relationships/ainv_groups.npz.meta.json",
    }
    if GROUPS is not None
    else {}
)
GROUP_INPUTS = (
    {"raw_pedigree": EVALUATION.pedigree} if GROUPS is not None and GROUPS.columns else {}
)
# how the raw pedigree is read, only for rules that read one of its columns (a rerun trigger)
GROUP_PEDIGREE_COLUMNS = (
    EVALUATION.reading_params()["pedigree_columns"] if GROUP_INPUTS else None
)
# Γ of metafounders estimated from the clean genotypes
if GROUPS is not None and GROUPS.estimate_gamma:
    GROUP_INPUTS["genotypes"] = "results/clean/genotypes.npy"
    GROUP_INPUTS["genotype_ids"] = "results/clean/genotypes.ids.parquet"
    GROUP_INPUTS["genotype_snps"] = "results/clean/genotypes.snps.parquet"



wildcard_constraints:
    model="|".join(MODEL_NAMES) if MODEL_NAMES else "[A-Za-z][A-Za-z0-9_-]*",


def model_params(wildcards):
    """The model's validated config block (a rerun trigger for that model's rules only)."""
    return EVALUATION.models[wildcards.model].to_dict()


# models whose additive effect has a genomic (GBLUP) or single-step relationship: their
# variance job also writes the SNP effects (rule variance_genomic)
GENOMIC_MODELS = [m for m in MODEL_NAMES if EVALUATION.models[m].relationship != "pedigree"]
NO_MODEL = "(?!)"  # a wildcard pattern that matches nothing


def relationship_inputs(wildcards):
    """A⁻¹ and inbreeding, for models with an additive genetic effect (when there is a
    pedigree), and the clean genotypes for genomic and single-step models."""
    spec = EVALUATION.models[wildcards.model]
    if spec.additive is None:
        return {}
    inputs = {}
    if HAS_PEDIGREE:
        inputs = {
            "ainv": "results/relationships/ainv.npz",
            "ainv_meta": "results/relationships/ainv.npz.meta.json",
            "inbreeding": "results/relationships/inbreeding.parquet",
            **{k: v for k, v in GROUP_OUTPUTS.items() if k in ("ainv_groups", "group_pedigree")},
        }
    if spec.relationship != "pedigree":
        inputs.update(
            genotypes="results/clean/genotypes.npy",
            genotype_ids="results/clean/genotypes.ids.parquet",
            genotype_snps="results/clean/genotypes.snps.parquet",
        )
    return inputs


def pedigree_clean_outputs(wildcards):
    """The cleaned pedigree, its rejected rows and summary, for the phenotype cleaning (if there
    is a pedigree): dams and sexes of the records are compared with the pedigree's."""
    if not HAS_PEDIGREE:
        return {}
    return {
        "pedigree": "results/clean/pedigree.parquet",
        "pedigree_rejected": "results/clean/pedigree_rejected.parquet",
        "pedigree_summary": "results/clean/pedigree_summary.json",
    }


def animals_inputs(wildcards):
    """The cleaned pedigree and inbreeding, when the evaluation has a pedigree."""
    if not HAS_PEDIGREE:
        return {}
    return {
        "pedigree": "results/clean/pedigree.parquet",
        "inbreeding": "results/relationships/inbreeding.parquet",
    }


def pedigree_model_of(name):
    """For a genomic or single-step model: the first pedigree model with the same traits and an
    additive effect (its EBV are compared with the GEBV in the report), or None."""
    spec = EVALUATION.models[name]
    if spec.relationship == "pedigree":
        return None
    for other in MODEL_NAMES:
        o = EVALUATION.models[other]
        if o.relationship == "pedigree" and o.additive is not None and o.traits == spec.traits:
            return other
    return None


def genomic_report_inputs(wildcards):
    """The genotype QC summary (when there are genotypes) and, for a genomic model, the genotyped
    IDs and the solutions of a pedigree model of the same traits."""
    if not HAS_GENOTYPES:
        return {}
    inputs = {"genotype_qc": "results/clean/genotype_qc.json"}
    if EVALUATION.models[wildcards.model].relationship != "pedigree":
        inputs["genotype_ids"] = "results/clean/genotypes.ids.parquet"
        other = pedigree_model_of(wildcards.model)
        if other is not None:
            inputs["pedigree_solutions"] = f"results/{other}/solutions.parquet"
    return inputs


def report_inputs(wildcards):
    """Pedigree-side inputs of a model's report, when the evaluation has a pedigree."""
    if not HAS_PEDIGREE:
        return {}
    return {
        "pedigree": "results/clean/pedigree.parquet",
        "inbreeding": "results/relationships/inbreeding.parquet",
        "relationships": "results/relationships/summary.json",
        **(
            {
                "groups": GROUP_OUTPUTS["groups"],
                "groups_meta": GROUP_OUTPUTS["ainv_groups_meta"],
            }
            if GROUP_OUTPUTS
            else {}
        ),
    }


def variance_mem_mb(wildcards, input, attempt):
    """Memory for the model's equations and their factor, in proportion to the inputs
    (A⁻¹ as stored, inbreeding, phenotypes; about 10 MB at 100k animals): at 100k animals the
    stage peaked at about 50 MB per MB of input for a one-trait model and 220 for two traits with
    maternal effects (benchmarks/README.md); 100 per MB, at least 4 GB, doubled on a retry."""
    return int(max(4000, 100 * input.size_mb) * attempt)


# Genotypes, when the config sets `genotypes`: the outputs of clean_genotypes (genotypes.smk).
GENOTYPE_OUTPUTS = (
    [
        "results/clean/genotypes.npy",
        "results/clean/genotypes.ids.parquet",
        "results/clean/genotypes.snps.parquet",
        "results/clean/genotype_qc.json",
    ]
    if HAS_GENOTYPES
    else []
)


def genotype_inputs(wildcards):
    """The genotype file (or the PLINK .bed, .bim and .fam), and the cleaned pedigree when there
    is one (parent–offspring conflicts, genotyped animals not in the pedigree)."""
    from henderson.genotypes import genotype_source

    inputs = {"genotypes": list(genotype_source(EVALUATION.genotypes).files)}
    if HAS_PEDIGREE:
        inputs["pedigree"] = "results/clean/pedigree.parquet"
    return inputs


def genotypes_mem_mb(wildcards, input, attempt):
    """Memory of the genotype QC, from the input's size: at 10,000 animals × 50,000 SNPs the
    stage peaked at about 2.5 times a CSV file's size and 14 times a .bed file's (the int8 matrix
    is 4 times the .bed; benchmarks/README.md); 4 and 16 times, at least 4 GB, doubled on a retry."""
    from henderson.genotypes import genotype_source

    factor = 16 if genotype_source(EVALUATION.genotypes).kind == "plink" else 4
    return int(max(4000, factor * input.size_mb) * attempt)
