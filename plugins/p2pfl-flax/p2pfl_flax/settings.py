"""The ``learner`` section of an experiment file, checked for the Flax learner.

Core's :mod:`p2pfl_core.learning.settings` checks the keys that every learner
shares. This module adds the Flax builders, the optimizers' default learning
rates and the ``algorithm`` key. The Flax learner has no ``threads`` key,
because JAX fixes its thread pool when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2pfl_core.learning import settings as common

from p2pfl_flax.plugin import LEARNER_NAME, MODEL_BUILDERS

# Default learning rate of each optimizer the learner offers.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}


@dataclass(frozen=True)
class FlaxSettings(common.LearnerSettings):
    """Validated settings of the Flax learner.

    It adds ``algorithm`` to the keys of ``LearnerSettings``. ``model`` names
    ``mlp``, ``cnn`` or ``"package.module:function"``.

    Args:
        algorithm: ``fedprox``, ``scaffold`` or ``{name: ..., **params}``;
            None trains without a learner algorithm.
    """

    algorithm: str | dict[str, Any] | None = None


PARSER = common.SettingsParser(
    FlaxSettings,
    learner=LEARNER_NAME,
    builders=MODEL_BUILDERS,
    learning_rates=DEFAULT_LEARNING_RATES,
    extra={"algorithm": common.check_algorithm},
)
parse_settings = PARSER.parse
resolve_builder = PARSER.resolve_builder
