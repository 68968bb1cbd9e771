"""Validation of the ``learner`` section for the tensorflow learner."""

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
    )


def test_adam_default_learning_rate() -> None:
    """Adam without a learning rate uses 0.001."""
    assert parse_settings({"optimizer": "adam"}).learning_rate == 0.001


def test_name_key_is_accepted() -> None:
    """``name: tensorflow`` in the section is ignored."""
    assert parse_settings({"name": "tensorflow", "epochs": 3}).epochs == 3


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"learning_rte": 0.1},
            "learner.learning_rte: unknown setting of the tensorflow learner; "
            "allowed keys: model, model_args, optimizer, learning_rate, momentum, "
            "batch_size, epochs, threads",
        ),
        (
            {"optimizer": "rmsprop"},
            "learner.optimizer: unknown optimizer 'rmsprop'; choose one of: sgd, adam",
        ),
        ({"name": "torch"}, "learner.name: the tensorflow learner got settings"),
        ({"learning_rate": 0}, "learner.learning_rate: expected a number > 0.0"),
        ({"momentum": 1.0}, "learner.momentum: expected a number in [0.0, 1.0)"),
        (
            {"optimizer": "adam", "momentum": 0.9},
            "learner.momentum: applies to sgd only",
        ),
        ({"batch_size": 0}, "learner.batch_size: expected an integer >= 1, got 0"),
        ({"epochs": True}, "learner.epochs: expected an integer >= 1, got True"),
        ({"threads": 0}, "learner.threads: expected an integer >= 1, got 0"),
        ({"model_args": [64]}, "learner.model_args: expected a mapping"),
        ({"model": 3}, "learner.model: expected a builder name (mlp, cnn)"),
    ],
)
def test_invalid_section(section: dict[str, Any], message: str) -> None:
    """Each invalid value is rejected with its key path and the allowed values."""
    with pytest.raises(ConfigError) as error:
        parse_settings(section)
    assert message in str(error.value)


def build(data: NodeData, **settings: Any) -> KerasLearner:
    return KerasLearner.from_settings(settings, data, seed=0)


def test_unknown_model_lists_builders(small_digits: NodeData) -> None:
    """An unknown builder name lists mlp and cnn."""
    with pytest.raises(ConfigError) as error:
        build(small_digits, model="resnet")
    assert str(error.value) == (
        "learner.model: unknown tensorflow model 'resnet'; choose one of: mlp, cnn, "
        "or give your own builder as 'package.module:function'"
    )


def test_missing_user_module(small_digits: NodeData) -> None:
    """A builder path whose module is missing names the path."""
    with pytest.raises(ConfigError, match="cannot import 'no_such_module:build'"):
        build(small_digits, model="no_such_module:build")


def test_missing_user_function(small_digits: NodeData) -> None:
    """A builder path whose function is missing names the path."""
    with pytest.raises(ConfigError, match="cannot import 'keras_user_models:nope'"):
        build(small_digits, model="keras_user_models:nope")


def test_builder_rejects_model_args(small_digits: NodeData) -> None:
    """An argument the builder does not take is reported under model_args."""
    with pytest.raises(ConfigError) as error:
        build(small_digits, model_args={"depth": 3})
    assert str(error.value).startswith(
        "learner.model_args: model 'mlp' rejected {'depth': 3}: "
    )


def test_builder_rejects_model_arg_value(small_digits: NodeData) -> None:
    """A value the builder refuses is reported under model_args."""
    with pytest.raises(ConfigError, match="dropout must be in"):
        build(small_digits, model_args={"dropout": 1.5})


def test_builder_returns_no_model(small_digits: NodeData) -> None:
    """A builder that returns something else is named."""
    with pytest.raises(ConfigError) as error:
        build(small_digits, model="keras_user_models:build_nothing")
    assert str(error.value) == (
        "learner.model: builder 'keras_user_models:build_nothing' returned str, "
        "not a keras.Model"
    )


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
