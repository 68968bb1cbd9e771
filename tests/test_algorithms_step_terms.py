"""FedProx and SCAFFOLD as per-round step terms, for compiled training steps."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.scaffold import CONTROL_PREFIX
from p2pfl_core.algorithms.fedprox import FedProxCallback
from p2pfl_core.algorithms.scaffold import ScaffoldCallback
from p2pfl_core.algorithms.step_callback import TrainingStepCallback
from p2pfl_core.algorithms.step_terms import (
    begin_fit,
    collect_step_terms,
    end_fit,
    momentum_step_size,
    record_steps,
)
from p2pfl_core.learning.learner import LearnerCallback
from p2pfl_core.learning.numpy_learner import NumpyLearner, build_softmax
from p2pfl_core.testing import digits_node_data
from p2pfl_core.weights import ModelWeights

LAYERS = {
    "w": np.array([1.0, 2.0], np.float32),
    "b": np.array([0.5], np.float32),
}


def start(callback: TrainingStepCallback, weights: ModelWeights) -> None:
    callback.on_fit_start(None, weights)  # type: ignore[arg-type]


def test_fedprox_terms() -> None:
    """FedProx gives mu and the round-start weights, in the layers' dtype."""
    callback = FedProxCallback(0.1)
    start(callback, ModelWeights({"w": np.array([-2.0, -2.0], np.float32)}))
    terms = collect_step_terms([callback], LAYERS)
    assert terms is not None
    assert terms.mu == {"w": 0.1, "b": 0.0}
    assert terms.anchor["w"].tolist() == [-2.0, -2.0]
    assert terms.anchor["w"].dtype == np.float32
    assert terms.anchor["b"].tolist() == [0.0]
    assert terms.offset["w"].tolist() == [0.0, 0.0]
    assert terms.proximal


def test_fedprox_zero_mu_adds_nothing() -> None:
    """mu 0 gives no proximal term."""
    callback = FedProxCallback(0.0)
    start(callback, ModelWeights(dict(LAYERS)))
    terms = collect_step_terms([callback], LAYERS)
    assert terms is not None
    assert not terms.proximal


def test_scaffold_offset_is_correction() -> None:
    """SCAFFOLD's offset is c - c_i: 0.5 - 0.2 = 0.3."""
    callback = ScaffoldCallback()
    callback.local_control = {
        "w": np.full(2, 0.2),
        "b": np.full(1, 0.2),
    }
    extra = {CONTROL_PREFIX + name: np.full_like(a, 0.5) for name, a in LAYERS.items()}
    start(callback, ModelWeights(dict(LAYERS), extra=extra))
    terms = collect_step_terms([callback], LAYERS)
    assert terms is not None
    np.testing.assert_allclose(terms.offset["w"], [0.3, 0.3], atol=1e-7)
    assert terms.offset["w"].dtype == np.float32
    assert terms.mu == {"w": 0.0, "b": 0.0}


def test_untrained_layer_gets_no_entry() -> None:
    """Terms cover the trained layers given, not every layer of the callbacks."""
    callback = FedProxCallback(0.1)
    start(callback, ModelWeights(dict(LAYERS)))
    terms = collect_step_terms([callback], {"w": LAYERS["w"]})
    assert terms is not None
    assert list(terms.mu) == ["w"]


def test_no_step_callbacks_no_terms() -> None:
    """Callbacks that take no part in steps give None."""
    assert collect_step_terms([LearnerCallback()], LAYERS) is None


def test_callback_without_closed_form() -> None:
    """A step callback without step_terms raises TypeError naming it."""

    class NumpyOnly(TrainingStepCallback):
        pass

    with pytest.raises(TypeError, match="NumpyOnly gives no step_terms"):
        collect_step_terms([NumpyOnly()], LAYERS)


def test_two_proximal_terms_rejected() -> None:
    """Two FedProx callbacks on one layer raise TypeError."""
    first, second = FedProxCallback(0.1), FedProxCallback(0.2)
    for callback in (first, second):
        start(callback, ModelWeights(dict(LAYERS)))
    with pytest.raises(TypeError, match="two callbacks add a proximal term"):
        collect_step_terms([first, second], LAYERS)


def test_record_steps_feeds_scaffold() -> None:
    """Seven recorded steps of 0.01 make a step size sum of 0.07."""
    callback = ScaffoldCallback()
    start(callback, ModelWeights(dict(LAYERS)))
    record_steps([callback, LearnerCallback()], 7, 0.01)
    assert callback.step_size_sum == pytest.approx(0.07, abs=1e-15)


@pytest.mark.parametrize(
    ("momentum", "steps", "expected"),
    [(0.0, 5, 0.1), (0.5, 1, 0.1), (0.5, 2, 0.125), (0.5, 3, 0.1416666667)],
)
def test_momentum_step_size(momentum: float, steps: int, expected: float) -> None:
    """Steps 1, 2, 3 with momentum 0.5 move 0.1, 0.15 and 0.175 at lr 0.1."""
    assert momentum_step_size(0.1, momentum, steps) == pytest.approx(expected)


class SharesOther(LearnerCallback):
    """Returns other weights, with an ``extra`` array, from on_fit_end."""

    def on_fit_end(self, learner: object, weights: ModelWeights) -> ModelWeights:
        shared = weights.copy()
        shared.extra["marker"] = np.array([1.0])
        return shared


def make_learner() -> NumpyLearner:
    return NumpyLearner(digits_node_data(), build_softmax(64, 10, seed=0))


def test_begin_fit_without_callbacks() -> None:
    """A learner without callbacks gets no terms."""
    assert begin_fit(make_learner(), ["linear.weight"]) is None


def test_end_fit_loads_shared_weights() -> None:
    """Weights that on_fit_end returns are loaded with their extra arrays."""
    learner = make_learner()
    learner.callbacks = [SharesOther()]
    assert begin_fit(learner, ["linear.weight", "linear.bias"]) is None
    end_fit(learner, 3, 0.1)
    assert learner.get_weights().extra["marker"].tolist() == [1.0]
