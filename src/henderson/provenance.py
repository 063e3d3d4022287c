"""Digests of the package's own source, so a workflow reruns what a change in the numerics affects.

Snakemake sees a rule's script, inputs and params, not the package code the script calls. Each rule
passes `code_digest(<modules it uses>)` as a param; editing one of those modules changes the param
and reruns the rule (and what depends on its outputs).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Iterable

from henderson import __version__


def code_digest(modules: Iterable[str], extra_files: Iterable[str] = ()) -> str:
    """`<version>-<sha256 prefix>` over the source of `henderson.<module>` files (and package data
    files named in `extra_files`, e.g. "templates/report.html"), in the order given."""
    digest = hashlib.sha256()
    root = resources.files("henderson")
    for name in list(modules):
        digest.update(name.encode())
        digest.update(root.joinpath(f"{name}.py").read_bytes())
    for name in extra_files:
        digest.update(name.encode())
        digest.update(root.joinpath(name).read_bytes())
    return f"{__version__}-{digest.hexdigest()[:16]}"


STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "clean": ("__init__", "errors", "io", "clean", "pedigree", "model", "pipeline"),
    "relationships": ("__init__", "errors", "io", "pedigree", "pipeline"),
    "variance": ("__init__", "errors", "io", "clean", "model", "design", "mme", "linalg", "reml", "multitrait", "pipeline"),
    "mme": ("__init__", "errors", "io", "clean", "model", "design", "mme", "linalg", "reml", "multitrait", "pipeline"),
    "report": ("__init__", "errors", "io", "report", "pipeline"),
}

STAGE_FILES: dict[str, tuple[str, ...]] = {"report": ("templates/report.html",)}


def stage_digest(stage: str) -> str:
    """Code digest of the modules one workflow stage uses."""
    return code_digest(STAGE_MODULES[stage], STAGE_FILES.get(stage, ()))
