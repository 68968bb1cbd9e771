"""The shared checks of the ``learner`` section in p2pfl_core.learning.settings."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from p2pfl_core.errors import ConfigError
from p2pfl_core.learning.numpy_learner import build_mlp, build_softmax
from p2pfl_core.learning.settings import (
    LearnerSettings,
    SettingsParser,
    check_optional_integer,
)

BUILDERS = (
    ("softmax", "p2pfl_core.learning.numpy_learner:build_softmax"),
    ("mlp", "p2pfl_core.learning.numpy_learner:build_mlp"),
)
LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}


@dataclass(frozen=True)
class ThreadedSettings(LearnerSettings):
    """Settings of a framework learner with a ``threads`` key."""

    threads: int | None = 1


@dataclass(frozen=True)
class PlainSettings:
    """Settings of a learner without optimizer choice, like the numpy one."""

    model: str = "softmax"
    model_args: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 0.5
    batch_size: int = 16
    epochs: int = 1


PARSER = SettingsParser(
    ThreadedSettings,
    learner="demo",
    builders=BUILDERS,
    learning_rates=LEARNING_RATES,
    extra={"threads": check_optional_integer},
)
PLAIN_PARSER = SettingsParser(PlainSettings, learner="plain", builders=BUILDERS)


def parse(section: dict[str, Any]) -> ThreadedSettings:
    return PARSER.parse(section)


def parse_plain(section: dict[str, Any]) -> PlainSettings:
    return PLAIN_PARSER.parse(section)


def test_empty_section_gives_defaults() -> None:
    """An empty section gives the dataclass defaults and sgd's learning rate."""
    assert parse({}) == ThreadedSettings(
        model="mlp",
        model_args={},
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.0,
        batch_size=32,
        epochs=1,
        threads=1,
    )


def test_every_key_is_read() -> None:
    """Each key of the section reaches the settings."""
    parsed = parse(
        {
            "name": "demo",
            "model": "softmax",
            "model_args": {"hidden": 8},
            "optimizer": "sgd",
            "learning_rate": 2,
            "momentum": 0.9,
            "batch_size": 4,
            "epochs": 3,
            "threads": None,
        }
    )
    assert parsed == ThreadedSettings(
        model="softmax",
        model_args={"hidden": 8},
        optimizer="sgd",
        learning_rate=2.0,
        momentum=0.9,
        batch_size=4,
        epochs=3,
        threads=None,
    )
    assert isinstance(parsed.learning_rate, float)


def test_adam_default_learning_rate() -> None:
    """Adam without a learning rate takes its entry of learning_rates."""
    assert parse({"optimizer": "adam"}).learning_rate == 0.001


def test_model_args_null_is_empty() -> None:
    """``model_args: null`` reads as no builder arguments."""
    assert parse({"model_args": None}).model_args == {}


def test_allowed_keys_follow_fields() -> None:
    """The allowed keys are the dataclass fields in order."""
    assert PARSER.allowed_keys == (
        "model",
        "model_args",
        "optimizer",
        "learning_rate",
        "momentum",
        "batch_size",
        "epochs",
        "threads",
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"name": "torch"},
            "learner.name: the demo learner got settings for 'torch'; "
            "set learner.name to 'demo'",
        ),
        (
            {"learning_rte": 0.1},
            "learner.learning_rte: unknown setting of the demo learner; allowed "
            "keys: model, model_args, optimizer, learning_rate, momentum, "
            "batch_size, epochs, threads",
        ),
        (
            {"model": 3},
            "learner.model: expected a builder name (softmax, mlp) or "
            "'package.module:function', got 3",
        ),
        (
            {"model": ""},
            "learner.model: expected a builder name (softmax, mlp) or "
            "'package.module:function', got ''",
        ),
        (
            {"model_args": [64]},
            "learner.model_args: expected a mapping of builder arguments, got [64]",
        ),
        (
            {"optimizer": "rmsprop"},
            "learner.optimizer: unknown optimizer 'rmsprop'; choose one of: sgd, adam",
        ),
        (
            {"optimizer": ["sgd"]},
            "learner.optimizer: unknown optimizer ['sgd']; choose one of: sgd, adam",
        ),
        (
            {"learning_rate": 0},
            "learner.learning_rate: expected a finite number > 0.0, got 0",
        ),
        (
            {"learning_rate": "fast"},
            "learner.learning_rate: expected a finite number > 0.0, got 'fast'",
        ),
        (
            {"learning_rate": True},
            "learner.learning_rate: expected a finite number > 0.0, got True",
        ),
        (
            {"momentum": 1.0},
            "learner.momentum: expected a number in [0.0, 1.0), got 1.0",
        ),
        (
            {"momentum": -0.5},
            "learner.momentum: expected a number in [0.0, 1.0), got -0.5",
        ),
        (
            {"optimizer": "adam", "momentum": 0.9},
            "learner.momentum: applies to sgd only, but optimizer is 'adam'; "
            "remove momentum or set learner.optimizer to sgd",
        ),
        (
            {"batch_size": 0},
            "learner.batch_size: expected an integer >= 1, got 0",
        ),
        (
            {"epochs": 1.5},
            "learner.epochs: expected an integer >= 1, got 1.5",
        ),
        (
            {"epochs": True},
            "learner.epochs: expected an integer >= 1, got True",
        ),
        (
            {"threads": 0},
            "learner.threads: expected an integer >= 1, got 0",
        ),
        (
            {"threads": "2"},
            "learner.threads: expected an integer >= 1, got '2'",
        ),
    ],
)
def test_invalid_value_message(section: dict[str, Any], message: str) -> None:
    """Each invalid value raises a ConfigError naming its key and the fix."""
    with pytest.raises(ConfigError) as error:
        parse(section)
    assert str(error.value) == message


def test_plain_settings_defaults() -> None:
    """A type without optimizer uses its own defaults, learning rate included."""
    assert parse_plain({"name": "plain"}) == PlainSettings(
        model="softmax", model_args={}, learning_rate=0.5, batch_size=16, epochs=1
    )


def test_plain_settings_reject_optimizer() -> None:
    """A key that is not a field of the type is rejected, even a common one."""
    with pytest.raises(ConfigError) as error:
        parse_plain({"optimizer": "sgd"})
    assert str(error.value) == (
        "learner.optimizer: unknown setting of the plain learner; allowed keys: "
        "model, model_args, learning_rate, batch_size, epochs"
    )


def test_field_without_check_is_type_error() -> None:
    """A field that is no common key and has no check in extra fails at once."""
    with pytest.raises(TypeError) as error:
        SettingsParser(
            ThreadedSettings, learner="demo", builders=BUILDERS, learning_rates={}
        )
    assert str(error.value) == (
        "ThreadedSettings.threads is not a common learner key; pass its check in extra"
    )


def test_optimizer_without_learning_rates_is_type_error() -> None:
    """A type with an optimizer field needs the optimizers' learning rates."""
    with pytest.raises(TypeError) as error:
        SettingsParser(LearnerSettings, learner="demo", builders=BUILDERS)
    assert str(error.value) == (
        "LearnerSettings has an optimizer field; "
        "pass learning_rates with the default of each optimizer"
    )


def test_check_without_field_is_type_error() -> None:
    """A check in extra for a key the type lacks fails at once."""
    with pytest.raises(TypeError) as error:
        SettingsParser(
            PlainSettings,
            learner="plain",
            builders=BUILDERS,
            extra={"threads": check_optional_integer},
        )
    assert str(error.value) == (
        "extra checks 'threads', which is not a field of PlainSettings; "
        "add the field or drop the check"
    )


def test_field_without_default_is_type_error() -> None:
    """Every field needs a default, because every key may be left out."""

    @dataclass(frozen=True)
    class NoDefault:
        epochs: int

    with pytest.raises(TypeError) as error:
        SettingsParser(NoDefault, learner="demo", builders=BUILDERS)
    assert str(error.value) == "NoDefault.epochs has no default"


def test_resolve_builder_by_name() -> None:
    """A builder name resolves through the builder table."""
    assert PARSER.resolve_builder("softmax") is build_softmax


def test_resolve_builder_by_path() -> None:
    """A 'package.module:function' path is imported as given."""
    path = "p2pfl_core.learning.numpy_learner:build_mlp"
    assert PARSER.resolve_builder(path) is build_mlp


def test_resolve_builder_dotted_attribute() -> None:
    """The part after the colon may name an attribute of an attribute."""
    builder = PARSER.resolve_builder(
        "p2pfl_core.learning.settings:LearnerSettings.__init__"
    )
    assert builder is LearnerSettings.__init__


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "resnet",
            "learner.model: unknown demo model 'resnet'; choose one of: softmax, "
            "mlp, or give your own builder as 'package.module:function'",
        ),
        (
            "p2pfl_no_such_module:build",
            "learner.model: cannot import 'p2pfl_no_such_module:build' "
            "(ModuleNotFoundError: No module named 'p2pfl_no_such_module'); "
            "install the module or add its folder to PYTHONPATH, and check that "
            "it defines the function",
        ),
        (
            "p2pfl_core.learning.settings:nope",
            "learner.model: cannot import 'p2pfl_core.learning.settings:nope' "
            "(AttributeError: module 'p2pfl_core.learning.settings' has no "
            "attribute 'nope'); install the module or add its folder to "
            "PYTHONPATH, and check that it defines the function",
        ),
        (
            "p2pfl_core.learning.settings:__all__",
            "learner.model: 'p2pfl_core.learning.settings:__all__' is not callable",
        ),
    ],
)
def test_resolve_builder_error(model: str, message: str) -> None:
    """An unknown name or a broken path raises a ConfigError under learner.model."""
    with pytest.raises(ConfigError) as error:
        PARSER.resolve_builder(model)
    assert str(error.value) == message


def test_import_loads_no_framework() -> None:
    """Importing the module loads neither torch, TensorFlow nor JAX."""
    code = (
        "import sys, p2pfl_core.learning.settings; "
        "print(sorted({'torch', 'tensorflow', 'jax', 'flax'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
