# Stage clean: check the pedigree and the phenotype table; keep every rejected row with its reason.


rule clean_pedigree:
    input:
        pedigree=EVALUATION.pedigree or [],
        phenotypes=EVALUATION.phenotypes,
    output:
        pedigree="results/clean/pedigree.parquet",
        rejected="results/clean/pedigree_rejected.parquet",
        summary="results/clean/pedigree_summary.json",
    log:
        "logs/clean/pedigree.log",
    benchmark:
        "logs/benchmarks/clean_pedigree.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        id_column=EVALUATION.id_column,
        unknown_parent=list(EVALUATION.unknown_parent),
        sexes=EVALUATION.sexes,
        reading=EVALUATION.reading_params(),
        group_codes=GROUP_CODES,
        code=CODE["clean_pedigree"],
    script:
        "../scripts/clean_pedigree.py"


rule clean_phenotypes:
    input:
        unpack(pedigree_clean_outputs),
        phenotypes=EVALUATION.phenotypes,
    output:
        phenotypes="results/clean/phenotypes.parquet",
        rejected="results/clean/rejected.parquet",
        rejected_csv=report(
            "results/clean/rejected.csv",
            caption="../report/rejected.rst",
            category="Data checks",
        ),
        summary=report(
            "results/clean/summary.json",
            caption="../report/clean_summary.rst",
            category="Data checks",
        ),
    log:
        "logs/clean/phenotypes.log",
    benchmark:
        "logs/benchmarks/clean_phenotypes.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        id_column=EVALUATION.id_column,
        models=model_columns_params(EVALUATION.models),
        phenotype_columns=EVALUATION.reading_params()["phenotype_columns"],
        pedigree_file=Path(EVALUATION.pedigree or "").name,
        unknown_parent=list(EVALUATION.unknown_parent),
        sex_column=EVALUATION.pedigree_sex_column,
        sex_codes=EVALUATION.reading_params()["sex_codes"],
        code=CODE["clean_phenotypes"],
    script:
        "../scripts/clean_phenotypes.py"
