"""Tests of FedProx: the proximal term, its gradient and the callback."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.parameters import InvalidParameterError
from p2pfl_core.algorithms.catalog import make_learner_callback
from p2pfl_core.algorithms.fedprox import (
    FedProxCallback,
    proximal_gradient,
    proximal_term,
)
from p2pfl_core.algorithms.step_callback import add_gradient_terms, step_callbacks
from p2pfl_core.errors import ConfigError
from p2pfl_core.weights import ModelWeights

LOCAL = {"w": np.array([1.0, 2.0])}
GLOBAL = {"w": np.array([-2.0, -2.0])}


def test_proximal_term_squares_the_norm() -> None:
    """mu 0.1, w [1, 2], w_t [-2, -2]: 0.05 * 25 = 1.25, not 0.25."""
    assert proximal_term(LOCAL, GLOBAL, 0.1) == pytest.approx(1.25, abs=1e-12)


def test_proximal_gradient() -> None:
    """The gradient mu (w - w_t) is [0.3, 0.4]."""
    gradient = proximal_gradient(LOCAL, GLOBAL, 0.1)
    np.testing.assert_allclose(gradient["w"], [0.3, 0.4], rtol=0, atol=1e-12)


def test_proximal_term_sums_layers() -> None:
    """Over layers the term uses the norm of the concatenation: 0.05 * 29 = 1.45."""
    local = {"a": np.array([1.0, 2.0]), "b": np.array(3.0)}
    start = {"a": np.array([-2.0, -2.0]), "b": np.array(1.0)}
    assert proximal_term(local, start, 0.1) == pytest.approx(1.45, abs=1e-12)


def test_gradient_keeps_layer_dtype() -> None:
    """The gradient of a float32 layer is float32."""
    gradient = proximal_gradient({"w": np.ones(2, np.float32)}, {"w": np.zeros(2)}, 0.5)
    assert gradient["w"].dtype == np.float32


def test_sgd_step_with_proximal_term() -> None:
    """One step on 0.5 |w|^2 with lr 0.5 moves [1, 2] to [0.35, 0.8]."""
    callback = FedProxCallback(mu=0.1)
    callback.on_fit_start(None, ModelWeights(dict(GLOBAL)))  # type: ignore[arg-type]
    params = {"w": np.array([1.0, 2.0])}
    loss_gradient = {"w": params["w"].copy()}
    gradients = add_gradient_terms(
        loss_gradient, params, 0.5, step_callbacks([callback])
    )
    params["w"] = params["w"] - 0.5 * gradients["w"]
    np.testing.assert_allclose(params["w"], [0.35, 0.8], rtol=0, atol=1e-12)


def test_callback_loss_term() -> None:
    """The callback reports mu / 2 |w - w_t|^2 as its loss term."""
    callback = FedProxCallback(mu=0.1)
    callback.on_fit_start(None, ModelWeights(dict(GLOBAL)))  # type: ignore[arg-type]
    assert callback.loss_term(LOCAL) == pytest.approx(1.25, abs=1e-12)


def test_statistics_get_no_term() -> None:
    """BatchNorm statistics and integer layers get no proximal gradient."""
    start = ModelWeights(
        {
            "w": np.zeros(2),
            "bn.running_mean": np.zeros(2),
            "bn.num_batches_tracked": np.array(3),
        }
    )
    callback = FedProxCallback(mu=1.0)
    callback.on_fit_start(None, start)  # type: ignore[arg-type]
    params = {
        "w": np.ones(2),
        "bn.running_mean": np.ones(2),
        "bn.num_batches_tracked": np.array(4),
    }
    assert sorted(callback.gradient_terms(params, 0.1)) == ["w"]


def test_zero_mu_adds_nothing() -> None:
    """mu 0 adds no gradient term."""
    callback = FedProxCallback(mu=0.0)
    callback.on_fit_start(None, ModelWeights(dict(GLOBAL)))  # type: ignore[arg-type]
    assert callback.gradient_terms(LOCAL, 0.1) == {}


def test_negative_mu_rejected() -> None:
    """A negative mu raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="'mu'"):
        FedProxCallback(mu=-0.1)


def test_catalog_builds_fedprox() -> None:
    """{name: fedprox, mu: 0.2} builds a FedProxCallback with mu 0.2."""
    callback = make_learner_callback({"name": "fedprox", "mu": 0.2})
    assert isinstance(callback, FedProxCallback)
    assert callback.mu == 0.2


def test_catalog_unknown_name() -> None:
    """An unknown algorithm name lists the choices."""
    with pytest.raises(ConfigError, match="choose one of: fedprox, scaffold"):
        make_learner_callback("fedprox2")
