"""Tests of the Byzantine behaviours and their registry."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.parameters import (
    InvalidParameterError,
    UnknownParameterError,
)
from p2pfl_core.algorithms.attacks import (
    ATTACKS,
    constant,
    gaussian_noise,
    make_attack,
    register_attack,
    sign_flip,
)
from p2pfl_core.errors import ConfigError
from p2pfl_core.weights import ModelWeights


def honest() -> ModelWeights:
    """Return a model with a float32 layer, an int64 counter and an extra array."""
    return ModelWeights(
        {"w": np.array([1.0, -2.0], np.float32), "steps": np.array(5, np.int64)},
        num_samples=12,
        contributors=("node-1",),
        extra={"e": np.array([9.0])},
    )


RNG = np.random.default_rng(0)


def test_sign_flip_scales() -> None:
    """sign_flip(2) turns [1, -2] into [-2, 4] and keeps float32."""
    shared = sign_flip(2.0)(honest(), RNG)
    assert shared["w"].tolist() == [-2.0, 4.0]
    assert shared["w"].dtype == np.float32


def test_attack_keeps_integers_and_metadata() -> None:
    """Integer layers, extra arrays, sample count and contributors are kept."""
    shared = constant(3.0)(honest(), RNG)
    assert int(shared["steps"]) == 5
    assert shared.extra["e"].tolist() == [9.0]
    assert shared.num_samples == 12
    assert shared.contributors == ("node-1",)


def test_constant_fills_value() -> None:
    """constant(7.5) sets every float parameter to 7.5."""
    assert constant(7.5)(honest(), RNG)["w"].tolist() == [7.5, 7.5]


def test_gaussian_noise_zero_std_unchanged() -> None:
    """gaussian_noise(0) shares the honest values."""
    assert gaussian_noise(0.0)(honest(), RNG)["w"].tolist() == [1.0, -2.0]


def test_seeded_noise_repeats_per_round() -> None:
    """The same seed and round give the same noise; another round differs."""
    attack = make_attack("gaussian_noise", seed=3, std=1.0)
    first = attack(honest(), 0)["w"]
    again = make_attack("gaussian_noise", seed=3, std=1.0)(honest(), 0)["w"]
    other_round = attack(honest(), 1)["w"]
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other_round.tobytes()
    assert first.tolist() != [1.0, -2.0]


def test_make_attack_unknown_name() -> None:
    """An unknown behaviour lists the registered ones."""
    with pytest.raises(
        ConfigError, match="choose one of: constant, gaussian_noise, sign_flip"
    ):
        make_attack("flip")


def test_make_attack_unknown_parameter() -> None:
    """A misspelt parameter names the accepted one."""
    with pytest.raises(UnknownParameterError, match="accepted parameters: scale"):
        make_attack("sign_flip", sclae=2.0)


def test_make_attack_invalid_value() -> None:
    """A negative standard deviation is rejected."""
    with pytest.raises(InvalidParameterError, match="'std'"):
        make_attack("gaussian_noise", std=-1.0)


def test_register_attack() -> None:
    """A registered behaviour is available by name and cannot be overwritten silently."""

    def zero(weights: ModelWeights, rng: np.random.Generator) -> ModelWeights:
        return constant(0.0)(weights, rng)

    register_attack("zero", lambda: zero)
    try:
        assert make_attack("zero")(honest(), 0)["w"].tolist() == [0.0, 0.0]
        with pytest.raises(ConfigError, match="registered already"):
            register_attack("zero", lambda: zero)
    finally:
        ATTACKS.pop("zero", None)
