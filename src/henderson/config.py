"""Evaluation configuration: validation against the JSON Schema and typed model specifications.

`load_config` / `validate_config` turn a YAML mapping into an `EvaluationConfig` of frozen
`ModelSpec`s. Errors name the key path (e.g. ``models.wwg.random.animal``) and say what is allowed.
Before the schema, a configuration is refused when YAML anchors and aliases expand it beyond
:data:`henderson.config_checks.MAX_CONFIG_VALUES` values (a "billion laughs" file) or make it refer
to itself, and a name that YAML read as a boolean or a number (``id_column: yes``, ``traits: [no]``) gets a hint
to quote it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import numpy as np
import yaml

from henderson.columns import PEDIGREE_COLUMNS, SEX_CODES, ModelColumns
from henderson.config_checks import (
    _genotype_qc,
    _name_problems,
    _pedigree_columns,
    _phenotype_columns,
    _sex_codes,
    check_size,
)
from henderson.covariance import RESIDUAL, Layout, TermLayout
from henderson.errors import ConfigError

if TYPE_CHECKING:
    from henderson.pedigree.groups import GroupsSpec

RANDOM_TYPES = ("additive", "iid", "maternal")
ESTIMATE_METHODS = ("ai", "em", "none")


def config_schema() -> dict:
    """The configuration JSON Schema (package data, also linked from workflow/schemas/)."""
    text = resources.files("henderson").joinpath("schemas/config.schema.yaml").read_text("utf-8")
    # libyaml's parser where PyYAML has it: the same document, read ten times faster
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass(frozen=True)
class RandomEffect:
    """One random effect: `additive` (covariance A σ², levels = pedigree animals), `iid`
    (covariance I σ², levels = distinct values of `column` among the records) or `maternal` (an
    additive maternal effect on the dam in `column`, correlated with the additive effect `of`)."""

    name: str
    type: str
    column: str
    of: str | None = None
    missing: str = "keep"
    """iid/maternal: `keep` a record whose column is missing (no level of this effect) or `drop` it."""
    on_id: bool = True
    """additive: on the ID column (animal model), or False: on another column of pedigree
    animals, e.g. the sire (sire model; its variance is σ²a / 4)."""
    mgs: str | None = None
    """sire model: the maternal grandsire column (its animal enters with weight ½)."""
    relationship: str = "pedigree"
    """additive: the covariance of its levels: `pedigree` (A), `genomic` (G*, GBLUP) or
    `single_step` (H, ssGBLUP)."""

    @property
    def kind(self) -> str:
        """The effect's type in the model: `sire` for an additive effect off the ID column."""
        return "sire" if self.type == "additive" and not self.on_id else self.type


@dataclass(frozen=True)
class ModelSpec:
    """A model y_j = X_j b_j + Σ Z_k u_k,j + e_j for one or more traits j.

    fixed, covariates: the union over traits (model order); trait_fixed, trait_covariates: each
    trait's own lists. variances: σ² per random effect, `a.b` covariances and `residual` (one
    trait), or t × t covariance matrices G0_k and R0 in trait order (several traits; lists of
    lists)."""

    name: str
    traits: tuple[str, ...]
    fixed: tuple[str, ...]
    covariates: tuple[str, ...]
    random: tuple[RandomEffect, ...]
    variances: Mapping[str, Any] = field(default_factory=dict)
    estimate: str = "none"
    reml: Mapping[str, float] = field(default_factory=dict)
    trait_fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trait_covariates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    solver: str = "auto"
    pcg: Mapping[str, float] = field(default_factory=dict)
    weights: str | None = None
    genomic: Mapping[str, Any] = field(default_factory=dict)
    """Settings of G* (:class:`henderson.genomic.GenomicOptions`) for a genomic or single-step
    relationship."""
    reliability: str = "auto"
    samples: int = 200

    @property
    def multitrait(self) -> bool:
        return len(self.traits) > 1

    @property
    def columns(self) -> ModelColumns:
        """Phenotype-table columns the model reads (for cleaning and record selection)."""
        classes = list(self.fixed)
        for effect in self.random:
            if effect.kind in ("iid", "maternal", "sire") and effect.column not in classes:
                classes.append(effect.column)
            if effect.mgs is not None and effect.mgs not in classes:
                classes.append(effect.mgs)
        # a column stays required when a fixed effect or an effect with `missing: drop` reads it
        required = set(self.fixed) | {e.column for e in self.random if e.missing == "drop"}
        optional = tuple(
            (e.name, e.column) for e in self.random
            if e.kind in ("iid", "maternal", "sire") and e.missing == "keep" and e.column not in required
        ) + tuple((e.name, e.mgs) for e in self.random if e.mgs is not None and e.mgs not in required)
        covariates = tuple(self.covariates) + ((self.weights,) if self.weights else ())
        return ModelColumns(
            traits=tuple(self.traits), classes=tuple(classes), covariates=covariates,
            optional=optional, weights=self.weights,
        )

    @property
    def additive(self) -> RandomEffect | None:
        """The additive genetic effect, if the model has one."""
        return next((e for e in self.random if e.type == "additive"), None)

    @property
    def terms(self) -> tuple[tuple[RandomEffect, ...], ...]:
        """Random effects grouped into terms (effects sharing one relationship): the additive
        effect with its maternal effect (K = A), then every iid effect alone (K = I)."""
        genetic = tuple(e for e in self.random if e.type in ("additive", "maternal"))
        rest = tuple((e,) for e in self.random if e.type not in ("additive", "maternal"))
        return ((genetic,) if genetic else ()) + rest

    def layout(self) -> Layout:
        """The variance-component layout of the model (every (effect, trait) component)."""
        t = len(self.traits)
        terms = tuple(
            TermLayout(
                group[0].name,
                tuple(e.name for e in group),
                tuple(e.kind for e in group),
                tuple((e, j) for e in range(len(group)) for j in range(t)),
            )
            for group in self.terms
        )
        return Layout(tuple(self.traits), terms)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Variance parameters in model order: each random effect, each direct–maternal
        covariance (`<direct>.<maternal>`), then `residual`."""
        names = [e.name for e in self.random]
        names += [f"{e.of}.{e.name}" for e in self.random if e.type == "maternal"]
        return tuple(names + [RESIDUAL])

    def to_dict(self) -> dict[str, Any]:
        """The model as a plain config block (for reports and rerun parameters)."""
        random = {}
        for e in self.random:
            random[e.name] = {"type": e.type, "column": e.column}
            if e.mgs is not None:
                random[e.name]["mgs"] = e.mgs
            if e.of is not None:
                random[e.name]["of"] = e.of
            if e.missing != "keep":
                random[e.name]["missing"] = e.missing
            if e.relationship != "pedigree":
                random[e.name]["relationship"] = e.relationship
        def per_trait(by_trait: Mapping[str, tuple[str, ...]], union: tuple[str, ...]) -> Any:
            if all(tuple(by_trait.get(t, union)) == union for t in self.traits):
                return list(union)
            return {t: list(by_trait[t]) for t in self.traits}

        return {
            "traits": list(self.traits),
            "fixed": per_trait(self.trait_fixed, self.fixed),
            "covariates": per_trait(self.trait_covariates, self.covariates),
            "random": random,
            "variances": dict(self.variances),
            "estimate": self.estimate,
            "reml": dict(self.reml),
            "solver": self.solver,
            "pcg": dict(self.pcg),
            **({"weights": self.weights} if self.weights else {}),
            **({"genomic": dict(self.genomic)} if self.relationship != "pedigree" else {}),
            "reliability": self.reliability,
            "samples": self.samples,
        }

    @property
    def relationship(self) -> str:
        """The additive effect's relationship (`pedigree`, `genomic`, `single_step`), `pedigree`
        without one."""
        return self.additive.relationship if self.additive is not None else "pedigree"


@dataclass(frozen=True)
class EvaluationConfig:
    """A validated evaluation: input files, reading options and models by name.

    pedigree_columns: role (id, sire, dam, birth_year, birth_date, sex) -> the header's column
    name, or the column names of a pedigree file without a header (a tuple, in file order).
    phenotype_columns: the column names of a phenotype file without a header, or None.
    sex_codes: {"male": codes, "female": codes}."""

    pedigree: str | None
    phenotypes: str
    id_column: str
    unknown_parent: tuple[str, ...]
    models: Mapping[str, ModelSpec]
    sexes: str = "separate"
    pedigree_columns: Mapping[str, str] | tuple[str, ...] = field(
        default_factory=lambda: dict(PEDIGREE_COLUMNS)
    )
    phenotype_columns: tuple[str, ...] | None = None
    sex_codes: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {k: tuple(v) for k, v in SEX_CODES.items()}
    )
    genotypes: str | None = None
    genotype_qc: Mapping[str, Any] = field(default_factory=dict)
    """The genotype QC settings (``genotype_qc`` with defaults, ``id_column`` resolved)."""
    groups: GroupsSpec | None = None

    @property
    def pedigree_sex_column(self) -> str:
        """The pedigree's sex column, also the phenotype column compared with it."""
        if isinstance(self.pedigree_columns, tuple):
            return "sex"
        return self.pedigree_columns["sex"]

    def reading_params(self) -> dict[str, Any]:
        """The keys that say how the input files are read, as plain data (rule params)."""
        columns = self.pedigree_columns
        return {
            "pedigree_columns": list(columns) if isinstance(columns, tuple) else dict(columns),
            "phenotype_columns": (
                None if self.phenotype_columns is None else list(self.phenotype_columns)
            ),
            "sex_codes": {k: list(v) for k, v in self.sex_codes.items()},
        }


def _with_defaults(instance: Any, schema: dict, root: dict) -> Any:
    """Fill schema defaults into a validated mapping (top level and each model)."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root["$defs"][name]
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return instance
    out = dict(instance)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if key in out:
            out[key] = _with_defaults(out[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in out.items():
            if key not in schema.get("properties", {}):
                out[key] = _with_defaults(value, extra, root)
    return out


def _describe(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {', '.join(repr(e) for e in extra)} in {path}{hint}"
    if error.validator == "oneOf" and path.startswith("models.") and ".random." in path:
        return (
            f"{path}: {error.instance!r} is not a random effect; write `additive`, `iid`, or "
            "{type: additive|iid, column: <column>}"
        )
    if error.validator == "oneOf" and path.split(".")[-1] in ("fixed", "covariates"):
        return (
            f"{path}: {error.instance!r} has the wrong type; expected a list of columns, or a mapping "
            "from each trait to a list of columns"
        )
    if error.validator == "oneOf" and ".variances." in path:
        return (
            f"{path}: {error.instance!r} is not a variance; expected a non-negative number (one trait) or "
            "a covariance matrix as a list of rows (several traits)"
        )
    if error.validator == "oneOf" and path == "pedigree_columns":
        return (
            f"{path}: {error.instance!r} is not a column mapping; expected a mapping from roles "
            f"({', '.join(PEDIGREE_COLUMNS)}) to the header's column names, or a list of at "
            "least 3 distinct column names of a file without a header"
        )
    if error.validator == "type":
        return f"{path}: {error.instance!r} has the wrong type; expected {error.validator_value}"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not one of {error.validator_value}"
    if error.validator == "required":
        return f"{path}: {error.message}"
    return f"{path}: {error.message}"


def validate_config(raw: Mapping[str, Any], *, source: str = "config") -> EvaluationConfig:
    """Validate a configuration mapping and build the typed `EvaluationConfig`.

    Raises `ConfigError` naming the key path of the first problem (all problems are listed).
    """
    schema = config_schema()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values.")
    check_size(raw, source=source)
    raw = dict(raw)
    names = _name_problems(raw)
    if names:
        lines = "\n  ".join(names)
        raise ConfigError(f"{source}: invalid configuration:\n  {lines}")
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"{source}: invalid configuration:\n  {lines}")
    full = _with_defaults(raw, schema, schema)
    id_column = full["id_column"]
    models = {
        name: _model_spec(name, block, id_column, bool(full.get("pedigree")), source,
                          has_genotypes=bool(full.get("genotypes")))
        for name, block in full["models"].items()
    }
    return EvaluationConfig(
        pedigree=full.get("pedigree"),
        phenotypes=full["phenotypes"],
        id_column=id_column,
        unknown_parent=tuple(full["unknown_parent"]),
        models=models,
        sexes=full["sexes"],
        pedigree_columns=_pedigree_columns(full["pedigree_columns"], source),
        phenotype_columns=_phenotype_columns(full["phenotype_columns"], id_column, source),
        sex_codes=_sex_codes(full["sex_codes"], source),
        genotypes=full.get("genotypes"),
        genotype_qc=_genotype_qc(full, source),
        groups=_groups(full.get("groups"), models, bool(full.get("pedigree")), source, bool(full.get("genotypes"))),
    )


def _groups(block: Mapping[str, Any] | None, models: Mapping[str, ModelSpec], has_pedigree: bool,
            source: str, has_genotypes: bool = False) -> GroupsSpec | None:
    """The `groups:` block (:func:`henderson.pedigree.groups.groups_spec`) checked against the
    models (genomic relationships take metafounders only)."""
    if not block:
        return None
    # imported only for a `groups:` block: the pedigree package loads its numba kernels, which
    # the rules that only read the config (and Snakemake, parsing the workflow) do not need
    from henderson.pedigree.groups import groups_spec

    spec = groups_spec(block, f"{source}: groups")
    if spec is None:
        return None
    if not has_pedigree:
        raise ConfigError(f"{source}: groups: unknown parent groups need a pedigree; set `pedigree:`.")
    gblup = [name for name, m in models.items() if m.relationship == "genomic"]
    if gblup:
        raise ConfigError(
            f"{source}: groups: unknown parent groups do not apply to GBLUP (`relationship: genomic`, models {gblup}), "
            "whose G covers the genotyped animals only; use `relationship: single_step` with metafounders, or remove "
            "`groups:`."
        )
    single = [name for name, m in models.items() if m.relationship == "single_step"]
    if single and spec.type != "metafounders":
        raise ConfigError(
            f"{source}: groups: single step (models {single}) takes unknown parent groups as metafounders only; "
            "set `groups.metafounders` (Γ given, or `gamma: estimate` from the genotypes), or remove `groups:`."
        )
    tuned = [name for name in single if models[name].genomic.get("tune", "none") != "none"]
    if tuned:
        raise ConfigError(
            f"{source}: models {tuned}: with metafounders G is centred at allele frequency ½ and on the scale of A^Γ, "
            "so it is not tuned; set `genomic: {tune: none}`."
        )
    if spec.estimate_gamma and not has_genotypes:
        raise ConfigError(f"{source}: groups.metafounders.gamma: `estimate` needs genotypes; set `genotypes:` or give Γ.")
    return spec


def _model_spec(
    name: str, block: Mapping[str, Any], id_column: str, has_pedigree: bool, source: str,
    has_genotypes: bool | None = None,
) -> ModelSpec:
    where = f"{source}: models.{name}"
    random = []
    for effect, value in block["random"].items():
        if isinstance(value, str):
            value = {"type": value}
        kind = value["type"]
        default_column = {"additive": id_column, "maternal": "dam"}.get(kind, effect)
        column = value.get("column") or default_column
        of = value.get("of")
        if of is not None and kind != "maternal":
            raise ConfigError(f"{where}.random.{effect}: `of` applies to a maternal effect only.")
        missing = value.get("missing", "keep")
        if "missing" in value and kind == "additive":
            raise ConfigError(
                f"{where}.random.{effect}: `missing` applies to iid and maternal effects only (the "
                "additive effect is on the id column, which is never missing); remove it."
            )
        mgs = value.get("mgs")
        if mgs is not None and (kind != "additive" or column == id_column):
            raise ConfigError(
                f"{where}.random.{effect}: `mgs` applies to an additive effect on the sire column (a "
                f"sire–maternal-grandsire model), e.g. `{effect}: {{type: additive, column: sire, mgs: mgs}}`."
            )
        relationship = value.get("relationship", "pedigree")
        if relationship != "pedigree" and (kind != "additive" or column != id_column or mgs is not None):
            raise ConfigError(
                f"{where}.random.{effect}: `relationship: {relationship}` applies to an additive effect on the "
                f"id column '{id_column}' (an animal model); a maternal effect shares it."
            )
        random.append(RandomEffect(name=effect, type=kind, column=column, of=of, missing=missing, mgs=mgs,
                                   relationship=relationship))
    traits = tuple(block["traits"])
    if len(set(traits)) != len(traits):
        raise ConfigError(f"{where}.traits: a trait is listed twice ({list(traits)}).")
    trait_fixed = _per_trait(block["fixed"], traits, f"{where}.fixed")
    trait_covariates = _per_trait(block["covariates"], traits, f"{where}.covariates")
    additive = [e for e in random if e.type == "additive"]
    if len(additive) > 1:
        raise ConfigError(f"{where}.random: more than one additive effect ({[e.name for e in additive]}).")
    if additive and additive[0].column != id_column:
        # a sire model: the additive effect on the column of each record's sire (pedigree animals)
        random = [replace(e, on_id=False) if e is additive[0] else e for e in random]
        additive = [e for e in random if e.type == "additive"]
        if any(e.type == "maternal" for e in random):
            raise ConfigError(
                f"{where}.random.{additive[0].name}: a maternal effect needs the additive effect on the id column "
                f"'{id_column}' (an animal model), not on '{additive[0].column}'."
            )
    _check_relationship(block, additive[0] if additive else None, has_pedigree, has_genotypes, where)
    names = [e.name for e in random]
    if RESIDUAL in names:
        raise ConfigError(f"{where}.random: 'residual' is reserved for the residual variance.")
    maternal = [e for e in random if e.type == "maternal"]
    if maternal and not has_pedigree:
        raise ConfigError(f"{where}: the maternal effect needs a pedigree; set `pedigree:`.")
    for effect in maternal:
        if effect.of is None or not additive or effect.of != additive[0].name:
            raise ConfigError(
                f"{where}.random.{effect.name}: a maternal effect needs `of: <name of the model's additive "
                f"effect>` (e.g. `{effect.name}: {{type: maternal, column: {effect.column}, of: animal}}`)."
            )
    if len(maternal) > 1:
        raise ConfigError(f"{where}.random: more than one maternal effect ({[e.name for e in maternal]}).")
    # the direct and maternal effects form one covariance group: keep them adjacent, direct first
    if maternal:
        rest = [e for e in random if e.type not in ("additive", "maternal")]
        random = [additive[0], maternal[0]] + rest
    for by_trait, key in ((trait_fixed, "fixed"), (trait_covariates, "covariates")):
        for trait, col_list in by_trait.items():
            dupes = sorted({c for c in col_list if list(col_list).count(c) > 1})
            if dupes:
                raise ConfigError(f"{where}.{key}: {dupes} listed twice (trait {trait}).")
    fixed = _union(trait_fixed.values())
    covariates = _union(trait_covariates.values())
    overlap = set(fixed) & set(covariates)
    if overlap:
        raise ConfigError(f"{where}: {sorted(overlap)} is both a class effect and a covariate.")
    if len(traits) > 1:
        variances = _matrix_variances(block["variances"], random, traits, block["estimate"], where)
    else:
        variances = _scalar_variances(block, random, maternal, names, where)
    return ModelSpec(
        name=name,
        traits=traits,
        fixed=fixed,
        covariates=covariates,
        random=tuple(random),
        variances=variances,
        estimate=block["estimate"],
        reml=dict(block.get("reml", {})),
        solver=_solver(block, where),
        pcg=dict(block.get("pcg", {})),
        trait_fixed=trait_fixed,
        trait_covariates=trait_covariates,
        weights=_weights(block, traits, fixed, covariates, random, where),
        genomic=dict(block.get("genomic", {})) if additive and additive[0].relationship != "pedigree" else {},
        reliability=_reliability(block, where),
        samples=int(block.get("samples", 200)),
    )


def _check_relationship(block: Mapping[str, Any], additive: RandomEffect | None, has_pedigree: bool,
                        has_genotypes: bool | None, where: str) -> None:
    """A pedigree relationship needs `pedigree:`; a genomic one `genotypes:` (and a pedigree for
    blending or tuning G* with A22); a single-step one both. `has_genotypes` None: not checked
    (a model block validated on its own)."""
    if additive is None:
        return
    kind = additive.relationship
    if kind in ("genomic", "single_step") and has_genotypes is False:
        raise ConfigError(f"{where}.random.{additive.name}: `relationship: {kind}` needs genotypes; set `genotypes:`.")
    if kind == "pedigree" and not has_pedigree:
        raise ConfigError(f"{where}: the additive effect needs a pedigree; set `pedigree:`.")
    if kind == "single_step" and not has_pedigree:
        raise ConfigError(f"{where}.random.{additive.name}: `relationship: single_step` needs a pedigree; set "
                          "`pedigree:` (or use `relationship: genomic` for GBLUP on the genotyped animals only).")
    genomic = block.get("genomic", {})
    blend = genomic.get("blend", 0.05)
    if kind == "genomic" and not has_pedigree and (blend > 0 or genomic.get("tune", "none") != "none"):
        raise ConfigError(
            f"{where}.genomic: blending (blend {blend}) and tuning G* use A22 from a pedigree, and the config has "
            "none: set `pedigree:`, or `genomic: {blend: 0, tune: none}` (add `ridge: 0.01` if G is singular)."
        )
    if kind == "genomic" and any(e.get("type") == "maternal" if isinstance(e, Mapping) else False
                                 for e in block["random"].values()):
        raise ConfigError(f"{where}: a maternal effect with `relationship: genomic` would need every dam genotyped; "
                          "use `relationship: single_step`.")


def _scalar_variances(block: Mapping[str, Any], random: list[RandomEffect], maternal: list[RandomEffect],
                      names: list[str], where: str) -> dict[str, float]:
    """One trait's variances: a number per random effect, the direct–maternal covariance
    `<direct>.<maternal>` (also accepted as `<maternal>.<direct>`) and `residual`."""
    variances = {}
    covariance_keys = {f"{e.of}.{e.name}": f"{e.of}.{e.name}" for e in maternal}
    covariance_keys.update({f"{e.name}.{e.of}": f"{e.of}.{e.name}" for e in maternal})
    for key, value in block["variances"].items():
        if isinstance(value, list):
            if len(value) != 1 or len(value[0]) != 1:
                raise ConfigError(
                    f"{where}.variances.{key}: a {len(value)} × {len(value[0]) if value else 0} matrix for a "
                    "single-trait model; give one number."
                )
            value = value[0][0]
        variances[covariance_keys.get(key, key)] = float(value)
    needed = [e.name for e in random] + [f"{e.of}.{e.name}" for e in maternal] + [RESIDUAL]
    unknown = sorted(set(variances) - set(needed))
    if unknown:
        raise ConfigError(
            f"{where}.variances: {unknown} is not a random effect of this model; expected keys {needed}."
        )
    missing = [k for k in needed if k not in variances]
    if missing and block["estimate"] == "none":
        raise ConfigError(
            f"{where}.variances: no value for {missing}; with `estimate: none` every random effect and "
            "the residual need a variance."
        )
    if variances.get(RESIDUAL, 1.0) <= 0:
        raise ConfigError(f"{where}.variances.residual must be positive.")
    zero = [k for k in names if k in variances and variances[k] <= 0 and block["estimate"] == "none"]
    if zero:
        raise ConfigError(
            f"{where}.variances: {zero} must be positive; remove an effect with no variance from the model."
        )
    return {k: variances[k] for k in needed if k in variances}


def _weights(block, traits, fixed, covariates, random, where: str) -> str | None:
    """The record-weight column: not also a trait, an effect or a covariate of the model."""
    column = block.get("weights")
    if column is None:
        return None
    used = set(traits) | set(fixed) | set(covariates) | {e.column for e in random}
    if column in used:
        raise ConfigError(
            f"{where}.weights: {column!r} is also a trait, effect or covariate of the model; the weight "
            "column holds w_i of the residual variance σ²e / w_i and must be a column of its own."
        )
    return column


def _solver(block: Mapping[str, Any], where: str) -> str:
    """The model's solver; with PCG, REML samples the traces (Monte Carlo REML)."""
    return block.get("solver", "auto")


def _reliability(block: Mapping[str, Any], where: str) -> str:
    """How PEV and reliabilities are obtained (henderson.reliability); `exact` needs the factor."""
    method = block.get("reliability", "auto")
    if method == "exact" and block.get("solver", "auto") == "pcg":
        raise ConfigError(
            f"{where}.reliability: exact reliabilities need the selected inverse of the Cholesky factor, which "
            "solver: pcg does not compute; use solver: cholesky or auto, or reliability: approximate or sampled."
        )
    return method


def _per_trait(value: Any, traits: tuple[str, ...], where: str) -> dict[str, tuple[str, ...]]:
    """A shared list, or a mapping trait -> list (traits not named get none), as trait -> tuple."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(traits))
        if unknown:
            raise ConfigError(f"{where}: {unknown} is not a trait of this model; traits are {list(traits)}.")
        return {t: tuple(value.get(t, ())) for t in traits}
    return {t: tuple(value) for t in traits}


def _union(lists: Any) -> tuple[str, ...]:
    out: list[str] = []
    for items in lists:
        out.extend(c for c in items if c not in out)
    return tuple(out)


def _matrix_variances(
    given: Mapping[str, Any], random: list[RandomEffect], traits: tuple[str, ...], estimate: str, where: str
) -> dict[str, list[list[float]]]:
    """Validate multi-trait (co)variance matrices: t × t, symmetric, positive definite when used
    as given (positive semi-definite is enough for starting values)."""
    t = len(traits)
    maternal = [e for e in random if e.type == "maternal"]
    cross = {f"{e.of}.{e.name}" for e in maternal}
    given = dict(given)
    for e in maternal:  # `dam.animal` is the transpose of `animal.dam`
        swapped = f"{e.name}.{e.of}"
        if swapped in given and f"{e.of}.{e.name}" not in given:
            value = given.pop(swapped)
            if isinstance(value, list):
                value = np.asarray(value, dtype=float).T.tolist()
            given[f"{e.of}.{e.name}"] = value
    needed = [e.name for e in random] + sorted(cross) + [RESIDUAL]
    unknown = sorted(set(given) - set(needed))
    if unknown:
        raise ConfigError(f"{where}.variances: {unknown} is not a random effect of this model; expected keys {needed}.")
    missing = [k for k in needed if k not in given and k not in cross]
    if missing and estimate == "none":
        raise ConfigError(
            f"{where}.variances: no matrix for {missing}; with `estimate: none` every random effect and the "
            "residual need a covariance matrix."
        )
    out = {}
    for key in needed:
        if key not in given:
            continue
        value = given[key]
        matrix = np.asarray(value, dtype=float) if isinstance(value, list) else None
        if matrix is None or matrix.shape != (t, t):
            raise ConfigError(
                f"{where}.variances.{key}: expected a {t} × {t} covariance matrix in trait order {list(traits)}, "
                f"e.g. [[20, 18], [18, 40]]; got {value!r}."
            )
        if key in cross:  # direct (rows) × maternal (columns): any t × t matrix
            out[key] = matrix.tolist()
            continue
        if not np.allclose(matrix, matrix.T, rtol=1e-9, atol=1e-12):
            raise ConfigError(f"{where}.variances.{key}: the matrix is not symmetric: {value}.")
        eigen = np.linalg.eigvalsh(matrix)
        if estimate == "none" and eigen.min() <= 0:
            raise ConfigError(
                f"{where}.variances.{key}: the matrix is not positive definite (eigenvalues {eigen.round(6).tolist()})."
            )
        if eigen.min() < -1e-9 * max(eigen.max(), 1.0):
            raise ConfigError(f"{where}.variances.{key}: the matrix is not positive semi-definite.")
        out[key] = matrix.tolist()
    return out


def model_columns_params(models: Mapping[str, ModelSpec]) -> dict[str, dict]:
    """The columns each model reads, as plain data (a rule param of the clean stage):
    ``traits``, ``classes``, ``covariates``, ``optional`` ({effect: column} of the random effects
    with ``missing: keep``), ``maternal`` ({effect: dam column}), and the labels ``fixed`` and
    ``random`` (effect names)."""
    return {
        name: {
            "traits": list(spec.columns.traits),
            "classes": list(spec.columns.classes),
            "covariates": list(spec.columns.covariates),
            "optional": dict(spec.columns.optional),
            "maternal": {e.name: e.column for e in spec.random if e.type == "maternal"},
            "fixed": list(spec.fixed),
            "random": [e.name for e in spec.random],
        }
        for name, spec in models.items()
    }


def model_from_dict(
    name: str, block: Mapping[str, Any], *, id_column: str = "id", has_pedigree: bool = True,
    has_genotypes: bool | None = None,
) -> ModelSpec:
    """Validate one model block (e.g. `ModelSpec.to_dict()` passed as a rule param) into a spec."""
    schema = config_schema()
    validator = jsonschema.Draft202012Validator({**schema["$defs"]["model"], "$defs": schema["$defs"]})
    errors = list(validator.iter_errors(dict(block)))
    if errors:
        raise ConfigError(f"models.{name}: " + "; ".join(_describe(e) for e in errors))
    full = _with_defaults(dict(block), schema["$defs"]["model"], schema)
    return _model_spec(name, full, id_column, has_pedigree, "config", has_genotypes)


def load_config(path: str | Path) -> EvaluationConfig:
    """Read a YAML configuration file and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8."
        ) from exc
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    return validate_config(raw or {}, source=str(path))
