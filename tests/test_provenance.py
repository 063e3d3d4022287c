"""Rerun digests: the import closure of a rule script, and insensitivity to comments and
docstrings (the workflow test checks both through Snakemake)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from henderson.provenance import (
    code_digest,
    digest_cache_path,
    import_closure,
    script_digest,
    script_digests,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"


def test_closures_follow_the_imports():
    variance = import_closure(source=(SCRIPTS / "variance.py").read_text())
    report = import_closure(source=(SCRIPTS / "report.py").read_text())
    relationships = import_closure(source=(SCRIPTS / "relationships.py").read_text())
    # the evaluation runs the engine; parents of imported modules count (their __init__ runs)
    assert {"henderson.mme", "henderson.reml", "henderson.reml.fit", "henderson.solvers.cholesky",
            "henderson.linalg", "henderson"} <= set(variance)
    # the report reads the fit's record without importing the estimation code
    assert "henderson.reml_record" in report and "henderson.mme" not in report
    assert not any(m.startswith("henderson.reml.") or m == "henderson.reml" for m in report)
    assert "henderson.pedigree.ainv" in relationships and "henderson.mme" not in relationships
    # function-level imports are followed (clean imports henderson.pedigree lazily)
    assert "henderson.pedigree" in import_closure("henderson.clean.pedigree")


def test_every_rule_script_has_a_digest():
    digests = {p.name: script_digest(p) for p in SCRIPTS.glob("*.py")}
    assert len(digests) >= 5 and all(d.count("-") == 1 for d in digests.values())
    assert digests["variance.py"] != digests["report.py"]


def test_digest_ignores_docstrings_and_comments_but_not_code(tmp_path):
    package = tmp_path / "henderson"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0"\n')
    module = package / "numerics.py"
    module.write_text('"""Docstring."""\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # double\n')
    before = code_digest(["henderson.numerics"], root=package)
    module.write_text('"""Another docstring."""\n\n# a comment\ndef f(x):\n    """Two times x."""\n    return 2 * x\n')
    assert code_digest(["henderson.numerics"], root=package) == before
    module.write_text('"""Docstring."""\n\ndef f(x):\n    """Twice x."""\n    return 3 * x\n')
    assert code_digest(["henderson.numerics"], root=package) != before


def test_cached_digests_equal_the_parsed_ones_and_follow_edits(tmp_path):
    scripts = {p.stem: (p, ["templates/report.html"] if p.stem == "report" else []) for p in SCRIPTS.glob("*.py")}
    cache = tmp_path / "cache" / "digests.json"
    first = script_digests(scripts, cache=cache)
    assert first == {name: script_digest(path, extra) for name, (path, extra) in scripts.items()}
    stored = json.loads(cache.read_text())
    assert any(path.endswith("reml/fit.py") for path in stored["files"])
    # a second start reads the cache: the same digests
    assert script_digests(scripts, cache=cache) == first
    # an edited script (new mtime and size) is parsed again
    script = tmp_path / "rule.py"
    script.write_text("from henderson.io import write_json\n")
    one = script_digests({"rule": (script, [])}, cache=cache)["rule"]
    script.write_text("from henderson.io import write_json\nfrom henderson.mme import Equations\n")
    two = script_digests({"rule": (script, [])}, cache=cache)["rule"]
    assert one != two and two == script_digest(script)


def test_a_damaged_cache_is_only_slower(tmp_path):
    cache = tmp_path / "digests.json"
    cache.write_text("{not json")
    scripts = {"variance": (SCRIPTS / "variance.py", [])}
    assert script_digests(scripts, cache=cache) == {"variance": script_digest(SCRIPTS / "variance.py")}
    assert json.loads(cache.read_text())["files"]


def test_the_cache_sits_beside_the_package_or_in_the_user_cache(tmp_path, monkeypatch):
    package = tmp_path / "henderson"
    package.mkdir()
    # a writable package folder: its own __pycache__, so every evaluation directory shares it
    assert digest_cache_path(package) == package / "__pycache__" / "henderson-code-digests.json"
    # a read-only installation (as seen by a user who is not root): the user's cache folder,
    # one file per package folder
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: not str(path).startswith(str(tmp_path / "ro"))
                        and real_access(path, mode))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    one, two = tmp_path / "ro" / "a" / "henderson", tmp_path / "ro" / "b" / "henderson"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    assert digest_cache_path(one).parent == tmp_path / "user-cache" / "henderson"
    assert digest_cache_path(one) != digest_cache_path(two)
    assert digest_cache_path(package).parent == package / "__pycache__"
