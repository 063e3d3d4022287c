# Stage relationships: sort the pedigree, inbreeding, A-inverse. Built once, shared by every model.


rule relationships:
    input:
        pedigree="results/clean/pedigree.parquet",
    output:
        ainv="results/relationships/ainv.npz",
        ainv_meta="results/relationships/ainv.npz.meta.json",
        inbreeding="results/relationships/inbreeding.parquet",
        summary="results/relationships/summary.json",
    log:
        "logs/relationships/relationships.log",
    benchmark:
        "logs/benchmarks/relationships.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        code=CODE["relationships"],
    script:
        "../scripts/relationships.py"
