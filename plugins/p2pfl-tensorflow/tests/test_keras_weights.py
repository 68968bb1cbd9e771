"""Weights of the tensorflow learner: names, statistics and integer weights.

The learner contract (test_keras_contract.py) covers round trips and mismatches.
"""

from __future__ import annotations

import numpy as np
from p2pfl_core.data.dataset import NodeData

from p2pfl_tensorflow.learner import KerasLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> KerasLearner:
    return KerasLearner.from_settings(dict(settings), data, seed=seed)


def test_automatic_layer_names_repeat(small_digits: NodeData) -> None:
    """Two models with Keras' automatic layer names get the same weight names."""
    first = build(small_digits, model="keras_user_models:build_unnamed")
    second = build(small_digits, model="keras_user_models:build_unnamed")
    expected = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert list(first.get_weights()) == expected
    assert list(second.get_weights()) == expected


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
