"""p2pfl-core's learner contract, run against the torch learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract
from p2pfl_core.testing.learner_contract import digits_node_data

from p2pfl_torch.learner import TorchLearner


class TestTorchMlp(LearnerContract):
    """The contract on the default MLP."""

    def make_learner(self, seed: int) -> TorchLearner:
        return TorchLearner.from_settings({}, digits_node_data(), seed=seed)


class TestTorchCnnBatchNorm(LearnerContract):
    """The contract on a CNN whose BatchNorm buffers include an int64 counter."""

    def make_learner(self, seed: int) -> TorchLearner:
        settings = {"model": "cnn", "model_args": {"batch_norm": True}}
        return TorchLearner.from_settings(settings, digits_node_data(), seed=seed)
