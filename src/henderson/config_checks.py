"""Checks of a raw configuration beyond its schema, and the reading options it holds: the size
with YAML aliases expanded (alias bombs), names that YAML read as booleans or numbers, the
pedigree and phenotype column settings and the sex codes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from henderson.columns import PEDIGREE_COLUMNS, PEDIGREE_REQUIRED, SEX_CODES
from henderson.errors import ConfigError

MAX_CONFIG_VALUES = 100_000
"""Most values (mappings, lists and scalars, aliases expanded) a configuration may hold."""


def check_size(raw: Any, *, source: str = "config", limit: int = MAX_CONFIG_VALUES) -> int:
    """The number of values of a loaded configuration with every YAML alias expanded; raises
    :class:`ConfigError` above ``limit`` or for a configuration that contains itself.

    YAML aliases (``*name``) make loaders share one object, so a 500-byte file can stand for
    billions of values ("billion laughs") that any traversal would expand. Each shared object
    is counted once (memoised), so the cost is the number of distinct objects.
    """
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(value: Any) -> int:
        if isinstance(value, Mapping):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple)):
            children = list(value)
        else:
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise ConfigError(
                f"{source}: the configuration contains itself (a YAML alias inside its own "
                "anchor); write the values out."
            )
        busy.add(key)
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        busy.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(raw)
    except RecursionError:
        raise ConfigError(f"{source}: the configuration is nested too deeply.") from None
    if total > limit:
        raise ConfigError(
            f"{source}: the configuration expands to more than {limit:,} values (YAML anchors "
            "'&name' and aliases '*name' repeat blocks); refused. Write the configuration without "
            "nested aliases."
        )
    return total


_BOOLEAN_HINT = "YAML reads unquoted yes/no/on/off/true/false as booleans"


def _name_problem(path: str, value: Any, what: str = "a column name") -> str | None:
    """A hint when YAML read a name as something else than text (None when it is text)."""
    if isinstance(value, (str, list, Mapping)):
        return None  # lists and mappings are the schema's to explain
    if isinstance(value, bool):
        word = "yes" if value else "no"
        return (
            f"{path}: {value!r} (a boolean) where {what} is expected: {_BOOLEAN_HINT}: write "
            f"the name in quotes, e.g. '{word}'"
        )
    if isinstance(value, (int, float)):
        return (
            f"{path}: {value!r} (a number) where {what} is expected: write it in quotes as in "
            f"the file, e.g. '{value}'"
        )
    if value is None:
        return f"{path}: empty where {what} is expected: write it (in quotes if it is null or ~)"
    return None


def _name_problems(raw: Mapping[str, Any]) -> list[str]:
    """Names (columns, codes, keys) that YAML did not read as text, with the hint to quote them."""
    problems: list[str] = []

    def one(path: str, value: Any, what: str = "a column name") -> None:
        problem = _name_problem(path, value, what)
        if problem:
            problems.append(problem)

    def many(path: str, value: Any, what: str = "a column name") -> None:
        if isinstance(value, list):
            for k, item in enumerate(value):
                one(f"{path}.{k}", item, what)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                many(f"{path}.{key}", item, what)

    def keys(path: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if not isinstance(key, str):
                    one(where, key, "a key (a name)")
                keys(where, item)
        elif isinstance(value, list):
            for k, item in enumerate(value):
                keys(f"{path}.{k}", item)

    keys("", raw)
    if "id_column" in raw:
        one("id_column", raw["id_column"])
    many("unknown_parent", raw.get("unknown_parent"), "a text code")
    many("pedigree_columns", raw.get("pedigree_columns"))
    many("phenotype_columns", raw.get("phenotype_columns"))
    many("sex_codes", raw.get("sex_codes"), "a text code")
    qc = raw.get("genotype_qc")
    if isinstance(qc, Mapping) and qc.get("id_column") is not None:
        one("genotype_qc.id_column", qc["id_column"])
    models = raw.get("models")
    for name, block in (models.items() if isinstance(models, Mapping) else ()):
        if not isinstance(block, Mapping):
            continue
        where = f"models.{name}"
        for key in ("traits", "fixed", "covariates"):
            many(f"{where}.{key}", block.get(key))
        random = block.get("random")
        for effect, value in (random.items() if isinstance(random, Mapping) else ()):
            if isinstance(value, Mapping):
                for key in ("column", "of"):
                    if key in value:
                        one(f"{where}.random.{effect}.{key}", value[key], "a name")
    return problems


def _pedigree_columns(value: Any, source: str) -> dict[str, str] | tuple[str, ...]:
    """``pedigree_columns`` with the defaults filled in (mapping), or the names of a file
    without a header (tuple), which must name the id, sire and dam columns."""
    if isinstance(value, list):
        absent = [role for role in PEDIGREE_REQUIRED if role not in value]
        if absent:
            raise ConfigError(
                f"{source}: pedigree_columns: the list names the columns of a file without a "
                f"header, and must include {', '.join(absent)} (the role names: id, sire, dam, "
                f"birth_year, birth_date, sex); got {value}."
            )
        return tuple(value)
    columns = {**PEDIGREE_COLUMNS, **value}
    used = [columns[role] for role in PEDIGREE_COLUMNS]
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        roles = [f"{r}: {columns[r]}" for r in PEDIGREE_COLUMNS if columns[r] in twice]
        raise ConfigError(
            f"{source}: pedigree_columns: column(s) {twice} have two roles ({', '.join(roles)}); "
            "give each role its own column."
        )
    return columns


def _phenotype_columns(value: Any, id_column: str, source: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if id_column not in value:
        raise ConfigError(
            f"{source}: phenotype_columns {value} does not name the ID column '{id_column}' "
            "(id_column); list every column of the file in file order."
        )
    return tuple(value)


def _sex_codes(value: Mapping[str, Any], source: str) -> dict[str, tuple[str, ...]]:
    codes = {k: tuple(str(c) for c in value.get(k, SEX_CODES[k])) for k in SEX_CODES}
    both = sorted({c.upper() for c in codes["male"]} & {c.upper() for c in codes["female"]})
    if both:
        raise ConfigError(f"{source}: sex_codes: {both} is both a male and a female code.")
    return codes


def _genotype_qc(full: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``genotype_qc`` with its defaults, the ID column resolved (the pedigree's ID column, or
    ``id_column`` without a pedigree) and missing codes that are not genotypes."""
    qc = dict(full["genotype_qc"])
    genotypes = {0, 1, 2} & set(qc["missing_codes"])
    if genotypes:
        raise ConfigError(
            f"{source}: genotype_qc.missing_codes: {sorted(genotypes)} is a genotype (0, 1, 2 copies "
            "of the allele), not a missing code; use e.g. [5, 9]."
        )
    if qc.get("id_column") is None:
        columns = full["pedigree_columns"]
        if full.get("pedigree") and isinstance(columns, Mapping):
            qc["id_column"] = columns.get("id", "id")
        else:
            qc["id_column"] = "id" if full.get("pedigree") else full["id_column"]
    qc["missing_codes"] = list(qc["missing_codes"])
    return qc
