# Stage variance: variance components by REML (or the given values), with the iteration trace.


rule variance:
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
    log:
        "logs/{model}/variance.log",
    benchmark:
        "benchmarks/rules/{model}_variance.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=16000,
        runtime=480,
    params:
        model=model_params,
        id_column=EVALUATION.id_column,
        unknown_parent=list(EVALUATION.unknown_parent),
        phenotypes_file=Path(EVALUATION.phenotypes).name,
        code=CODE["variance"],
    script:
        "../scripts/variance.py"
