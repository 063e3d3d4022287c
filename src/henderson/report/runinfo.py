"""What a run of the report was made from: the date, the input files' SHA-256 and the versions
of the packages that computed it. Collected by the rule script and passed to
:func:`henderson.report.render_report`, so the rendering itself stays deterministic."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from henderson import __version__
from henderson.io import file_digest

#: (name shown, distribution name) of the packages whose versions are reported.
PACKAGES = (
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("pandas", "pandas"),
    ("scikit-sparse (sksparse)", "scikit-sparse"),
    ("snakemake", "snakemake"),
)


@dataclass(frozen=True)
class RunInfo:
    """``date``: when the report was made (text, UTC); ``inputs``: (role, file, SHA-256) per
    input file; ``packages``: (name, version) of henderson, Python and the numerical packages."""

    date: str
    inputs: tuple[tuple[str, str, str], ...] = ()
    packages: tuple[tuple[str, str], ...] = ()


def package_versions() -> tuple[tuple[str, str], ...]:
    """(name, version) of henderson, Python and each of :data:`PACKAGES` that is installed."""
    out = [("henderson", __version__), ("python", platform.python_version())]
    for name, distribution in PACKAGES:
        try:
            out.append((name, metadata.version(distribution)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(out)


def collect_run_info(
    inputs: Mapping[str, str | Path | None], now: datetime | None = None
) -> RunInfo:
    """The run's :class:`RunInfo`: ``now`` (default: the current time) in UTC, the SHA-256 of
    every given input file (roles whose file is None or empty are skipped), package versions."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    files = tuple(
        (role, str(path), file_digest(path)) for role, path in inputs.items() if path
    )
    return RunInfo(
        date=moment.strftime("%Y-%m-%d %H:%M:%S UTC"), inputs=files, packages=package_versions()
    )
