"""The ``learner`` section of an experiment file, as the torch learner reads it."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
        ({"learning_rte": 0.1}, "learner.learning_rte: unknown setting"),
        ({"learning_rte": 0.1}, "allowed keys: model, model_args, optimizer"),
        ({"optimizer": "adamw"}, "learner.optimizer: unknown optimizer 'adamw'"),
        ({"optimizer": "adamw"}, "choose one of: sgd, adam"),
        ({"model": "resnet"}, "learner.model: unknown torch model 'resnet'"),
        ({"model": "resnet"}, "choose one of: mlp, cnn"),
        ({"model": 3}, "learner.model: expected a builder name"),
        ({"learning_rate": 0}, "learner.learning_rate: expected a number > 0"),
        ({"learning_rate": "fast"}, "learner.learning_rate: expected a number > 0"),
        ({"momentum": 1.0}, "learner.momentum: expected a number in [0.0, 1.0)"),
        ({"optimizer": "adam", "momentum": 0.9}, "learner.momentum: applies to sgd"),
        ({"batch_size": 0}, "learner.batch_size: expected an integer >= 1"),
        ({"epochs": 1.5}, "learner.epochs: expected an integer >= 1"),
        ({"epochs": True}, "learner.epochs: expected an integer >= 1"),
        ({"threads": 0}, "learner.threads: expected an integer >= 1"),
        ({"model_args": [64]}, "learner.model_args: expected a mapping"),
        ({"name": "numpy"}, "learner.name: the torch learner got settings"),
    ],
)
def test_invalid_setting_names_key(
    small_digits: NodeData, settings: dict[str, object], expected: str
) -> None:
    """Each invalid value raises a ConfigError naming its key."""
    with pytest.raises(ConfigError) as error:
        build(small_digits, **settings)
    assert expected in str(error.value)


def test_unknown_model_arg_names_key(small_digits: NodeData) -> None:
    """A builder argument that does not exist is reported under model_args."""
    with pytest.raises(ConfigError, match="learner.model_args: model 'mlp'"):
        build(small_digits, model_args={"hiden": 64})


def test_invalid_model_arg_value(small_digits: NodeData) -> None:
    """A builder's ValueError is reported under model_args."""
    with pytest.raises(ConfigError, match="hidden must be positive"):
        build(small_digits, model_args={"hidden": 0})


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def test_user_builder_path(
    small_digits: NodeData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model: 'module:function' builds the user's model with its model_args."""
    write_module(
        tmp_path,
        "p2pfl_test_user_models",
        """
        from torch import nn

        def build(input_shape, num_classes, width=8):
            return nn.Sequential(
                nn.Flatten(), nn.Linear(64, width), nn.Tanh(),
                nn.Linear(width, num_classes),
            )
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    learner = build(
        small_digits, model="p2pfl_test_user_models:build", model_args={"width": 5}
    )
    shapes = {name: array.shape for name, array in learner.get_weights().items()}
    assert shapes == {
        "1.weight": (5, 64),
        "1.bias": (5,),
        "3.weight": (10, 5),
        "3.bias": (10,),
    }
    assert learner.fit(0)["loss"] > 0.0


def test_user_builder_not_importable(small_digits: NodeData) -> None:
    """A module that cannot be imported is reported under learner.model."""
    with pytest.raises(ConfigError, match="learner.model: cannot import"):
        build(small_digits, model="p2pfl_no_such_module:build")


def test_user_builder_returns_no_module(
    small_digits: NodeData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A builder that returns something else than an nn.Module is rejected."""
    write_module(
        tmp_path,
        "p2pfl_test_bad_models",
        """
        def build(input_shape, num_classes):
            return [input_shape, num_classes]
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="returned list, not a torch.nn.Module"):
        build(small_digits, model="p2pfl_test_bad_models:build")
