"""Tests of SCAFFOLD on the learner side, and with the server update."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.scaffold import (
    CONTROL_PREFIX,
    DELTA_CONTROL_PREFIX,
    Scaffold,
)
from p2pfl_core.algorithms.catalog import make_learner_callback
from p2pfl_core.algorithms.scaffold import (
    ScaffoldCallback,
    scaffold_control_update,
    scaffold_correction,
)
from p2pfl_core.algorithms.step_callback import add_gradient_terms
from p2pfl_core.weights import ModelWeights

CONTROL = CONTROL_PREFIX + "w"
DELTA = DELTA_CONTROL_PREFIX + "w"


def test_corrected_step_sign() -> None:
    """y 1.0, g 1.0, c 0.5, c_i 0.2, lr 0.01: y - lr (g - c_i + c) = 0.987."""
    correction = scaffold_correction({"w": np.array(0.5)}, {"w": np.array(0.2)})
    y = 1.0 - 0.01 * (1.0 + correction["w"])
    assert float(y) == pytest.approx(0.987, abs=1e-12)


def test_control_delta_not_zero() -> None:
    """Old c_i 0.2 and new c_i+ 1.7 give a delta of 1.5."""
    new_control, delta = scaffold_control_update(
        {"w": np.array(0.2)},
        {"w": np.array(0.5)},
        start={"w": np.array(1.0)},
        end={"w": np.array(0.5)},
        step_size_sum=0.25,
    )
    assert float(new_control["w"]) == pytest.approx(1.7, abs=1e-12)
    assert float(delta["w"]) == pytest.approx(1.5, abs=1e-12)


def train(
    callback: ScaffoldCallback, start: ModelWeights, target: float, steps: int
) -> ModelWeights:
    """Run SGD (lr 0.1) on 0.5 (y - target)^2 with the callback, as a learner would."""
    callback.on_fit_start(None, start)  # type: ignore[arg-type]
    params = {"w": start["w"].astype(np.float64)}
    for _ in range(steps):
        gradients = add_gradient_terms(
            {"w": params["w"] - target}, params, 0.1, [callback]
        )
        params = {"w": params["w"] - 0.1 * gradients["w"]}
    return callback.on_fit_end(None, ModelWeights(params, num_samples=1))  # type: ignore[arg-type]


def test_callback_two_steps() -> None:
    """From x 0 with c 0.5, two steps reach 0.095 and give c_i+ = -0.975."""
    start = ModelWeights({"w": np.array([0.0])}, extra={CONTROL: np.array([0.5])})
    callback = ScaffoldCallback()
    shared = train(callback, start, target=1.0, steps=2)
    np.testing.assert_allclose(shared["w"], [0.095], rtol=0, atol=1e-12)
    np.testing.assert_allclose(shared.extra[DELTA], [-0.975], rtol=0, atol=1e-12)
    np.testing.assert_allclose(shared.extra[CONTROL], [0.5], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        callback.local_control["w"], [-0.975], rtol=0, atol=1e-12
    )


def test_no_steps_keep_control() -> None:
    """Without any step the delta is zero and c_i is unchanged."""
    callback = ScaffoldCallback()
    shared = train(callback, ModelWeights({"w": np.array([0.0])}), target=1.0, steps=0)
    assert shared.extra[DELTA].tolist() == [0.0]


def test_two_nodes_with_server_update() -> None:
    """Targets 1 (n=10) and 3 (n=30): x = 0.25, c = -2, then A steps to 0.425."""
    origin = ModelWeights({"w": np.array([0.0])})
    node_a, node_b = ScaffoldCallback(), ScaffoldCallback()
    aggregator = Scaffold(learning_rate=1.0)
    for callback, target, samples, name in (
        (node_a, 1.0, 10, "a"),
        (node_b, 3.0, 30, "b"),
    ):
        shared = train(callback, origin, target, steps=1)
        aggregator.add_model(
            shared.with_metadata(num_samples=samples, contributors=[name])
        )
    result = aggregator.aggregate(origin)
    np.testing.assert_allclose(result["w"], [0.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.extra[CONTROL], [-2.0], rtol=0, atol=1e-12)
    second = train(node_a, result, target=1.0, steps=1)
    np.testing.assert_allclose(second["w"], [0.425], rtol=0, atol=1e-12)


def test_statistics_get_no_control() -> None:
    """Normalisation statistics and integer layers carry no control variate."""
    start = ModelWeights(
        {
            "w": np.zeros(1),
            "bn.running_var": np.ones(1),
            "bn.num_batches_tracked": np.array(2),
        }
    )
    callback = ScaffoldCallback()
    callback.on_fit_start(None, start)  # type: ignore[arg-type]
    assert sorted(callback.gradient_terms(start.layers, 0.1)) == ["w"]


def test_layer_change_resets_control() -> None:
    """A model with another shape starts from a zero local control."""
    callback = ScaffoldCallback()
    train(callback, ModelWeights({"w": np.array([0.0])}), target=1.0, steps=1)
    callback.on_fit_start(None, ModelWeights({"w": np.zeros(3)}))  # type: ignore[arg-type]
    assert callback.local_control["w"].tolist() == [0.0, 0.0, 0.0]


def test_catalog_builds_scaffold() -> None:
    """The name scaffold builds a ScaffoldCallback."""
    assert isinstance(make_learner_callback("scaffold"), ScaffoldCallback)
