"""Configuration validation: every key typed and described, clear errors naming the key."""

import pytest

from henderson.errors import ConfigError
from henderson.model import config_schema, load_config, model_from_dict, validate_config

BASE = {
    "pedigree": "ped.csv",
    "phenotypes": "phen.csv",
    "models": {
        "wwg": {
            "traits": ["wwg"],
            "fixed": ["sex"],
            "random": {"animal": "additive"},
            "variances": {"animal": 20, "residual": 40},
        }
    },
}


def with_model(**changes):
    model = dict(BASE["models"]["wwg"], **changes)
    return dict(BASE, models={"wwg": model})


def test_defaults_and_short_form():
    cfg = validate_config(BASE)
    assert cfg.id_column == "id"
    assert cfg.unknown_parent == ("0", "NA", "", ".")
    spec = cfg.models["wwg"]
    assert spec.traits == ("wwg",) and spec.fixed == ("sex",) and spec.covariates == ()
    assert spec.additive.name == "animal" and spec.additive.column == "id"
    assert spec.estimate == "ai"
    assert spec.reml == {
        "max_iterations": 100, "loglik_change": 1e-7, "parameter_change": 1e-6,
        "gradient_norm": 1e-4, "em_iterations": 1,
    }
    assert spec.variances == {"animal": 20.0, "residual": 40.0}
    assert spec.parameter_names == ("animal", "residual")


def test_long_form_and_iid_column():
    cfg = validate_config(
        with_model(
            random={"animal": {"type": "additive"}, "litter": "iid", "pen": {"type": "iid", "column": "pen_id"}},
            variances={"animal": 20, "litter": 5, "pen": 3, "residual": 40},
        )
    )
    spec = cfg.models["wwg"]
    assert [(e.name, e.type, e.column) for e in spec.random] == [
        ("animal", "additive", "id"),
        ("litter", "iid", "litter"),
        ("pen", "iid", "pen_id"),
    ]
    assert spec.columns.classes == ("sex", "litter", "pen_id")
    again = model_from_dict("wwg", spec.to_dict(), id_column="id")
    assert again == spec


def test_maternal_effect_and_covariance_key():
    cfg = validate_config(
        with_model(
            random={"pe": {"type": "iid", "column": "id"}, "dam": {"type": "maternal", "of": "animal"}, "animal": "additive"},
            variances={"animal": 20, "dam": 8, "dam.animal": -3, "pe": 5, "residual": 40},
        )
    )
    spec = cfg.models["wwg"]
    # direct and maternal effects are adjacent (one covariance group), direct first
    assert [(e.name, e.type, e.column, e.of) for e in spec.random] == [
        ("animal", "additive", "id", None),
        ("dam", "maternal", "dam", "animal"),
        ("pe", "iid", "id", None),
    ]
    assert spec.variances["animal.dam"] == -3.0 and "dam.animal" not in spec.variances
    assert spec.parameter_names == ("animal", "dam", "pe", "animal.dam", "residual")
    assert spec.columns.classes == ("sex", "dam", "id")
    assert model_from_dict("wwg", spec.to_dict()) == spec


def test_reml_needs_no_variances():
    spec = validate_config(with_model(variances={}, estimate="em")).models["wwg"]
    assert spec.variances == {} and spec.estimate == "em"


def test_every_key_has_description_and_default():
    schema = config_schema()
    for key, sub in schema["properties"].items():
        assert "description" in sub and "default" in sub, key
    for key, sub in schema["$defs"]["model"]["properties"].items():
        assert "description" in sub and "default" in sub, key


@pytest.mark.parametrize(
    "config, words",
    [
        (dict(BASE, colour="red"), ["unknown key 'colour'", "(top level)"]),
        (with_model(trait=["x"]), ["unknown key 'trait'", "models.wwg"]),
        (with_model(fixed="sex"), ["models.wwg.fixed", "wrong type"]),
        (with_model(random={"animal": "additiv"}), ["models.wwg.random.animal", "not a random effect"]),
        (with_model(variances={"animal": 20}, estimate="none"), ["residual", "estimate: none"]),
        (with_model(random={"animal": "additive", "dam": {"type": "maternal"}}), ["models.wwg.random.dam", "of:"]),
        (with_model(random={"animal": "maternal"}), ["models.wwg.random.animal"]),
        (with_model(random={"m": {"type": "maternal", "of": "nope"}}), ["models.wwg.random.m", "additive"]),
        (with_model(random={"pe": {"type": "iid", "of": "animal"}}), ["`of` applies to a maternal effect only"]),
        (with_model(reml={"max_iterations": 0}), ["models.wwg.reml.max_iterations"]),
        (with_model(reml={"tolerance": 1}), ["unknown key 'tolerance'"]),
        (with_model(variances={"animal": 20, "residual": 40, "dam": 3}), ["'dam'", "not a random effect"]),
        (with_model(variances={"animal": -1, "residual": 40}), ["models.wwg.variances.animal"]),
        (with_model(estimate="bayes"), ["models.wwg.estimate", "bayes"]),
        (dict(BASE, pedigree=None), ["needs a pedigree"]),
        (with_model(fixed=["sex"], covariates=["sex"]), ["both a class effect and a covariate"]),
        (dict(BASE, models={"bad name": BASE["models"]["wwg"]}), ["bad name"]),
    ],
)
def test_errors_name_the_key(config, words):
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    for word in words:
        assert word in str(info.value)


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_multitrait_model_with_per_trait_effects_and_matrices():
    cfg = validate_config(
        dict(
            BASE,
            models={
                "mt": {
                    "traits": ["wwg", "pwg"],
                    "fixed": {"wwg": ["sex"], "pwg": ["sex", "herd"]},
                    "covariates": ["age"],
                    "random": {"animal": "additive"},
                    "variances": {"animal": [[20, 18], [18, 40]], "residual": [[40, 11], [11, 30]]},
                    "estimate": "none",
                }
            },
        )
    )
    spec = cfg.models["mt"]
    assert spec.multitrait and spec.traits == ("wwg", "pwg")
    assert spec.trait_fixed == {"wwg": ("sex",), "pwg": ("sex", "herd")}
    assert spec.fixed == ("sex", "herd") and spec.trait_covariates == {"wwg": ("age",), "pwg": ("age",)}
    assert spec.variances["animal"] == [[20.0, 18.0], [18.0, 40.0]]
    assert spec.columns.traits == ("wwg", "pwg") and spec.columns.classes == ("sex", "herd")
    assert model_from_dict("mt", spec.to_dict()) == spec


@pytest.mark.parametrize(
    "change, words",
    [
        ({"variances": {"animal": 20, "residual": [[40, 11], [11, 30]]}}, ["models.mt.variances.animal", "2 × 2"]),
        ({"variances": {"animal": [[20, 18], [17, 40]], "residual": [[40, 11], [11, 30]]}}, ["not symmetric"]),
        ({"variances": {"animal": [[20, 30], [30, 40]], "residual": [[40, 11], [11, 30]]}}, ["not positive definite"]),
        ({"fixed": {"wwg": ["sex"], "bwt": ["sex"]}}, ["'bwt'", "not a trait"]),
        ({"random": {"animal": "additive", "dam": {"type": "maternal", "of": "animal"}},
          "variances": {}, "estimate": "ai"}, ["single-trait models only"]),
    ],
)
def test_multitrait_errors(change, words):
    block = {
        "traits": ["wwg", "pwg"],
        "fixed": ["sex"],
        "random": {"animal": "additive"},
        "variances": {"animal": [[20, 18], [18, 40]], "residual": [[40, 11], [11, 30]]},
        "estimate": "none",
    }
    block.update(change)
    with pytest.raises(ConfigError) as info:
        validate_config(dict(BASE, models={"mt": block}))
    for word in words:
        assert word in str(info.value)
