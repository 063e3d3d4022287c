# Stage clean, genotypes: read the genotype file, run the QC against the cleaned pedigree, keep
# an int8 matrix with its IDs and SNPs; every removed SNP, animal and conflicting pair is listed.


rule clean_genotypes:
    input:
        unpack(genotype_inputs),
    output:
        matrix="results/clean/genotypes.npy",
        meta="results/clean/genotypes.npy.meta.json",
        ids="results/clean/genotypes.ids.parquet",
        snps="results/clean/genotypes.snps.parquet",
        rejected="results/clean/genotypes_rejected.parquet",
        summary="results/clean/genotype_qc.json",
    log:
        "logs/clean/genotypes.log",
    benchmark:
        "logs/benchmarks/clean_genotypes.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=genotypes_mem_mb,
        runtime=60,
    params:
        genotypes=EVALUATION.genotypes,
        qc=EVALUATION.genotype_qc,
        id_column=EVALUATION.id_column,
        code=CODE["clean_genotypes"],
    script:
        "../scripts/clean_genotypes.py"
