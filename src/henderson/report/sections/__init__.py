"""The report's sections, each built as plain data (:class:`henderson.report.format.Table`,
:class:`henderson.report.format.Plot`, strings) for the template: the model (:mod:`.model`),
data and pedigree (:mod:`.inputs`), their quality (:mod:`.quality`), variances and REML
(:mod:`.variances`), the solutions (:mod:`.solutions`), fixed effects (:mod:`.fixed`) and
provenance (:mod:`.provenance`)."""
