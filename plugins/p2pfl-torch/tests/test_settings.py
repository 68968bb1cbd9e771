"""The ``learner`` section of an experiment file, as the torch learner reads it."""

from __future__ import annotations

import pytest
import torch
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError

from p2pfl_torch.learner import TorchLearner
from p2pfl_torch.settings import parse_settings


def build(data: NodeData, **settings: object) -> TorchLearner:
    return TorchLearner.from_settings(dict(settings), data, seed=0)


def test_defaults() -> None:
    """An empty section gives an MLP trained with SGD at 0.1."""
    options = parse_settings({})
    assert options.model == "mlp"
    assert options.optimizer == "sgd"
    assert options.learning_rate == 0.1
    assert options.momentum == 0.0
    assert options.batch_size == 32
    assert options.epochs == 1
    assert options.threads == 1
    assert options.algorithm is None


def test_adam_default_learning_rate() -> None:
    """Adam's learning rate defaults to 0.001."""
    assert parse_settings({"optimizer": "adam"}).learning_rate == 0.001


def test_settings_reach_optimizer(small_digits: NodeData) -> None:
    """optimizer, learning_rate, momentum, batch_size and epochs are applied."""
    learner = build(
        small_digits,
        name="torch",
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.9,
        batch_size=16,
        epochs=3,
    )
    optimizer = learner._make_optimizer(learner.model.parameters())
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["lr"] == 0.05
    assert optimizer.defaults["momentum"] == 0.9
    assert learner.batch_size == 16
    assert learner.epochs == 3


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"learning_rte": 0.1},
            "allowed keys: model, model_args, optimizer, learning_rate, momentum, "
            "batch_size, epochs, threads, algorithm",
        ),
        ({"optimizer": "adamw"}, "choose one of: sgd, adam"),
        ({"model": "resnet"}, "choose one of: mlp, cnn"),
        ({"threads": 0}, "learner.threads: expected an integer >= 1"),
    ],
)
def test_invalid_setting_names_key(
    small_digits: NodeData, settings: dict[str, object], expected: str
) -> None:
    """Each invalid torch setting raises a ConfigError with the torch choices."""
    with pytest.raises(ConfigError) as error:
        build(small_digits, **settings)
    assert expected in str(error.value)


def test_invalid_model_arg_value(small_digits: NodeData) -> None:
    """A builder's ValueError is reported under model_args."""
    with pytest.raises(ConfigError, match="hidden must be positive"):
        build(small_digits, model_args={"hidden": 0})
