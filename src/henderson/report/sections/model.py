"""The model section: the model equation per trait and what each term is."""

from __future__ import annotations

from typing import Any

from henderson.config import ModelSpec, RandomEffect
from henderson.covariance import RESIDUAL

_TYPE_WORDS = {
    "additive": "additive genetic effect (random, covariance A\u00b7\u03c3\u00b2)",
    "maternal": "maternal genetic effect (random, covariance A\u00b7\u03c3\u00b2, on the dam)",
    "iid": "independent random effect (covariance I\u00b7\u03c3\u00b2)",
}


def trait_fixed(spec: ModelSpec, trait: str) -> tuple[str, ...]:
    """Fixed class effects of one trait (the shared list when none is given per trait)."""
    return tuple(spec.trait_fixed.get(trait, spec.fixed))


def trait_covariates(spec: ModelSpec, trait: str) -> tuple[str, ...]:
    """Covariates of one trait (the shared list when none is given per trait)."""
    return tuple(spec.trait_covariates.get(trait, spec.covariates))


def _right_hand_side(spec: ModelSpec, trait: str) -> tuple[str, ...]:
    fixed = trait_fixed(spec, trait)
    terms = fixed if fixed else ("mean",)
    return (*terms, *trait_covariates(spec, trait), *(e.name for e in spec.random), RESIDUAL)


def _random_words(effect: RandomEffect) -> str:
    words = f"{_TYPE_WORDS[effect.type]}; levels from column {effect.column}"
    if effect.of:
        words += f"; correlated with the direct effect {effect.of} (covariance {effect.of}.{effect.name})"
    return words


def equation_section(spec: ModelSpec) -> dict[str, Any]:
    """The model equation(s), one line per term and a note for several traits.

    Returns ``formulas`` (one for traits sharing their terms, else one per trait), ``terms``
    ((name, description) pairs) and ``note``.
    """
    traits = spec.traits
    sides = {t: _right_hand_side(spec, t) for t in traits}
    if len(set(sides.values())) == 1:
        lhs = "[" + ", ".join(traits) + "]" if len(traits) > 1 else traits[0]
        formulas = [f"{lhs} = " + " + ".join(sides[traits[0]])]
    else:
        formulas = [f"{t} = " + " + ".join(sides[t]) for t in traits]

    def which(name: str, per_trait) -> str:
        used = [t for t in traits if name in per_trait(spec, t)]
        return "" if len(used) == len(traits) else f" (traits {', '.join(used)})"

    terms: list[tuple[str, str]] = []
    if any(not trait_fixed(spec, t) for t in traits):
        terms.append(("mean", "overall mean (fixed intercept)"))
    for name in spec.fixed:
        words = "fixed class effect: one solution (BLUE) per level"
        terms.append((name, words + which(name, trait_fixed)))
    for name in spec.covariates:
        words = "covariate: fixed linear regression on its value"
        terms.append((name, words + which(name, trait_covariates)))
    for effect in spec.random:
        terms.append((effect.name, _random_words(effect)))
    terms.append((RESIDUAL, "random residual, covariance I\u00b7\u03c3\u00b2e"))
    note = ""
    if len(traits) > 1:
        note = (
            f"Multi-trait model: each of the {len(traits)} traits has its own solutions, and "
            "random effects and residuals are correlated between traits (covariance matrices "
            "below)."
        )
    return {"formulas": formulas, "terms": terms, "note": note}
