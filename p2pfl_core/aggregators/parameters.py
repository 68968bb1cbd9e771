"""Checks for the parameters that experiment files pass to components.

Aggregators, learner algorithms and attacks take keyword parameters from the
experiment file (``aggregator: {name: fedadam, eta: 0.1}``). The helpers here
reject unknown names and out-of-range values with a message that names the
component, the parameter, the value and what is accepted.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

from p2pfl_core.errors import ConfigError


class UnknownParameterError(ConfigError, TypeError):
    """A component received a parameter it does not accept."""


class InvalidParameterError(ConfigError, ValueError):
    """A component parameter has a value outside its allowed range."""


def accepted_parameters(cls: type) -> list[str]:
    """List the keyword parameters of ``cls.__init__`` and its base classes.

    ``self``, ``node`` and ``**`` catch-alls are left out.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (
                inspect.Parameter.KEYWORD_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ) and parameter.name not in ("self", "node"):
                names.add(parameter.name)
    return sorted(names)


def reject_unknown(component: str, unknown: Iterable[str], accepted: list[str]) -> None:
    """Raise when ``unknown`` is not empty.

    Args:
        component: What received the parameters, such as ``aggregator 'krum'``.
        unknown: The parameter names that nothing consumed.
        accepted: The parameter names the component takes.

    Raises:
        UnknownParameterError: ``unknown`` is not empty.
    """
    names = sorted(unknown)
    if not names:
        return
    choices = ", ".join(accepted) if accepted else "none"
    plural = "s" if len(names) > 1 else ""
    raise UnknownParameterError(
        f"{component}: unknown parameter{plural} {', '.join(map(repr, names))}; "
        f"accepted parameters: {choices}"
    )


def check_number(
    component: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given bounds.

    Raises:
        InvalidParameterError: ``value`` is not a finite number or lies
            outside the bounds; the message states the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(
            f"{component}: parameter {name!r} must be a number, got {value!r}"
        )
    number = float(value)
    too_low = minimum is not None and (
        number <= minimum if exclusive_minimum else number < minimum
    )
    too_high = maximum is not None and (
        number >= maximum if exclusive_maximum else number > maximum
    )
    if not math.isfinite(number) or too_low or too_high:
        raise InvalidParameterError(
            f"{component}: parameter {name!r} is {value!r}; expected a finite "
            f"number {_describe_range(minimum, maximum, exclusive_minimum, exclusive_maximum)}"
        )
    return number


def check_integer(
    component: str, name: str, value: Any, *, minimum: int | None = None
) -> int:
    """Return ``value`` as an int not below ``minimum``.

    Raises:
        InvalidParameterError: ``value`` is not an integer or is too small.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(
            f"{component}: parameter {name!r} must be an integer, got {value!r}"
        )
    if minimum is not None and value < minimum:
        raise InvalidParameterError(
            f"{component}: parameter {name!r} is {value}; expected an integer "
            f">= {minimum}"
        )
    return int(value)


def check_names(component: str, name: str, value: Any) -> tuple[str, ...]:
    """Return ``value`` as a tuple of strings (a single string is one name).

    Raises:
        InvalidParameterError: ``value`` is not a string or a list of strings.
    """
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidParameterError(
        f"{component}: parameter {name!r} must be a list of layer names, got {value!r}"
    )


def _describe_range(
    minimum: float | None,
    maximum: float | None,
    exclusive_minimum: bool,
    exclusive_maximum: bool,
) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"{'<' if exclusive_maximum else '<='} {maximum:g}")
    return " and ".join(parts) if parts else ""
