"""Configuration validation (every key typed and described, clear errors naming the key) and
the mixed model built from records: traits with missing values, per-trait fixed effects, terms
of effects sharing one relationship, the order of the unknowns and of the variance parameters."""

import numpy as np
import pandas as pd
import pytest

from henderson.config import (
    config_schema,
    load_config,
    model_from_dict,
    validate_config,
)
from henderson.covariance import VarianceComponents
from henderson.design import additive_effect, iid_effect, maternal_effect
from henderson.errors import ConfigError, InputError
from henderson.model import build_model
from henderson.pedigree import sort_pedigree
from henderson.relationship import pedigree_relationship_from
from henderson.reml import reml_loglik

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
        "gradient_norm": 1e-4, "em_iterations": 1, "boundary": 1e-3,
        # Monte Carlo REML (PCG with sampled traces)
        "probes": "auto", "mc_se_target": 0.1, "start_probes": 32, "max_probes": 1000, "seed": 1,
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
    """Every key is described; every key that may be left out has a default."""
    schema = config_schema()
    assert set(schema["required"]) == {"phenotypes", "models"}
    for block in (schema, schema["$defs"]["model"]):
        for key, sub in block["properties"].items():
            assert "description" in sub, key
            assert "default" in sub or key in block["required"], key
    with pytest.raises(ConfigError, match="phenotypes"):
        validate_config({k: v for k, v in BASE.items() if k != "phenotypes"})


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


MT_MATERNAL = {
    "traits": ["wwg", "pwg"],
    "fixed": ["sex"],
    "random": {"dam": {"type": "maternal", "of": "animal"}, "animal": "additive"},
    "variances": {"animal": [[20, 18], [18, 40]], "dam": [[6, 2], [2, 5]], "residual": [[40, 11], [11, 30]]},
    "estimate": "none",
}


def test_multitrait_direct_maternal_covariance_matrix_is_accepted():
    """With several traits the direct-maternal covariance is a t × t matrix, `dam.animal` its
    transpose."""
    block = dict(MT_MATERNAL, variances={**MT_MATERNAL["variances"], "dam.animal": [[-2, -1], [0.5, -1.5]]})
    spec = validate_config(dict(BASE, models={"mt": block})).models["mt"]
    assert spec.variances["animal.dam"] == [[-2.0, 0.5], [-1.0, -1.5]]


def test_multitrait_maternal_model_and_its_parameters():
    """Several traits with a maternal effect: one term (animal, dam) with 2t components; the
    cross-covariance `dam.animal` is the transpose of `animal.dam`."""
    spec = validate_config(dict(BASE, models={"mt": MT_MATERNAL})).models["mt"]
    assert [[e.name for e in term] for term in spec.terms] == [["animal", "dam"]]
    assert "animal.dam" not in spec.variances  # left out: 0
    layout = spec.layout()
    assert layout.names == (
        "animal[wwg,wwg]", "animal[pwg,pwg]", "dam[wwg,wwg]", "dam[pwg,pwg]", "animal[wwg,pwg]",
        "animal.dam[wwg,wwg]", "animal.dam[wwg,pwg]", "animal.dam[pwg,wwg]", "animal.dam[pwg,pwg]",
        "dam[wwg,pwg]", "residual[wwg,wwg]", "residual[pwg,pwg]", "residual[wwg,pwg]",
    )
    vc = VarianceComponents.from_named(layout, spec.variances)
    np.testing.assert_array_equal(vc.theta, [20, 40, 6, 5, 18, 0, 0, 0, 0, 2, 40, 30, 11])
    vc = VarianceComponents.from_named(layout, {**spec.variances, "dam.animal": [[-2, -1], [0.5, -1.5]]})
    np.testing.assert_array_equal(vc.theta, [20, 40, 6, 5, 18, -2, 0.5, -1, -1.5, 2, 40, 30, 11])
    assert vc.is_inside()
    # σ²p (Willham): G_aa + G_mm + σ_am + R, trait by trait
    np.testing.assert_array_equal(vc.phenotypic_variance(), [20 + 6 - 2 + 40, 40 + 5 - 1.5 + 30])
    # the same layout as the model built from records
    model = build_model(RECORDS, ["wwg", "pwg"], (("sex",), ()), [[direct(), maternal()]])
    assert model.layout == layout


# --------------------------------------------------------------------------------------------
# The mixed model built from records
# --------------------------------------------------------------------------------------------
# Mrode (2014), Table 3.1 pedigree; two traits with missing values, a pen, dams (one unknown).
PEDIGREE = [("1", None, None), ("2", None, None), ("3", None, None), ("4", "1", None),
            ("5", "3", "2"), ("6", "1", "2"), ("7", "4", "5"), ("8", "3", "6")]
RECORDS = pd.DataFrame({
    "id": ["4", "5", "6", "7", "8", "8"],
    "dam": [None, "2", "2", "5", "6", "6"],
    "sex": ["M", "F", "F", "M", "M", "M"],
    "herd": ["h1", "h2", "h1", "h2", "h1", "h2"],
    "pen": ["p1", "p2", "p1", "p2", "p1", "p2"],
    "age": [180.0, 190.0, np.nan, 200.0, 185.0, 195.0],
    "wwg": [4.5, 2.9, 3.9, 3.5, 5.0, np.nan],
    "pwg": [np.nan, 6.8, 7.1, 6.0, 7.5, 7.2],
})


def relationship():
    ids, sires, dams = zip(*PEDIGREE)
    return pedigree_relationship_from(sort_pedigree(list(ids), list(sires), list(dams)))


REL = relationship()


WWG = RECORDS[RECORDS["wwg"].notna()]


def direct(records=RECORDS):
    return additive_effect("animal", records["id"], REL)


def maternal(records=RECORDS):
    return maternal_effect("dam", records["dam"], REL)


def two_trait_model():
    """wwg: sex; pwg: sex + herd; terms (animal, dam) and pen."""
    fixed = {"wwg": (("sex",), ()), "pwg": (("sex", "herd"), ())}
    return build_model(RECORDS, ["wwg", "pwg"], fixed, [[direct(), maternal()], iid_effect("pen", RECORDS["pen"])])


def test_two_traits_with_missing_values_layout_and_unknowns():
    model = two_trait_model()
    assert model.traits == ("wwg", "pwg") and model.n_records == 6 and model.n_traits == 2
    np.testing.assert_array_equal(np.isnan(model.y), [[0, 1], [0, 0], [0, 0], [0, 0], [0, 0], [1, 0]])
    assert model.n_observed == 10
    # each trait's fixed effects over its own records: wwg sex (F, M); pwg sex (F, M) + herd (h2)
    np.testing.assert_array_equal(model.fixed_rows[0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(model.fixed_rows[1], [1, 2, 3, 4, 5])
    assert [f.n_columns for f in model.fixed] == [2, 3] and model.n_fixed == 5
    # unknowns: fixed wwg, fixed pwg, animal wwg, animal pwg, dam wwg, dam pwg, pen wwg, pen pwg
    np.testing.assert_array_equal(model.offsets, [0, 2, 5, 13, 21, 29, 37, 39, 41])
    assert model.n_unknowns == 41
    assert model.block(0, 0) == (5, 13) and model.block(0, 3) == (29, 37) and model.block(1, 1) == (39, 41)
    assert [term.k for term in model.terms] == [4, 2] and [term.q for term in model.terms] == [8, 2]
    assert model.layout.names[:4] == ("animal[wwg,wwg]", "animal[pwg,pwg]", "dam[wwg,wwg]", "dam[pwg,pwg]")
    assert model.layout.names[-5:] == (
        "pen[pwg,pwg]", "pen[wwg,pwg]", "residual[wwg,wwg]", "residual[pwg,pwg]", "residual[wwg,pwg]"
    )
    assert len(model.layout.names) == 10 + 3 + 3


def test_design_of_the_observed_values():
    """W (t n × N): row j n + i is record i, trait j; empty where that value is missing; the
    unknown dam of record 0 gives it no maternal column."""
    model = two_trait_model()
    w = model.w.toarray()
    n = model.n_records
    assert w.shape == (2 * n, model.n_unknowns)
    assert not w[n * 0 + 5].any() and not w[n * 1 + 0].any()  # missing values: empty rows
    animal_wwg, dam_wwg = model.block(0, 0), model.block(0, 2)
    levels = list(REL.levels)
    for i, (animal, dam) in enumerate(zip(RECORDS["id"], RECORDS["dam"])):
        if i == 5:
            continue
        row = w[i]
        assert row[animal_wwg[0] + levels.index(animal)] == 1.0
        assert row[animal_wwg[0]:animal_wwg[1]].sum() == 1.0
        assert row[dam_wwg[0]:dam_wwg[1]].sum() == (0.0 if pd.isna(dam) else 1.0)
    np.testing.assert_array_equal(model.y_flat, np.nan_to_num(model.y, nan=0.0).T.reshape(-1))


def test_trait_model_equals_the_one_trait_model_of_its_records():
    model = two_trait_model()
    sub = model.trait_model(1)
    rows = RECORDS[RECORDS["pwg"].notna()]
    alone = build_model(
        rows, ["pwg"], (("sex", "herd"), ()),
        [[additive_effect("animal", rows["id"], REL), maternal_effect("dam", rows["dam"], REL)],
         iid_effect("pen", rows["pen"])],
    )
    assert sub.layout == alone.layout and sub.layout.names == ("animal", "dam", "animal.dam", "pen", "residual")
    np.testing.assert_array_equal(sub.y, alone.y)
    np.testing.assert_array_equal(sub.offsets, alone.offsets)
    assert (sub.w != alone.w).nnz == 0
    values = {"animal": 2.0, "dam": 1.0, "animal.dam": -0.3, "pen": 0.5, "residual": 1.5}
    assert reml_loglik(sub, values).loglik == pytest.approx(reml_loglik(alone, values).loglik, rel=1e-12)


def test_without_drops_components_like_a_model_without_them():
    """Dropping the maternal components of the (animal, dam) term is the model without the
    maternal effect (logL equal to 1e-12)."""
    one = build_model(WWG, ["wwg"], (("sex",), ()), [[direct(WWG), maternal(WWG)]])
    reduced = one.without({0: [1]})
    assert reduced.layout.names == ("animal", "residual")
    plain = build_model(WWG, ["wwg"], (("sex",), ()), [direct(WWG)])
    np.testing.assert_array_equal(reduced.offsets, plain.offsets)
    values = {"animal": 2.0, "residual": 1.5}
    assert reml_loglik(reduced, values).loglik == pytest.approx(reml_loglik(plain, values).loglik, rel=1e-12)
    # a term without components left is removed
    assert one.without({0: [0, 1]}).terms == ()
    assert one.without({0: [0, 1]}).layout.names == ("residual",)


def test_weights_scale_the_residual():
    """Record weights w_i: residual variance σ²_e / w_i; all weights 2 equal σ²_e halved."""
    model = build_model(WWG, ["wwg"], (("sex",), ()), [direct(WWG)], weights=np.full(len(WWG), 2.0))
    plain = build_model(WWG, ["wwg"], (("sex",), ()), [direct(WWG)])
    weighted = reml_loglik(model, {"animal": 2.0, "residual": 3.0}).loglik
    halved = reml_loglik(plain, {"animal": 2.0, "residual": 1.5}).loglik
    assert weighted == pytest.approx(halved, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"traits": []}, ConfigError, ["at least one trait"]),
        ({"traits": ["wwg", "wwg"]}, ConfigError, ["more than once"]),
        ({"traits": ["bwt"]}, ConfigError, ["['bwt']", "not columns"]),
        ({"fixed": {"wwg": (("sex",), ())}}, ConfigError, ["pwg"]),
        ({"fixed": (("colour",), ())}, ConfigError, ["colour"]),
        ({"fixed": ((), ("age",))}, InputError, ["trait wwg", "covariate age", "row 2"]),
        ({"terms": [direct(), iid_effect("animal", RECORDS["pen"])]}, ConfigError, ["distinct"]),
        ({"terms": [iid_effect("residual", RECORDS["pen"])]}, ConfigError, ["'residual'"]),
        ({"weights": np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])}, InputError, ["weights"]),
    ],
)
def test_build_model_errors(kwargs, error, words):
    args = {"traits": ["wwg", "pwg"], "fixed": (("sex",), ()), "terms": [direct()], **kwargs}
    weights = args.pop("weights", None)
    with pytest.raises(error) as info:
        build_model(RECORDS, args["traits"], args["fixed"], args["terms"], weights=weights)
    for word in words:
        assert word in str(info.value)


def test_records_without_traits_or_with_text_values_are_input_errors():
    no_trait = RECORDS.assign(wwg=[4.5, np.nan, 3.9, 3.5, 5.0, np.nan], pwg=[np.nan, np.nan, 7.1, 6.0, 7.5, 7.2])
    with pytest.raises(InputError, match="no observed trait"):
        build_model(no_trait, ["wwg", "pwg"], (("sex",), ()))
    text = WWG.assign(wwg=["4.5", "2.9", "x", "3.5", "5.0"])
    with pytest.raises(InputError, match="'x'"):
        build_model(text, ["wwg"], (("sex",), ()))
