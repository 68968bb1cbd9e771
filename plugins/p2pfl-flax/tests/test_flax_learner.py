"""Training, from_model, dropout, padding and compilation of the flax learner.

The learner contract (test_flax_contract.py) covers training, evaluation,
seeds, weights and algorithm callbacks.
"""

from __future__ import annotations

import numpy as np
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.testing.learner_contract import (
    assert_same_weights,
    changed_layers,
    digits_node_data,
)

from p2pfl_flax.learner import FlaxLearner
from p2pfl_flax.models import build_mlp
from p2pfl_flax.steps import train_step


def build(data: NodeData, seed: int = 0, **settings: object) -> FlaxLearner:
    return FlaxLearner.from_settings(dict(settings), data, seed=seed)


def test_training_learns_digits(small_digits: NodeData) -> None:
    """Five rounds of Adam on 200 digits reach 80% test accuracy."""
    learner = build(small_digits, optimizer="adam", learning_rate=0.01)
    for round in range(5):
        learner.fit(round)
    assert learner.evaluate()["accuracy"] >= 0.8


def test_from_model_seeds_variables(small_digits: NodeData) -> None:
    """from_model initialises the module from its seed, then trains."""
    first = FlaxLearner.from_model(build_mlp((64,), 10), small_digits, seed=2, epochs=2)
    second = FlaxLearner.from_model(build_mlp((64,), 10), small_digits, seed=2)
    assert first.epochs == 2
    assert_same_weights(first.get_weights(), second.get_weights())
    first.fit(0)
    assert changed_layers(first.get_weights(), second.get_weights())


def test_from_model_keeps_variables(small_digits: NodeData) -> None:
    """Variables given to from_model are used as they are."""
    model = build_mlp((64,), 10, hidden=[])
    variables = {
        "params": {
            "output": {
                "kernel": np.ones((64, 10), np.float32),
                "bias": np.zeros(10, np.float32),
            }
        }
    }
    learner = FlaxLearner.from_model(model, small_digits, variables=variables)
    kernel = learner.get_weights()["params/output/kernel"]
    assert np.array_equal(kernel, np.ones((64, 10)))


def test_module_without_train_argument(small_digits: NodeData) -> None:
    """A module whose __call__ takes only x trains and evaluates."""
    learner = build(small_digits, model="flax_user_models:build_plain")
    assert list(learner.get_weights()) == ["params/logits/kernel", "params/logits/bias"]
    learner.fit(0)
    assert learner.evaluate()["accuracy"] > 0.0


def test_dropout_is_seeded(small_digits: NodeData) -> None:
    """Dropout keys come from the seed and round, so repeated fits match."""
    first, second = (
        build(small_digits, seed=6, model_args={"dropout": 0.5}) for _ in range(2)
    )
    first.fit(1)
    second.fit(1)
    assert_same_weights(first.get_weights(), second.get_weights())


def test_learners_share_compiled_step(small_digits: NodeData) -> None:
    """Learners with one model and optimizer compile the train step once."""
    smaller = digits_node_data(train=193)
    settings = {"model_args": {"hidden": [24]}, "learning_rate": 0.05}
    first = build(small_digits, seed=1, **settings)
    second = build(smaller, seed=2, **settings)
    first.fit(0)
    compiled = train_step._cache_size()
    second.fit(0)
    first.fit(1)
    second.fit(1)
    assert train_step._cache_size() == compiled


def test_padding_leaves_gradient_exact() -> None:
    """A padded last batch trains like the same samples alone."""
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4])
    alone = NodeData(x[:3], y[:3], x, y, 10)
    learner = build(alone, seed=3, batch_size=3)
    padded = build(alone, seed=3, batch_size=8)
    learner.fit(0)
    padded.fit(0)
    for name, value in learner.get_weights().items():
        np.testing.assert_allclose(padded.get_weights()[name], value, atol=1e-6)
