"""The learner contract of p2pfl-core, run against the tensorflow learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract
from p2pfl_core.testing.learner_contract import digits_node_data

from p2pfl_tensorflow.learner import KerasLearner


class TestKerasMLP(LearnerContract):
    """The contract on the ``mlp`` builder."""

    def make_learner(self, seed: int) -> KerasLearner:
        return KerasLearner.from_settings(
            {"model": "mlp"}, digits_node_data(), seed=seed
        )


class TestKerasCNN(LearnerContract):
    """The contract on the ``cnn`` builder with BatchNorm statistics."""

    def make_learner(self, seed: int) -> KerasLearner:
        return KerasLearner.from_settings(
            {"model": "cnn", "model_args": {"batch_norm": True}},
            digits_node_data(),
            seed=seed,
        )
