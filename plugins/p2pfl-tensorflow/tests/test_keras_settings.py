"""Validation of the ``learner`` section for the tensorflow learner.

The learner contract (test_keras_contract.py) covers the checks that every
learner shares: unknown keys, model builders that fail, algorithms.
"""

from __future__ import annotations

from typing import Any

import keras
import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError

from p2pfl_tensorflow.learner import KerasLearner
from p2pfl_tensorflow.settings import KerasSettings, parse_settings


def test_defaults() -> None:
    """An empty section gives an MLP trained by SGD at 0.1, one thread."""
    assert parse_settings({}) == KerasSettings(
        model="mlp",
        model_args={},
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.0,
        batch_size=32,
        epochs=1,
        threads=1,
        algorithm=None,
    )


def test_adam_default_learning_rate() -> None:
    """Adam without a learning rate uses 0.001."""
    assert parse_settings({"optimizer": "adam"}).learning_rate == 0.001


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"learning_rte": 0.1},
            "learner.learning_rte: unknown setting of the tensorflow learner; "
            "allowed keys: model, model_args, optimizer, learning_rate, momentum, "
            "batch_size, epochs, threads, algorithm",
        ),
        (
            {"optimizer": "rmsprop"},
            "learner.optimizer: unknown optimizer 'rmsprop'; choose one of: sgd, adam",
        ),
        ({"threads": 0}, "learner.threads: expected an integer >= 1, got 0"),
        ({"model": 3}, "learner.model: expected a builder name (mlp, cnn)"),
    ],
)
def test_invalid_section(section: dict[str, Any], message: str) -> None:
    """Each invalid Keras setting is rejected with its key path and the choices."""
    with pytest.raises(ConfigError) as error:
        parse_settings(section)
    assert message in str(error.value)


def build(data: NodeData, **settings: Any) -> KerasLearner:
    return KerasLearner.from_settings(settings, data, seed=0)


def test_builder_rejects_model_arg_value(small_digits: NodeData) -> None:
    """A value the builder refuses is reported under model_args."""
    with pytest.raises(ConfigError, match="dropout must be in"):
        build(small_digits, model_args={"dropout": 1.5})


def test_from_model_rejects_model_args(small_digits: NodeData) -> None:
    """from_model takes a built model, not builder arguments."""
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ConfigError, match="learner.model_args: from_model takes"):
        KerasLearner.from_model(model, small_digits, model_args={"hidden": 8})


def test_from_model_rejects_unknown_key(small_digits: NodeData) -> None:
    """from_model checks its settings like an experiment file."""
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ConfigError, match="learner.lr: unknown setting"):
        KerasLearner.from_model(model, small_digits, lr=0.1)
