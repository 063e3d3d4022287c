# henderson: genetic evaluation from pedigree and phenotypes to breeding values and a report.
#   snakemake --cores all                          the evaluation in config/config.yaml
#   snakemake --cores all --directory DIR -s Snakefile   DIR's own config/config.yaml, results in DIR
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/clean.smk"
include: "workflow/rules/genotypes.smk"
include: "workflow/rules/relationships.smk"
include: "workflow/rules/variance.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/animals.smk"


# the run ends when its last job does, not a second later (henderson.scheduler_timers)
onsuccess:
    cancel_scheduler_timers()


onerror:
    cancel_scheduler_timers()


rule all:
    default_target: True
    input:
        expand("results/{model}/variance_components.json", model=MODEL_NAMES),
        expand("results/{model}/solutions.parquet", model=MODEL_NAMES),
        expand("results/{model}/report.html", model=MODEL_NAMES),
        expand("results/{model}/animals.parquet", model=MODEL_NAMES),
        GENOTYPE_OUTPUTS,
