"""Weights of the torch learner: round trips, dtypes and mismatches."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

from p2pfl_torch.learner import TorchLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> TorchLearner:
    return TorchLearner.from_settings(dict(settings), data, seed=seed)


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


def test_weights_are_state_dict(small_digits: NodeData) -> None:
    """Layer names and shapes are those of the model's state_dict."""
    weights = build(small_digits, model_args={"hidden": [16]}).get_weights()
    shapes = {name: array.shape for name, array in weights.items()}
    assert shapes == {
        "hidden0.weight": (16, 64),
        "hidden0.bias": (16,),
        "output.weight": (10, 16),
        "output.bias": (10,),
    }
    assert weights.num_samples == 200


def test_get_weights_returns_copies(small_digits: NodeData) -> None:
    """Changing returned arrays leaves the model alone."""
    learner = build(small_digits)
    weights = learner.get_weights()
    weights["output.bias"][:] = 5.0
    assert not np.any(learner.get_weights()["output.bias"] == 5.0)


def test_read_only_weights_load(small_digits: NodeData) -> None:
    """Read-only arrays, as decoded from a buffer, can be loaded."""
    learner = build(small_digits)
    weights = learner.get_weights()
    for array in weights.values():
        array.setflags(write=False)
    learner.set_weights(weights)
    assert np.array_equal(learner.get_weights()["output.bias"], weights["output.bias"])


def test_batch_norm_buffers_keep_dtype(small_digits: NodeData) -> None:
    """BatchNorm buffers travel, and num_batches_tracked stays int64."""
    learner = build(small_digits, model_args={"hidden": [16], "batch_norm": True})
    learner.fit(0)
    weights = learner.get_weights()
    assert weights["norm0.running_mean"].dtype == np.float32
    assert weights["norm0.running_var"].dtype == np.float32
    assert weights["norm0.num_batches_tracked"].dtype == np.int64
    assert weights["norm0.num_batches_tracked"].shape == ()
    # 200 samples in batches of 32: six full batches and one of 8.
    assert int(weights["norm0.num_batches_tracked"]) == 7


def test_integer_buffer_round_trip(small_digits: NodeData) -> None:
    """A loaded num_batches_tracked keeps its value and dtype."""
    learner = build(small_digits, model="cnn", model_args={"batch_norm": True})
    weights = learner.get_weights()
    weights.layers["norm1.num_batches_tracked"] = np.array(41, dtype=np.int64)
    learner.set_weights(weights)
    loaded = learner.get_weights()["norm1.num_batches_tracked"]
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
    assert "layers missing: conv0.weight, conv0.bias" in message
    assert "unexpected layers: hidden0.weight, hidden0.bias" in message
    assert "'output.weight'" not in message


def test_other_hidden_size_names_layers(small_digits: NodeData) -> None:
    """Loading a 64-wide MLP into a 32-wide one names each reshaped layer."""
    wide = build(small_digits, model_args={"hidden": 64})
    wide.fit(0)
    narrow = build(small_digits, model_args={"hidden": 32})
    before = narrow.get_weights()
    with pytest.raises(ModelMismatchError) as error:
        narrow.set_weights(wide.get_weights())
    message = str(error.value)
    assert "'hidden0.weight': shape (64, 64) != expected (32, 64)" in message
    assert "'hidden0.bias': shape (64,) != expected (32,)" in message
    assert "'output.weight': shape (10, 64) != expected (10, 32)" in message
    assert "output.bias" not in message
    after = narrow.get_weights()
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_other_dtype_names_layer(small_digits: NodeData) -> None:
    """float64 weights for a float32 layer are rejected by name."""
    learner = build(small_digits)
    weights = learner.get_weights()
    layers = dict(weights.layers)
    layers["output.bias"] = layers["output.bias"].astype(np.float64)
    with pytest.raises(ModelMismatchError, match="'output.bias': dtype float64"):
        learner.set_weights(ModelWeights(layers))
