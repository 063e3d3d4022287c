"""The evaluation's stages, one module per workflow rule (the report's is
:mod:`henderson.report`): each public function takes paths, tables or typed records and returns
what its rule writes; none needs Snakemake.

    clean (clean_pedigree_stage, clean_phenotypes_stage, summarise_clean;
           genotypes: clean_genotypes_stage)
      → relationships (relationships_stage)
      → evaluate (load_model, evaluate_stage)
      → report (henderson.report.render_report)
"""
