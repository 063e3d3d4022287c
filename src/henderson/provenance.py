"""Digests of the package's own code, so a workflow reruns what a change in the numerics affects.

Snakemake sees a rule's script, inputs and params, not the package code the script calls. Each
rule passes the digest of its script's code as a param: every `henderson` module the script
imports, directly or through others (found by reading the import statements, function-level
imports included, and the packages whose `__init__` an import runs), plus the package data files
the rule reads. Editing any of those modules changes the param and reruns the rule (and what
depends on its outputs); a module the rule does not import does not.

The digest is taken over the syntax tree without docstrings: an edit to a comment or a
docstring changes no result and reruns nothing.

Parsing the package takes about half a second, at every start of the workflow: `script_digests`
keeps what each file gave (its imports and digest) in a cache file keyed by the file's
modification time and size, as Python does for its byte code, so that a start reparses only the
files edited since. The workflow keeps that file where Python keeps the byte code, in the
package's own `__pycache__` folder (`digest_cache_path`), so that a new evaluation directory
starts as fast as one run before.
"""

from __future__ import annotations

import ast
import functools
import gc
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from henderson import __version__

__all__ = ["code_digest", "digest_cache_path", "import_closure", "script_digest", "script_digests"]


@functools.cache
def _root() -> Path:
    return Path(str(resources.files("henderson")))


@functools.cache
def _modules(root: Path) -> dict[str, Path]:
    """{dotted name: source file} of every module and package under the package folder `root`
    (one walk of the folder per process, instead of two file tests per imported name)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if all(part.isidentifier() for part in parts):
            out[".".join(("henderson", *parts))] = path
    return out


def _path(module: str, root: Path | None = None) -> Path | None:
    """The source file of `henderson.<...>` module or package, None if there is none."""
    return _modules(root or _root()).get(module)


def _statements(tree: ast.Module):
    """Every statement of `tree`, nested ones included (imports and docstrings are statements or
    stand first in a statement's body; the expressions, most of the tree, are not visited)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(getattr(node, name, ()))


def _imports(tree: ast.Module) -> set[str]:
    out = set()
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "henderson")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "henderson":
                continue
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # submodules imported by name
    return out


def _stamp(path: Path) -> tuple[Path, int, int]:
    """A cache key that changes with the file."""
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


def _module_imports(path: Path) -> frozenset[str]:
    return _parsed(_stamp(path))[0]


def _normalised_file(path: Path) -> str:
    return _parsed(_stamp(path))[1]


_PARSES: dict[tuple[Path, int, int], tuple[frozenset[str], str]] = {}
"""The parses by stamp: of this process, and those read from a cache file (`script_digests`)."""


def _parsed(stamp: tuple[Path, int, int]) -> tuple[frozenset[str], str]:
    """(the `henderson` modules the file imports, SHA-256 of its syntax tree without docstrings),
    from one parse, or from the cache file where the stamp matches."""
    if stamp not in _PARSES:
        _PARSES[stamp] = _parse(stamp[0])
    return _PARSES[stamp]


def _parse(path: Path) -> tuple[frozenset[str], str]:
    """`_parsed` of the file at `path`, parsed; the tree itself is not kept."""
    gc_was_enabled = gc.isenabled()
    # a syntax tree has no reference cycles: collections during the parse and the dump would
    # find nothing, and cost more than the parse itself in a process with many live objects
    gc.disable()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = frozenset(_imports(tree))
        return imports, hashlib.sha256(_normalised_tree(tree).encode()).hexdigest()
    finally:
        if gc_was_enabled:
            gc.enable()


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def import_closure(module: str | None = None, *, source: str | None = None) -> list[str]:
    """Every `henderson` module that `module` — or the code `source` — needs (the module itself,
    what it imports, their parent packages), sorted."""
    seen: set[str] = set()
    todo = [module] if module is not None else sorted(_imports(ast.parse(source or "")))
    while todo:
        name = todo.pop()
        if name in seen or _path(name) is None:
            continue
        seen.add(name)
        todo.extend(_module_imports(_path(name)))
        todo.extend(_parents(name))
    return sorted(seen)


def _normalised_tree(tree: ast.Module) -> str:
    """`tree` without docstrings, dumped (the docstrings are removed from `tree`)."""
    for node in [tree, *_statements(tree)]:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def code_digest(modules: Iterable[str], extra_files: Iterable[str] = (), *, root: Path | None = None) -> str:
    """`<version>-<sha256 prefix>` over the normalised source of `modules` (dotted names) and the
    bytes of package data files `extra_files` (e.g. "templates/report.html"), in the order
    given; `root`: the package folder (default: the installed package)."""
    digest = hashlib.sha256()
    root = root or _root()
    for name in modules:
        digest.update(name.encode())
        digest.update(_normalised_file(_path(name, root)).encode())
    for name in extra_files:
        digest.update(name.encode())
        digest.update(root.joinpath(name).read_bytes())
    return f"{__version__}-{digest.hexdigest()[:16]}"


def script_digest(script: str | Path, extra_files: Iterable[str] = ()) -> str:
    """Code digest of the package code a rule script runs (module docstring), with the package
    data files `extra_files` it reads."""
    return code_digest(import_closure(source=Path(script).read_text(encoding="utf-8")), extra_files)


def script_digests(scripts: Mapping[str, tuple[str | Path, Iterable[str]]], *, cache: str | Path | None = None
                   ) -> dict[str, str]:
    """{name: :func:`script_digest` of (script, extra_files)} for each entry of `scripts`, with the
    parses kept in the JSON file `cache` (module docstring; a cache that cannot be read or
    written only costs the parse)."""
    key = f"{__version__} {_root()}"
    read: dict[str, list] = {}
    if cache is not None:
        try:
            stored = json.loads(Path(cache).read_text(encoding="utf-8"))
            if stored.get("key") == key:
                read = dict(stored["files"])
                for path, (mtime, size, imports, digest) in read.items():
                    _PARSES.setdefault((Path(path), mtime, size), (frozenset(imports), digest))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    out = {name: script_digest(script, extra) for name, (script, extra) in scripts.items()}
    if cache is not None:
        files: dict[str, list] = {}  # per file its newest parse
        for (path, mtime, size), (imports, digest) in _PARSES.items():
            if str(path) not in files or mtime >= files[str(path)][0]:
                files[str(path)] = [mtime, size, sorted(imports), digest]
        if files != read:
            _write_atomically(Path(cache), json.dumps({"key": key, "files": files}))
    return out


def digest_cache_path(root: Path | None = None) -> Path:
    """The cache file of `script_digests` for the package folder `root` (default: the installed
    package): in its `__pycache__` folder, beside the sources it describes; where that cannot be
    written (a read-only installation), in the user's cache folder (``$XDG_CACHE_HOME`` or
    ``~/.cache``), one file per package folder."""
    root = root or _root()
    folder = root / "__pycache__"
    if os.access(folder if folder.is_dir() else root, os.W_OK):
        return folder / "henderson-code-digests.json"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "henderson" / f"code-digests-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.json"


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass
