"""The solver interface: a solver without a log-determinant (as an iterative one will be) still
fits REML, because step acceptance does not need an exact logL; unknown solvers are refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from henderson.design import iid_effect
from henderson.errors import ConfigError
from henderson.mme import Equations
from henderson.model import build_model
from henderson.reml import fit_reml
from henderson.solvers import make_solver, register_solver
from henderson.solvers.cholesky import CholeskySolver

DATA = Path(__file__).parent / "data"


class NoLogDet(CholeskySolver):
    """The exact solver with its log-determinant withheld."""

    name = "no-logdet"
    exact = False

    def logdet(self) -> None:
        return None


def penicillin():
    d = pd.read_csv(DATA / "penicillin.csv", dtype={"plate": str, "sample": str})
    return build_model(d, ["diameter"], ((), ()), [iid_effect("plate", d["plate"]), iid_effect("sample", d["sample"])])


@pytest.mark.parametrize("method", ["ai", "em"])
def test_reml_without_a_log_likelihood_reaches_the_same_optimum(method):
    register_solver("no-logdet", NoLogDet)
    model = penicillin()
    exact = fit_reml(model, method=method)
    blind = fit_reml(model, method=method, solver="no-logdet")
    assert blind.converged and blind.log_likelihood is None
    assert blind.solver == "no-logdet"
    assert set(blind.trace["log_likelihood"].isna()) == {True}
    # AI: Newton-decrement convergence (1e-4) puts θ within ~1e-7 relative; EM: ~1e-5
    tol = 1e-6 if method == "ai" else 1e-4
    for name, value in exact.values.items():
        assert blind.values[name] == pytest.approx(value, rel=tol), name
    for name, value in exact.se.items():
        assert blind.se[name] == pytest.approx(value, rel=1e-4), name


def test_unknown_solver_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown solver 'magic'"):
        make_solver("magic", Equations(penicillin()))
