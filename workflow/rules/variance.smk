# Stage variance: variance components by REML (or the given values), the iteration trace, and the
# solutions with standard errors and reliabilities from the same equations (the factor at the
# estimates is not rebuilt by another job).


rule variance:
    wildcard_constraints:
        model="|".join(m for m in MODEL_NAMES if m not in GENOMIC_MODELS) or NO_MODEL,
    input:
        unpack(relationship_inputs),
        phenotypes="results/clean/phenotypes.parquet",
    output:
        components=report(
            "results/{model}/variance_components.json",
            caption="../report/variance_components.rst",
            category="Variance components",
            subcategory="{model}",
        ),
        trace="results/{model}/reml_trace.parquet",
        solutions="results/{model}/solutions.parquet",
        summary="results/{model}/mme_summary.json",
    log:
        "logs/{model}/variance.log",
    benchmark:
        "logs/benchmarks/{model}_variance.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=variance_mem_mb,
        runtime=480,
    params:
        model=model_params,
        id_column=EVALUATION.id_column,
        unknown_parent=list(EVALUATION.unknown_parent),
        phenotypes_file=Path(EVALUATION.phenotypes).name,
        code=CODE["variance"],
    script:
        "../scripts/variance.py"


# A genomic or single-step model: the same job, which also back-solves the SNP effects from the
# GEBV of the genotyped animals.
use rule variance as variance_genomic with:
    wildcard_constraints:
        model="|".join(GENOMIC_MODELS) or NO_MODEL,
    # G, G*⁻¹ and A22⁻¹ are dense BLAS work: as many threads as the run allows (scaled down to --cores)
    threads: 8
    output:
        components=report(
            "results/{model}/variance_components.json",
            caption="../report/variance_components.rst",
            category="Variance components",
            subcategory="{model}",
        ),
        trace="results/{model}/reml_trace.parquet",
        solutions="results/{model}/solutions.parquet",
        summary="results/{model}/mme_summary.json",
        snp_effects="results/{model}/snp_effects.parquet",
