"""henderson: genetic evaluation with mixed model equations, usable without Snakemake."""

__version__ = "0.1.0"
