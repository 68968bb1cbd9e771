"""SettingsParser.build_model and check_algorithm in p2pfl_core.learning.settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from p2pfl_core.errors import ConfigError
from p2pfl_core.learning.settings import (
    LearnerSettings,
    SettingsParser,
    check_algorithm,
)

BUILDERS = (("mlp", "p2pfl_core.learning.numpy_learner:build_mlp"),)


@dataclass(frozen=True)
class AlgorithmSettings(LearnerSettings):
    """Settings with an algorithm key."""

    algorithm: str | dict[str, Any] | None = None


PARSER = SettingsParser(
    AlgorithmSettings,
    learner="demo",
    builders=BUILDERS,
    learning_rates={"sgd": 0.1},
    extra={"algorithm": check_algorithm},
)


def call_with(**model_args: Any) -> Callable[[Callable[..., Any]], object]:
    return lambda builder: builder(64, 10, seed=0, **model_args)


def test_build_model_returns_model() -> None:
    """A builder name builds the model with its arguments."""
    model = PARSER.build_model(
        "mlp", {"hidden": 4}, call_with(hidden=4), model_type=dict, type_name="dict"
    )
    assert model["hidden.weight"].shape == (64, 4)


def test_build_model_rejected_args() -> None:
    """A TypeError of the builder is reported under model_args."""
    with pytest.raises(ConfigError) as error:
        PARSER.build_model(
            "mlp", {"depth": 3}, call_with(depth=3), model_type=dict, type_name="dict"
        )
    assert str(error.value).startswith(
        "learner.model_args: model 'mlp' rejected {'depth': 3}: "
    )


def test_build_model_wrong_type() -> None:
    """A model of another type is reported under learner.model."""
    with pytest.raises(ConfigError) as error:
        PARSER.build_model("mlp", {}, call_with(), model_type=list, type_name="list")
    assert str(error.value) == (
        "learner.model: builder 'mlp' returned dict, not a list"
    )


def test_build_model_unknown_builder() -> None:
    """An unknown builder name fails before anything is called."""
    with pytest.raises(ConfigError, match="unknown demo model 'resnet'"):
        PARSER.build_model("resnet", {}, call_with(), model_type=dict, type_name="dict")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("scaffold", "scaffold"),
        ({"name": "fedprox", "mu": 0.1}, {"name": "fedprox", "mu": 0.1}),
    ],
)
def test_algorithm_values(value: Any, expected: Any) -> None:
    """None, a name and a mapping are accepted as they are."""
    assert PARSER.parse({"algorithm": value}).algorithm == expected


def test_algorithm_of_wrong_type() -> None:
    """A number is not an algorithm."""
    with pytest.raises(ConfigError) as error:
        PARSER.parse({"algorithm": 3})
    assert str(error.value) == (
        "learner.algorithm: expected an algorithm name or a mapping with 'name', got 3"
    )
