"""The learner contract of p2pfl-core, run against the flax learner."""

from __future__ import annotations

from p2pfl_core.testing import LearnerContract
from p2pfl_core.testing.learner_contract import digits_node_data

from p2pfl_flax.learner import FlaxLearner


class TestFlaxMLP(LearnerContract):
    """The contract on the ``mlp`` builder."""

    def make_learner(self, seed: int) -> FlaxLearner:
        return FlaxLearner.from_settings(
            {"model": "mlp"}, digits_node_data(), seed=seed
        )


class TestFlaxCNN(LearnerContract):
    """The contract on the ``cnn`` builder with BatchNorm statistics."""

    def make_learner(self, seed: int) -> FlaxLearner:
        return FlaxLearner.from_settings(
            {"model": "cnn", "model_args": {"batch_norm": True}},
            digits_node_data(),
            seed=seed,
        )
