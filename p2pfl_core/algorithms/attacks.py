"""Byzantine behaviours: how a malicious node alters the model it shares.

An attack is a callable ``(weights, rng) -> weights`` that a node applies to
its model before sharing it. :func:`make_attack` binds one to a node's seed
and draws a new generator per round, so runs repeat exactly. Attacks change floating-point layers
only; integer layers, ``extra`` arrays and the metadata stay as they are.
Plugins add behaviours with :func:`register_attack`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from p2pfl_core.aggregators.parameters import check_number, reject_unknown
from p2pfl_core.errors import ConfigError
from p2pfl_core.weights import ModelWeights

Attack = Callable[[ModelWeights, np.random.Generator], ModelWeights]
"""An attack: takes the honest model and a seeded generator, returns the model to share."""


def _map_float_layers(
    weights: ModelWeights, change: Callable[[np.ndarray], np.ndarray]
) -> ModelWeights:
    layers = {
        name: change(value).astype(value.dtype)
        if np.issubdtype(value.dtype, np.inexact)
        else value
        for name, value in weights.layers.items()
    }
    return ModelWeights(
        layers,
        num_samples=weights.num_samples,
        contributors=weights.contributors,
        extra=dict(weights.extra),
    )


def sign_flip(scale: float = 1.0) -> Attack:
    """Share ``-scale * w`` instead of the trained weights ``w``.

    Args:
        scale: Factor applied after flipping the sign, > 0.
    """
    factor = check_number(
        "attack 'sign_flip'", "scale", scale, minimum=0.0, exclusive_minimum=True
    )

    def attack(weights: ModelWeights, rng: np.random.Generator) -> ModelWeights:
        del rng
        return _map_float_layers(weights, lambda value: -factor * value)

    return attack


def gaussian_noise(std: float = 1.0) -> Attack:
    """Share the weights plus Gaussian noise of standard deviation ``std``.

    Args:
        std: Standard deviation of the noise added to every parameter, >= 0.
    """
    deviation = check_number("attack 'gaussian_noise'", "std", std, minimum=0.0)

    def attack(weights: ModelWeights, rng: np.random.Generator) -> ModelWeights:
        return _map_float_layers(
            weights, lambda value: value + deviation * rng.standard_normal(value.shape)
        )

    return attack


def constant(value: float = 0.0) -> Attack:
    """Share weights whose every parameter equals ``value``.

    Args:
        value: The value of every floating-point parameter.
    """
    fill = check_number("attack 'constant'", "value", value)

    def attack(weights: ModelWeights, rng: np.random.Generator) -> ModelWeights:
        del rng
        return _map_float_layers(weights, lambda layer: np.full(layer.shape, fill))

    return attack


ATTACKS: dict[str, Callable[..., Attack]] = {
    "sign_flip": sign_flip,
    "gaussian_noise": gaussian_noise,
    "constant": constant,
}
"""Attack factories by name; each takes its parameters as keyword arguments."""


def register_attack(
    name: str, factory: Callable[..., Attack], *, replace: bool = False
) -> None:
    """Make an attack available by name in experiment files.

    Raises:
        ConfigError: ``name`` is taken and ``replace`` is False.
    """
    if name in ATTACKS and not replace:
        raise ConfigError(
            f"attack {name!r} is registered already; pass replace=True to override it"
        )
    ATTACKS[name] = factory


class SeededAttack:
    """An attack bound to one node's seed, called once per round.

    Each call draws from ``numpy.random.default_rng([seed, round])``, so a
    round's noise depends only on the seed and the round number.

    Args:
        attack: The attack to apply.
        seed: The node's seed, >= 0.
    """

    def __init__(self, attack: Attack, seed: int) -> None:
        self.attack = attack
        self.seed = seed

    def __call__(self, weights: ModelWeights, round: int) -> ModelWeights:
        """Return the model to share in ``round`` instead of ``weights``."""
        return self.attack(weights, np.random.default_rng([self.seed, round]))


def make_attack(name: str, *, seed: int = 0, **params: Any) -> SeededAttack:
    """Build the attack registered as ``name`` for a node with ``seed``.

    Args:
        name: A key of :data:`ATTACKS`.
        seed: The node's seed, >= 0.
        **params: The attack's parameters, such as ``scale``.

    Returns:
        A callable ``(weights, round) -> weights`` that the node applies to
        the model it shares.

    Raises:
        ConfigError: ``name`` is unknown; the message lists the choices.
        UnknownParameterError: A parameter is not accepted by the attack.
        InvalidParameterError: A parameter value is out of range.
    """
    factory = ATTACKS.get(name)
    if factory is None:
        raise ConfigError(
            f"unknown Byzantine behaviour {name!r}; choose one of: "
            f"{', '.join(sorted(ATTACKS))}"
        )
    accepted = _parameters(factory)
    if accepted is not None:
        reject_unknown(f"attack {name!r}", set(params) - set(accepted), accepted)
    return SeededAttack(factory(**params), seed)


def _parameters(factory: Callable[..., Attack]) -> list[str] | None:
    """Return the keyword parameters of ``factory``, or None if it takes ``**``."""
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return sorted(p.name for p in parameters if p.kind in kinds)
