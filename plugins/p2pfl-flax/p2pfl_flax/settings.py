"""The ``learner`` section of an experiment file, checked for the Flax learner."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from p2pfl_core.errors import ConfigError

from p2pfl_flax.plugin import LEARNER_NAME, MODEL_BUILDERS

if TYPE_CHECKING:
    from flax import linen

ModelBuilder = Callable[..., "linen.Module"]

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}


@dataclass(frozen=True)
class FlaxSettings:
    """Validated settings of the Flax learner.

    Args:
        model: A builder name (``mlp``, ``cnn``) or ``"package.module:function"``.
        model_args: Keyword arguments of the model builder.
        optimizer: ``sgd`` or ``adam``.
        learning_rate: Step size; 0.1 for sgd and 0.001 for adam when unset.
        momentum: SGD momentum in [0, 1).
        batch_size: Samples per training step.
        epochs: Local epochs per round.
    """

    model: str = "mlp"
    model_args: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    learning_rate: float = DEFAULT_LEARNING_RATES["sgd"]
    momentum: float = 0.0
    batch_size: int = 32
    epochs: int = 1


ALLOWED_KEYS = tuple(FlaxSettings.__dataclass_fields__)


def parse_settings(settings: Mapping[str, Any]) -> FlaxSettings:
    """Check the ``learner`` section and return it as ``FlaxSettings``.

    A ``name`` key equal to ``flax`` is accepted and ignored.

    Raises:
        ConfigError: An unknown key, or a value of the wrong type or range;
            the message names ``learner.<key>`` and the allowed values.
    """
    values = dict(settings)
    name = values.pop("name", LEARNER_NAME)
    if name != LEARNER_NAME:
        raise ConfigError(
            f"learner.name: the flax learner got settings for {name!r}; "
            f"set learner.name to {LEARNER_NAME!r}"
        )
    for key in values:
        if key not in ALLOWED_KEYS:
            raise ConfigError(
                f"learner.{key}: unknown setting of the flax learner; "
                f"allowed keys: {', '.join(ALLOWED_KEYS)}"
            )
    model = values.get("model", FlaxSettings.model)
    if not isinstance(model, str) or not model:
        raise ConfigError(
            f"learner.model: expected a builder name ({_builder_names()}) or "
            f"'package.module:function', got {model!r}"
        )
    model_args = values.get("model_args") or {}
    if not isinstance(model_args, Mapping):
        raise ConfigError(
            "learner.model_args: expected a mapping of builder arguments, "
            f"got {model_args!r}"
        )
    optimizer = values.get("optimizer", FlaxSettings.optimizer)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"learner.optimizer: unknown optimizer {optimizer!r}; "
            f"choose one of: {', '.join(OPTIMIZERS)}"
        )
    momentum = _number(values, "momentum", 0.0, low=0.0, high=1.0)
    if momentum and optimizer != "sgd":
        raise ConfigError(
            f"learner.momentum: applies to sgd only, but optimizer is {optimizer!r}; "
            "remove momentum or set learner.optimizer to sgd"
        )
    return FlaxSettings(
        model=model,
        model_args=dict(model_args),
        optimizer=optimizer,
        learning_rate=_number(
            values, "learning_rate", DEFAULT_LEARNING_RATES[optimizer], low=0.0
        ),
        momentum=momentum,
        batch_size=_integer(values, "batch_size", FlaxSettings.batch_size),
        epochs=_integer(values, "epochs", FlaxSettings.epochs),
    )


def resolve_builder(model: str) -> ModelBuilder:
    """Return the builder function named by ``learner.model``.

    Raises:
        ConfigError: Unknown builder name, or a ``module:function`` path that
            cannot be imported or is not callable.
    """
    path = dict(MODEL_BUILDERS).get(model, model)
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"learner.model: unknown flax model {model!r}; choose one of: "
            f"{_builder_names()}, or give your own builder as 'package.module:function'"
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"learner.model: cannot import {path!r} ({type(exc).__name__}: {exc}); "
            "install the module or add its folder to PYTHONPATH, and check that "
            "it defines the function"
        ) from exc
    if not callable(target):
        raise ConfigError(f"learner.model: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _builder_names() -> str:
    return ", ".join(name for name, _ in MODEL_BUILDERS)


def _number(
    values: Mapping[str, Any],
    key: str,
    default: float,
    *,
    low: float,
    high: float | None = None,
) -> float:
    value = values.get(key, default)
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if valid and high is None:
        valid = value > low
    elif valid and high is not None:
        valid = low <= value < high
    if not valid:
        allowed = f"> {low}" if high is None else f"in [{low}, {high})"
        raise ConfigError(f"learner.{key}: expected a number {allowed}, got {value!r}")
    return float(value)


def _integer(values: Mapping[str, Any], key: str, default: int) -> int:
    value = values.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"learner.{key}: expected an integer >= 1, got {value!r}")
    return value
