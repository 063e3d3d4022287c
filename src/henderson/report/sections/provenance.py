"""The provenance section: when the report was made, from which input files (SHA-256), with
which package versions, and the model's configuration block as YAML."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from henderson.config import ModelSpec
from henderson.report.format import Table, text
from henderson.report.runinfo import RunInfo


def _plain(value: Any) -> Any:
    """Mappings, sequences and numpy scalars as plain dicts, lists and Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def config_yaml(model_name: str, spec: ModelSpec) -> str:
    """The model's config block (:meth:`ModelSpec.to_dict`) as YAML under ``models:``, in the
    config's key order; matrices on one line per matrix."""
    block = {"models": {model_name: _plain(spec.to_dict())}}
    return yaml.safe_dump(block, sort_keys=False, allow_unicode=True, default_flow_style=None,
                          width=100)


def provenance_section(model_name: str, spec: ModelSpec, run_info: RunInfo | None) -> dict[str, Any]:
    """Run date, input checksums and package versions (from ``run_info``; a note without it)
    and the model's configuration."""
    out: dict[str, Any] = {"config": config_yaml(model_name, spec), "run": None, "inputs": None,
                           "packages": None, "date": ""}
    if run_info is None:
        out["note"] = "The run date, input checksums and package versions were not recorded."
        return out
    out["note"] = ""
    out["date"] = run_info.date
    out["run"] = Table("Run", ("", ""), (("Date (UTC)", text(run_info.date)),), (False, False))
    if run_info.inputs:
        out["inputs"] = Table(
            "Input files (SHA-256 of the bytes read)",
            ("input", "file", "SHA-256"),
            tuple((text(role), text(path), text(digest)) for role, path, digest in run_info.inputs),
            (False, False, False),
        )
    if run_info.packages:
        out["packages"] = Table(
            "Package versions",
            ("package", "version"),
            tuple((text(name), text(version)) for name, version in run_info.packages),
            (False, False),
        )
    return out
