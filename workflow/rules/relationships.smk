# Stage relationships: sort the pedigree, inbreeding, A-inverse. Built once, shared by every model.
# With `groups:` in the config also the unknown parent groups (or metafounders) and K-inverse over
# the animals and groups.


rule relationships:
    input:
        pedigree="results/clean/pedigree.parquet",
        **GROUP_INPUTS,
    output:
        ainv="results/relationships/ainv.npz",
        ainv_meta="results/relationships/ainv.npz.meta.json",
        inbreeding="results/relationships/inbreeding.parquet",
        summary="results/relationships/summary.json",
        **GROUP_OUTPUTS,
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
        groups=GROUPS_PARAMS,
        pedigree_columns=GROUP_PEDIGREE_COLUMNS,
        code=CODE["relationships"],
    script:
        "../scripts/relationships.py"
