"""Validation of the ``learner`` section for the flax learner.

The learner contract (test_flax_contract.py) covers the checks that every
learner shares: unknown keys, model builders that fail, algorithms.
"""

from __future__ import annotations

from typing import Any

import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError

from p2pfl_flax.learner import FlaxLearner
from p2pfl_flax.models import build_mlp
from p2pfl_flax.settings import FlaxSettings, parse_settings


def test_defaults() -> None:
    """An empty section gives an MLP trained by SGD at 0.1."""
    assert parse_settings({}) == FlaxSettings(
        model="mlp",
        model_args={},
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.0,
        batch_size=32,
        epochs=1,
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
            "learner.learning_rte: unknown setting of the flax learner; "
            "allowed keys: model, model_args, optimizer, learning_rate, momentum, "
            "batch_size, epochs, algorithm",
        ),
        (
            {"optimizer": "rmsprop"},
            "learner.optimizer: unknown optimizer 'rmsprop'; choose one of: sgd, adam",
        ),
        (
            {"threads": 1},
            "learner.threads: unknown setting of the flax learner; allowed keys: ",
        ),
        ({"model": 3}, "learner.model: expected a builder name (mlp, cnn)"),
    ],
)
def test_invalid_section(section: dict[str, Any], message: str) -> None:
    """Each invalid Flax setting is rejected with its key path and the choices."""
    with pytest.raises(ConfigError) as error:
        parse_settings(section)
    assert message in str(error.value)


def build(data: NodeData, **settings: Any) -> FlaxLearner:
    return FlaxLearner.from_settings(settings, data, seed=0)


def test_builder_rejects_model_arg_value(small_digits: NodeData) -> None:
    """A value the builder refuses is reported under model_args."""
    with pytest.raises(ConfigError, match="dropout must be in"):
        build(small_digits, model_args={"dropout": 1.5})


def test_from_model_rejects_model_args(small_digits: NodeData) -> None:
    """from_model takes a built module, not builder arguments."""
    model = build_mlp((64,), 10)
    with pytest.raises(ConfigError, match="learner.model_args: from_model takes"):
        FlaxLearner.from_model(model, small_digits, model_args={"hidden": 8})


def test_from_model_rejects_unknown_key(small_digits: NodeData) -> None:
    """from_model checks its settings like an experiment file."""
    model = build_mlp((64,), 10)
    with pytest.raises(ConfigError, match="learner.lr: unknown setting"):
        FlaxLearner.from_model(model, small_digits, lr=0.1)
