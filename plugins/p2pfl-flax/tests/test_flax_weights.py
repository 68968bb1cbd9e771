"""Weights of the flax learner: batch statistics and integer variables.

The learner contract (test_flax_contract.py) covers round trips and mismatches.
"""

from __future__ import annotations

import numpy as np
from p2pfl_core.data.dataset import NodeData

from p2pfl_flax.learner import FlaxLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> FlaxLearner:
    return FlaxLearner.from_settings(dict(settings), data, seed=seed)


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
