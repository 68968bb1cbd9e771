"""Learner algorithms by name, as experiment files refer to them.

An experiment enables one with ``learner: {..., algorithm: {name: fedprox,
mu: 0.01}}``; :func:`make_learner_callback` turns that entry into the
callback a learner runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from p2pfl_core.aggregators.parameters import accepted_parameters, reject_unknown
from p2pfl_core.algorithms.fedprox import FedProxCallback
from p2pfl_core.algorithms.scaffold import ScaffoldCallback
from p2pfl_core.errors import ConfigError
from p2pfl_core.learning.learner import LearnerCallback

LEARNER_ALGORITHMS: dict[str, Callable[..., LearnerCallback]] = {
    "fedprox": FedProxCallback,
    "scaffold": ScaffoldCallback,
}
"""Callback classes by name; ``scaffold`` needs the ``scaffold`` aggregator."""


def make_learner_callback(spec: str | Mapping[str, Any]) -> LearnerCallback:
    """Build a learner callback from a name or a ``{name: ..., **params}`` mapping.

    Raises:
        ConfigError: The name is missing or unknown; the message lists the
            choices.
        UnknownParameterError: A parameter is not accepted.
        InvalidParameterError: A parameter value is out of range.
    """
    if isinstance(spec, str):
        name, params = spec, {}
    else:
        params = dict(spec)
        name = params.pop("name", None)
    factory = LEARNER_ALGORITHMS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ConfigError(
            f"unknown learner algorithm {name!r}; choose one of: "
            f"{', '.join(sorted(LEARNER_ALGORITHMS))}"
        )
    if isinstance(factory, type):
        accepted = accepted_parameters(factory)
        reject_unknown(f"algorithm {name!r}", set(params) - set(accepted), accepted)
    return factory(**params)


def learner_callbacks(spec: str | Mapping[str, Any] | None) -> list[LearnerCallback]:
    """Build the callbacks of a ``learner.algorithm`` setting: none for None.

    Raises:
        ConfigError: See :func:`make_learner_callback`.
    """
    return [] if spec is None else [make_learner_callback(spec)]
