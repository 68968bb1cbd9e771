"""Weights of the flax learner: names, round trips, dtypes and mismatches."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

from p2pfl_flax.learner import FlaxLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> FlaxLearner:
    return FlaxLearner.from_settings(dict(settings), data, seed=seed)


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


def test_weight_names_are_tree_paths(small_digits: NodeData) -> None:
    """Layer names are the variable tree paths joined with slashes."""
    weights = build(small_digits, model_args={"hidden": [16]}).get_weights()
    shapes = {name: array.shape for name, array in weights.items()}
    assert shapes == {
        "params/hidden0/kernel": (64, 16),
        "params/hidden0/bias": (16,),
        "params/output/kernel": (16, 10),
        "params/output/bias": (10,),
    }
    assert weights.num_samples == 200


def test_get_weights_returns_copies(small_digits: NodeData) -> None:
    """Changing returned arrays leaves the model alone."""
    learner = build(small_digits)
    weights = learner.get_weights()
    weights["params/output/bias"][:] = 5.0
    assert not np.any(learner.get_weights()["params/output/bias"] == 5.0)


def test_read_only_weights_load(small_digits: NodeData) -> None:
    """Read-only arrays, as decoded from a buffer, can be loaded."""
    learner = build(small_digits)
    weights = build(small_digits, seed=9).get_weights()
    for array in weights.values():
        array.setflags(write=False)
    learner.set_weights(weights)
    assert np.array_equal(
        learner.get_weights()["params/hidden0/kernel"], weights["params/hidden0/kernel"]
    )


def test_batch_norm_statistics_travel(small_digits: NodeData) -> None:
    """Batch statistics are exchanged as float32 and change in training."""
    learner = build(small_digits, model_args={"hidden": [16], "batch_norm": True})
    before = learner.get_weights()
    learner.fit(0)
    weights = learner.get_weights()
    assert list(weights) == [
        "params/hidden0/kernel",
        "params/hidden0/bias",
        "params/norm0/scale",
        "params/norm0/bias",
        "params/output/kernel",
        "params/output/bias",
        "batch_stats/norm0/mean",
        "batch_stats/norm0/var",
    ]
    assert weights["batch_stats/norm0/mean"].dtype == np.float32
    assert weights["batch_stats/norm0/var"].dtype == np.float32
    assert not np.array_equal(
        before["batch_stats/norm0/mean"], weights["batch_stats/norm0/mean"]
    )


def test_integer_step_counter_keeps_dtype(small_digits: NodeData) -> None:
    """An int32 step counter in its own collection travels as an int32 scalar."""
    learner = build(small_digits, model="flax_user_models:build_counting")
    learner.fit(0)
    steps = learner.get_weights()["counters/steps"]
    assert steps.dtype == np.int32
    assert steps.shape == ()
    # 200 samples in batches of 32: six full batches and one of 8.
    assert int(steps) == 7


def test_integer_weight_round_trip(small_digits: NodeData) -> None:
    """A loaded integer weight keeps its value and dtype."""
    learner = build(small_digits, model="flax_user_models:build_counting")
    weights = learner.get_weights()
    weights.layers["counters/steps"] = np.array(41, dtype=np.int32)
    learner.set_weights(weights)
    loaded = learner.get_weights()["counters/steps"]
    assert loaded.dtype == np.int32
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
        "layers missing: params/conv0/kernel, params/conv0/bias, "
        "params/conv1/kernel, params/conv1/bias, params/hidden/kernel, "
        "params/hidden/bias" in message
    )
    assert "unexpected layers: params/hidden0/kernel, params/hidden0/bias" in message
    assert "'params/output/kernel'" not in message


def test_other_hidden_size_names_layers(small_digits: NodeData) -> None:
    """Loading a 64-wide MLP into a 32-wide one names each reshaped layer."""
    wide = build(small_digits, model_args={"hidden": 64})
    wide.fit(0)
    narrow = build(small_digits, model_args={"hidden": 32})
    before = narrow.get_weights()
    with pytest.raises(ModelMismatchError) as error:
        narrow.set_weights(wide.get_weights())
    message = str(error.value)
    assert "'params/hidden0/kernel': shape (64, 64) != expected (64, 32)" in message
    assert "'params/hidden0/bias': shape (64,) != expected (32,)" in message
    assert "'params/output/kernel': shape (64, 10) != expected (32, 10)" in message
    assert "params/output/bias" not in message
    after = narrow.get_weights()
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_other_dtype_names_layer(small_digits: NodeData) -> None:
    """float64 weights for a float32 layer are rejected by name."""
    learner = build(small_digits)
    layers = dict(learner.get_weights().layers)
    layers["params/output/bias"] = layers["params/output/bias"].astype(np.float64)
    with pytest.raises(ModelMismatchError, match="'params/output/bias': dtype float64"):
        learner.set_weights(ModelWeights(layers))
