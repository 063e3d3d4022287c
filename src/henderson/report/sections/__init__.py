"""The report's sections, each built as plain data (:class:`henderson.report.format.Table`,
:class:`henderson.report.format.Plot`, strings) for the template: the model (:mod:`.model`),
data and pedigree (:mod:`.inputs`), variances and REML (:mod:`.variances`), and the solutions
(:mod:`.solutions`)."""
