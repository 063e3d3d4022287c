# Stage mme: design matrices, mixed model equations, solutions with standard errors and reliabilities.


rule mme:
    input:
        unpack(relationship_inputs),
        phenotypes="results/clean/phenotypes.parquet",
        components="results/{model}/variance_components.json",
    output:
        solutions=report(
            "results/{model}/solutions.parquet",
            caption="../report/solutions.rst",
            category="Solutions",
            subcategory="{model}",
        ),
        summary="results/{model}/mme_summary.json",
    log:
        "logs/{model}/mme.log",
    benchmark:
        "benchmarks/rules/{model}_mme.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        model=model_params,
        id_column=EVALUATION.id_column,
        unknown_parent=list(EVALUATION.unknown_parent),
        phenotypes_file=Path(EVALUATION.phenotypes).name,
        code=CODE["mme"],
    script:
        "../scripts/mme.py"
