"""The ``learner`` section of an experiment file, checked for the torch learner."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from p2pfl_core.errors import ConfigError

from p2pfl_torch.plugin import LEARNER_NAME, MODEL_BUILDERS

if TYPE_CHECKING:
    from torch import nn

ModelBuilder = Callable[..., "nn.Module"]

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}


@dataclass(frozen=True)
class TorchSettings:
    """Validated settings of the torch learner.

    Args:
        model: A builder name (``mlp``, ``cnn``) or ``"package.module:function"``.
        model_args: Keyword arguments of the model builder.
        optimizer: ``sgd`` or ``adam``.
        learning_rate: Step size; 0.1 for sgd and 0.001 for adam when unset.
        momentum: SGD momentum in [0, 1).
        batch_size: Samples per training step.
        epochs: Local epochs per round.
        threads: torch intra-op threads, set process-wide; None leaves
            torch's setting unchanged.
    """

    model: str = "mlp"
    model_args: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    learning_rate: float = DEFAULT_LEARNING_RATES["sgd"]
    momentum: float = 0.0
    batch_size: int = 32
    epochs: int = 1
    threads: int | None = 1


ALLOWED_KEYS = tuple(option.name for option in fields(TorchSettings))


def parse_settings(settings: Mapping[str, Any]) -> TorchSettings:
    """Check the ``learner`` section and return it as ``TorchSettings``.

    A ``name`` key equal to ``torch`` is accepted and ignored.

    Raises:
        ConfigError: An unknown key, or a value of the wrong type or range;
            the message names ``learner.<key>`` and the allowed values.
    """
    values = dict(settings)
    name = values.pop("name", LEARNER_NAME)
    if name != LEARNER_NAME:
        raise ConfigError(
            f"learner.name: the torch learner got settings for {name!r}; "
            f"set learner.name to {LEARNER_NAME!r}"
        )
    for key in values:
        if key not in ALLOWED_KEYS:
            raise ConfigError(
                f"learner.{key}: unknown setting of the torch learner; "
                f"allowed keys: {', '.join(ALLOWED_KEYS)}"
            )
    model = values.get("model", TorchSettings.model)
    if not isinstance(model, str) or not model:
        raise ConfigError(
            f"learner.model: expected a builder name ({_builder_names()}) or "
            f"'package.module:function', got {model!r}"
        )
    model_args = values.get("model_args") or {}
    if not isinstance(model_args, Mapping):
        raise ConfigError(
            f"learner.model_args: expected a mapping of builder arguments, "
            f"got {model_args!r}"
        )
    optimizer = values.get("optimizer", TorchSettings.optimizer)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"learner.optimizer: unknown optimizer {optimizer!r}; "
            f"choose one of: {', '.join(OPTIMIZERS)}"
        )
    momentum = _fraction(values, "momentum", TorchSettings.momentum)
    if momentum and optimizer != "sgd":
        raise ConfigError(
            f"learner.momentum: applies to sgd only, but optimizer is {optimizer!r}; "
            "remove momentum or set learner.optimizer to sgd"
        )
    threads = values.get("threads", TorchSettings.threads)
    if threads is not None:
        threads = _integer(values, "threads", 1)
    return TorchSettings(
        model=model,
        model_args=dict(model_args),
        optimizer=optimizer,
        learning_rate=_positive_number(
            values, "learning_rate", DEFAULT_LEARNING_RATES[optimizer]
        ),
        momentum=momentum,
        batch_size=_integer(values, "batch_size", TorchSettings.batch_size),
        epochs=_integer(values, "epochs", TorchSettings.epochs),
        threads=threads,
    )


def resolve_builder(model: str) -> ModelBuilder:
    """Return the builder function named by ``learner.model``.

    Raises:
        ConfigError: Unknown builder name, or a ``module:function`` path that
            cannot be imported or is not callable.
    """
    builders = dict(MODEL_BUILDERS)
    path = builders.get(model, model)
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"learner.model: unknown torch model {model!r}; choose one of: "
            f"{_builder_names()}, or give your own builder as 'package.module:function'"
        )
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"learner.model: cannot import {path!r} ({type(exc).__name__}: {exc}); "
            "check that the module is importable and defines the function"
        ) from exc
    if not callable(target):
        raise ConfigError(f"learner.model: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _builder_names() -> str:
    return ", ".join(name for name, _ in MODEL_BUILDERS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_number(values: Mapping[str, Any], key: str, default: float) -> float:
    value = values.get(key, default)
    if not _is_number(value) or not value > 0:
        raise ConfigError(f"learner.{key}: expected a number > 0, got {value!r}")
    return float(value)


def _fraction(values: Mapping[str, Any], key: str, default: float) -> float:
    value = values.get(key, default)
    if not _is_number(value) or not 0 <= value < 1:
        raise ConfigError(f"learner.{key}: expected a number in [0, 1), got {value!r}")
    return float(value)


def _integer(values: Mapping[str, Any], key: str, default: int) -> int:
    value = values.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"learner.{key}: expected an integer >= 1, got {value!r}")
    return value
