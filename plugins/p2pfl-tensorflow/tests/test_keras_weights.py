"""Weights of the tensorflow learner: names, round trips, dtypes and mismatches."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

from p2pfl_tensorflow.learner import KerasLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> KerasLearner:
    return KerasLearner.from_settings(dict(settings), data, seed=seed)


def test_round_trip_is_exact(small_digits: NodeData) -> None:
    """Weights loaded into another learner come back bit for bit."""
    source = build(small_digits, seed=1)
    source.fit(0)
    sent = source.get_weights()
    target = build(small_digits, seed=2)
    target.set_weights(sent)
    received = target.get_weights()
    assert list(received) == list(sent)
    for name in sent:
        assert received[name].dtype == sent[name].dtype, name
        assert np.array_equal(received[name], sent[name]), name


def test_weight_names_are_keras_paths(small_digits: NodeData) -> None:
    """Layer names are the Keras weight paths without the model name."""
    weights = build(small_digits, model_args={"hidden": [16]}).get_weights()
    shapes = {name: array.shape for name, array in weights.items()}
    assert shapes == {
        "hidden0/kernel": (64, 16),
        "hidden0/bias": (16,),
        "output/kernel": (16, 10),
        "output/bias": (10,),
    }
    assert weights.num_samples == 200


def test_automatic_layer_names_repeat(small_digits: NodeData) -> None:
    """Two models with Keras' automatic layer names get the same weight names."""
    first = build(small_digits, model="keras_user_models:build_unnamed")
    second = build(small_digits, model="keras_user_models:build_unnamed")
    expected = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert list(first.get_weights()) == expected
    assert list(second.get_weights()) == expected


def test_get_weights_returns_copies(small_digits: NodeData) -> None:
    """Changing returned arrays leaves the model alone."""
    learner = build(small_digits)
    weights = learner.get_weights()
    weights["output/bias"][:] = 5.0
    assert not np.any(learner.get_weights()["output/bias"] == 5.0)


def test_read_only_weights_load(small_digits: NodeData) -> None:
    """Read-only arrays, as decoded from a buffer, can be loaded."""
    learner = build(small_digits)
    weights = build(small_digits, seed=9).get_weights()
    for array in weights.values():
        array.setflags(write=False)
    learner.set_weights(weights)
    assert np.array_equal(
        learner.get_weights()["hidden0/kernel"], weights["hidden0/kernel"]
    )


def test_batch_norm_statistics_travel(small_digits: NodeData) -> None:
    """Moving mean and variance are exchanged as float32 and change in training."""
    learner = build(small_digits, model_args={"hidden": [16], "batch_norm": True})
    before = learner.get_weights()
    learner.fit(0)
    weights = learner.get_weights()
    assert list(weights) == [
        "hidden0/kernel",
        "hidden0/bias",
        "norm0/gamma",
        "norm0/beta",
        "norm0/moving_mean",
        "norm0/moving_variance",
        "output/kernel",
        "output/bias",
    ]
    assert weights["norm0/moving_mean"].dtype == np.float32
    assert weights["norm0/moving_variance"].dtype == np.float32
    assert not np.array_equal(before["norm0/moving_mean"], weights["norm0/moving_mean"])


def test_integer_step_counter_keeps_dtype(small_digits: NodeData) -> None:
    """A non-trainable int64 step counter travels as an int64 scalar."""
    learner = build(small_digits, model="keras_user_models:build_counting")
    learner.fit(0)
    steps = learner.get_weights()["counter/steps"]
    assert steps.dtype == np.int64
    assert steps.shape == ()
    # 200 samples in batches of 32: six full batches and one of 8.
    assert int(steps) == 7


def test_integer_weight_round_trip(small_digits: NodeData) -> None:
    """A loaded integer weight keeps its value and dtype."""
    learner = build(small_digits, model="keras_user_models:build_counting")
    weights = learner.get_weights()
    weights.layers["counter/steps"] = np.array(41, dtype=np.int64)
    learner.set_weights(weights)
    loaded = learner.get_weights()["counter/steps"]
    assert loaded.dtype == np.int64
    assert int(loaded) == 41


def test_trained_mlp_into_cnn_names_layers(small_digits: NodeData) -> None:
    """Loading MLP weights into a CNN names the missing and unexpected layers."""
    mlp = build(small_digits)
    mlp.fit(0)
    cnn = build(small_digits, model="cnn")
    with pytest.raises(ModelMismatchError) as error:
        cnn.set_weights(mlp.get_weights())
    message = str(error.value)
    assert (
        "layers missing: conv0/kernel, conv0/bias, conv1/kernel, conv1/bias, "
        "hidden/kernel, hidden/bias" in message
    )
    assert "unexpected layers: hidden0/kernel, hidden0/bias" in message
    assert "'output/kernel'" not in message


def test_other_hidden_size_names_layers(small_digits: NodeData) -> None:
    """Loading a 64-wide MLP into a 32-wide one names each reshaped layer."""
    wide = build(small_digits, model_args={"hidden": 64})
    wide.fit(0)
    narrow = build(small_digits, model_args={"hidden": 32})
    before = narrow.get_weights()
    with pytest.raises(ModelMismatchError) as error:
        narrow.set_weights(wide.get_weights())
    message = str(error.value)
    assert "'hidden0/kernel': shape (64, 64) != expected (64, 32)" in message
    assert "'hidden0/bias': shape (64,) != expected (32,)" in message
    assert "'output/kernel': shape (64, 10) != expected (32, 10)" in message
    assert "output/bias" not in message
    after = narrow.get_weights()
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_other_dtype_names_layer(small_digits: NodeData) -> None:
    """float64 weights for a float32 layer are rejected by name."""
    learner = build(small_digits)
    layers = dict(learner.get_weights().layers)
    layers["output/bias"] = layers["output/bias"].astype(np.float64)
    with pytest.raises(ModelMismatchError, match="'output/bias': dtype float64"):
        learner.set_weights(ModelWeights(layers))
