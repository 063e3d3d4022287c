# Stage report: a self-contained HTML report per model.


rule report:
    input:
        unpack(report_inputs),
        unpack(genomic_report_inputs),
        solutions="results/{model}/solutions.parquet",
        components="results/{model}/variance_components.json",
        mme_summary="results/{model}/mme_summary.json",
        trace="results/{model}/reml_trace.parquet",
        clean_summary="results/clean/summary.json",
        rejected="results/clean/rejected.parquet",
        phenotypes="results/clean/phenotypes.parquet",
        phenotypes_file=EVALUATION.phenotypes,
        pedigree_file=EVALUATION.pedigree or [],
    output:
        html=report(
            "results/{model}/report.html",
            caption="../report/report.rst",
            category="Reports",
            subcategory="{model}",
        ),
    log:
        "logs/{model}/report.log",
    benchmark:
        "logs/benchmarks/{model}_report.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=model_params,
        id_column=EVALUATION.id_column,
        pedigree_model=lambda wildcards: pedigree_model_of(wildcards.model) or "",
        code=CODE["report"],
    script:
        "../scripts/report.py"
