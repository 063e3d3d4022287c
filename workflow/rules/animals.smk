# Stage animals: one row per animal (pedigree, F, records, progeny, EBVs with SE, reliability and
# accuracy) as Parquet and CSV, and a CSV copy of the solutions.


rule animals:
    input:
        unpack(animals_inputs),
        solutions="results/{model}/solutions.parquet",
        phenotypes="results/clean/phenotypes.parquet",
    output:
        animals="results/{model}/animals.parquet",
        animals_csv=report(
            "results/{model}/animals.csv",
            caption="../report/animals.rst",
            category="Animals",
            subcategory="{model}",
        ),
        solutions_csv=report(
            "results/{model}/solutions.csv",
            caption="../report/solutions.rst",
            category="Solutions",
            subcategory="{model}",
        ),
    log:
        "logs/{model}/animals.log",
    benchmark:
        "logs/benchmarks/{model}_animals.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        model=model_params,
        id_column=EVALUATION.id_column,
        phenotypes_file=Path(EVALUATION.phenotypes).name,
        code=CODE["animals"],
    script:
        "../scripts/animals.py"
