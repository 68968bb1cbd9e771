"""The ``learner`` section of an experiment file, checked for any learner.

Every learner reads the same keys (``model``, ``model_args``, ``optimizer``,
``learning_rate``, ``momentum``, ``batch_size``, ``epochs``). A learner
describes its settings as a frozen dataclass whose fields are the keys it
accepts, with their defaults, and a :class:`SettingsParser` checks a section
against it. Keys that only some frameworks read, such as ``threads``, come
with their own check. This module imports no ML framework.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from p2pfl_core.errors import ConfigError

__all__ = [
    "KeyCheck",
    "LearnerSettings",
    "ModelBuilders",
    "SettingsParser",
    "check_algorithm",
    "check_fraction",
    "check_integer",
    "check_optional_integer",
    "check_positive_number",
]

ModelBuilders = Sequence[tuple[str, str]]
"""Builder names mapped to ``"package.module:function"``, as in ``LearnerSpec``."""

KeyCheck = Callable[[Mapping[str, Any], str, Any], Any]
"""Check of one key: ``check(values, key, default)`` returns the parsed value."""

SettingsT = TypeVar("SettingsT")
ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class LearnerSettings:
    """Settings that every framework learner reads.

    A framework learner subclasses this to add its own keys and to document
    its builders.

    Args:
        model: A builder name or ``"package.module:function"``.
        model_args: Keyword arguments of the model builder.
        optimizer: One of the learner's optimizers, such as ``sgd``.
        learning_rate: Step size; the optimizer's default when unset.
        momentum: SGD momentum in [0, 1).
        batch_size: Samples per training step.
        epochs: Local epochs per round.
    """

    model: str = "mlp"
    model_args: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.0
    batch_size: int = 32
    epochs: int = 1


_COMMON_KEYS = frozenset(option.name for option in dataclasses.fields(LearnerSettings))


@dataclass(frozen=True)
class SettingsParser(Generic[SettingsT]):
    """Parser of one learner's ``learner`` section, built from its settings type.

    A plugin builds one parser at import time, so a settings type that the
    parser cannot fill fails there and not in the middle of a run.

    Args:
        settings_type: A dataclass whose fields are common keys (see
            :class:`LearnerSettings`) or keys of ``extra``, all with defaults.
        learner: The learner's registered name, such as ``torch``.
        builders: The learner's model builders.
        learning_rates: Default learning rate of each optimizer; its keys are
            the allowed values of ``optimizer``. Required when
            ``settings_type`` has an ``optimizer`` field.
        extra: Checks of the framework-only keys, by key.

    Raises:
        TypeError: ``settings_type`` has a field without a check or a default,
            or an ``optimizer`` field but no ``learning_rates``, or ``extra``
            checks a key that is not a field.
    """

    settings_type: type[SettingsT]
    learner: str
    builders: ModelBuilders
    learning_rates: Mapping[str, float] | None = None
    extra: Mapping[str, KeyCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = _field_defaults(self.settings_type, self.extra)
        if "optimizer" in defaults and self.learning_rates is None:
            raise TypeError(
                f"{self.settings_type.__name__} has an optimizer field; "
                "pass learning_rates with the default of each optimizer"
            )
        for key in self.extra:
            if key not in defaults:
                raise TypeError(
                    f"extra checks {key!r}, which is not a field of "
                    f"{self.settings_type.__name__}; add the field or drop the check"
                )

    @property
    def allowed_keys(self) -> tuple[str, ...]:
        """The keys of the section in field order. ``name`` is accepted too."""
        return tuple(_field_defaults(self.settings_type, self.extra))

    def parse(self, section: Mapping[str, Any]) -> SettingsT:
        """Check the ``learner`` section and return it as the settings type.

        A missing key takes the field's default. A ``name`` key equal to the
        learner's name is accepted and ignored.

        Raises:
            ConfigError: An unknown key, or a value of the wrong type or range;
                the message names ``learner.<key>`` and the allowed values.
        """
        defaults = _field_defaults(self.settings_type, self.extra)
        values = _check_keys(section, self.learner, self.allowed_keys)
        parsed: dict[str, Any] = {}
        if "model" in defaults:
            parsed["model"] = _check_model(values, defaults["model"], self.builders)
        if "model_args" in defaults:
            parsed["model_args"] = _check_model_args(values)
        optimizer: str | None = None
        if self.learning_rates is not None and "optimizer" in defaults:
            optimizer = _check_optimizer(
                values, defaults["optimizer"], self.learning_rates
            )
            parsed["optimizer"] = optimizer
        if "momentum" in defaults:
            parsed["momentum"] = _check_momentum(
                values, defaults["momentum"], optimizer
            )
        for key, check in self.extra.items():
            parsed[key] = check(values, key, defaults[key])
        if "learning_rate" in defaults:
            default = defaults["learning_rate"]
            if self.learning_rates is not None and optimizer is not None:
                default = self.learning_rates[optimizer]
            parsed["learning_rate"] = check_positive_number(
                values, "learning_rate", default
            )
        for key in ("batch_size", "epochs"):
            if key in defaults:
                parsed[key] = check_integer(values, key, defaults[key])
        return self.settings_type(**parsed)

    def resolve_builder(self, model: str) -> Callable[..., Any]:
        """Import the builder function that ``learner.model`` names.

        Args:
            model: A name from ``builders`` or ``"package.module:function"``.

        Returns:
            The builder function. The caller checks what it returns.

        Raises:
            ConfigError: An unknown builder name, or a ``module:function`` path
                that cannot be imported or is not callable.
        """
        path = dict(self.builders).get(model, model)
        module_name, _, attr = path.partition(":")
        if not module_name or not attr:
            raise ConfigError(
                f"learner.model: unknown {self.learner} model {model!r}; choose one "
                f"of: {_builder_names(self.builders)}, or give your own builder as "
                "'package.module:function'"
            )
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"learner.model: cannot import {path!r} ({type(exc).__name__}: "
                f"{exc}); install the module or add its folder to PYTHONPATH, and "
                "check that it defines the function"
            ) from exc
        if not callable(target):
            raise ConfigError(f"learner.model: {path!r} is not callable")
        return target  # type: ignore[no-any-return]

    def build_model(
        self,
        model: str,
        model_args: Mapping[str, Any],
        call: Callable[[Callable[..., Any]], object],
        *,
        model_type: type[ModelT],
        type_name: str,
    ) -> ModelT:
        """Build the model that ``learner.model`` names and check its type.

        Args:
            model: A name from ``builders`` or ``"package.module:function"``.
            model_args: The builder's keyword arguments, for error messages;
                ``call`` passes them to the builder.
            call: Calls the builder with the framework's arguments (such as
                the input shape, the number of classes and ``model_args``)
                and returns what the builder returned.
            model_type: The type the built model must have.
            type_name: The name of that type in messages, such as
                ``torch.nn.Module``.

        Returns:
            The built model.

        Raises:
            ConfigError: The builder cannot be resolved (see
                :meth:`resolve_builder`), raises TypeError or ValueError (the
                message names ``learner.model_args``), or returns another type
                (the message names ``learner.model``).
        """
        builder = self.resolve_builder(model)
        try:
            built = call(builder)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"learner.model_args: model {model!r} rejected "
                f"{dict(model_args)!r}: {exc}"
            ) from exc
        if not isinstance(built, model_type):
            raise ConfigError(
                f"learner.model: builder {model!r} returned "
                f"{type(built).__qualname__}, not a {type_name}"
            )
        return built


def check_positive_number(values: Mapping[str, Any], key: str, default: float) -> float:
    """Return ``values[key]`` (or ``default``) as a float, requiring it > 0.

    Raises:
        ConfigError: The value is not a number or not > 0.
    """
    value = values.get(key, default)
    if not _is_number(value) or not 0 < value < math.inf:
        raise ConfigError(
            f"learner.{key}: expected a finite number > 0.0, got {value!r}"
        )
    return float(value)


def check_fraction(values: Mapping[str, Any], key: str, default: float) -> float:
    """Return ``values[key]`` (or ``default``) as a float in [0, 1).

    Raises:
        ConfigError: The value is not a number or outside [0, 1).
    """
    value = values.get(key, default)
    if not _is_number(value) or not 0 <= value < 1:
        raise ConfigError(
            f"learner.{key}: expected a number in [0.0, 1.0), got {value!r}"
        )
    return float(value)


def check_integer(values: Mapping[str, Any], key: str, default: int) -> int:
    """Return ``values[key]`` (or ``default``), requiring an integer >= 1.

    Raises:
        ConfigError: The value is not an integer (booleans included) or < 1.
    """
    value = values.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"learner.{key}: expected an integer >= 1, got {value!r}")
    return value


def check_optional_integer(
    values: Mapping[str, Any], key: str, default: int | None
) -> int | None:
    """Return ``values[key]`` (or ``default``): None or an integer >= 1.

    Raises:
        ConfigError: The value is neither None nor an integer >= 1.
    """
    if values.get(key, default) is None:
        return None
    return check_integer(values, key, 1)


def check_algorithm(
    values: Mapping[str, Any], key: str, default: str | Mapping[str, Any] | None
) -> str | dict[str, Any] | None:
    """Return ``values[key]`` (or ``default``): None, a name or a mapping.

    The value names a learner algorithm, such as ``fedprox`` or
    ``{name: fedprox, mu: 0.01}``; ``make_learner_callback`` checks the
    name and the parameters.

    Raises:
        ConfigError: The value is neither None, a string nor a mapping.
    """
    value = values.get(key, default)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(
        f"learner.{key}: expected an algorithm name or a mapping with 'name', "
        f"got {value!r}"
    )


def _field_defaults(
    settings_type: type[Any], checks: Mapping[str, KeyCheck]
) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for option in dataclasses.fields(settings_type):
        if option.name not in _COMMON_KEYS and option.name not in checks:
            raise TypeError(
                f"{settings_type.__name__}.{option.name} is not a common learner "
                "key; pass its check in extra"
            )
        if option.default is not dataclasses.MISSING:
            defaults[option.name] = option.default
        elif option.default_factory is not dataclasses.MISSING:
            defaults[option.name] = option.default_factory()
        else:
            raise TypeError(f"{settings_type.__name__}.{option.name} has no default")
    return defaults


def _check_keys(
    section: Mapping[str, Any], learner: str, allowed: tuple[str, ...]
) -> dict[str, Any]:
    values = dict(section)
    name = values.pop("name", learner)
    if name != learner:
        raise ConfigError(
            f"learner.name: the {learner} learner got settings for {name!r}; "
            f"set learner.name to {learner!r}"
        )
    for key in values:
        if key not in allowed:
            raise ConfigError(
                f"learner.{key}: unknown setting of the {learner} learner; "
                f"allowed keys: {', '.join(allowed)}"
            )
    return values


def _check_model(
    values: Mapping[str, Any], default: str, builders: ModelBuilders
) -> str:
    model = values.get("model", default)
    if not isinstance(model, str) or not model:
        raise ConfigError(
            f"learner.model: expected a builder name ({_builder_names(builders)}) "
            f"or 'package.module:function', got {model!r}"
        )
    return model


def _check_model_args(values: Mapping[str, Any]) -> dict[str, Any]:
    model_args = values.get("model_args") or {}
    if not isinstance(model_args, Mapping):
        raise ConfigError(
            "learner.model_args: expected a mapping of builder arguments, "
            f"got {model_args!r}"
        )
    return dict(model_args)


def _check_optimizer(
    values: Mapping[str, Any], default: str, learning_rates: Mapping[str, float]
) -> str:
    optimizer = values.get("optimizer", default)
    if not isinstance(optimizer, str) or optimizer not in learning_rates:
        raise ConfigError(
            f"learner.optimizer: unknown optimizer {optimizer!r}; "
            f"choose one of: {', '.join(learning_rates)}"
        )
    return optimizer


def _check_momentum(
    values: Mapping[str, Any], default: float, optimizer: str | None
) -> float:
    momentum = check_fraction(values, "momentum", default)
    if momentum and optimizer not in (None, "sgd"):
        raise ConfigError(
            f"learner.momentum: applies to sgd only, but optimizer is {optimizer!r}; "
            "remove momentum or set learner.optimizer to sgd"
        )
    return momentum


def _builder_names(builders: ModelBuilders) -> str:
    return ", ".join(name for name, _ in builders)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
