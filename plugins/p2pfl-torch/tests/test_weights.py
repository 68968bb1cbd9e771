"""Weights of the torch learner: BatchNorm buffers and their dtypes.

The learner contract (test_contract.py) covers round trips and mismatches.
"""

from __future__ import annotations

import numpy as np
from p2pfl_core.data.dataset import NodeData

from p2pfl_torch.learner import TorchLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> TorchLearner:
    return TorchLearner.from_settings(dict(settings), data, seed=seed)


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
