"""The ``learner`` section of an experiment file, checked for the torch learner.

Core's :mod:`p2pfl_core.learning.settings` checks the keys that every learner
shares. This module adds the torch builders, the optimizers' default learning
rates and the ``threads`` key.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pfl_core.learning import settings as common

from p2pfl_torch.plugin import LEARNER_NAME, MODEL_BUILDERS

# Default learning rate of each optimizer the learner offers.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "adam": 0.001}


@dataclass(frozen=True)
class TorchSettings(common.LearnerSettings):
    """Validated settings of the torch learner.

    It adds ``threads`` to the keys of ``LearnerSettings``. ``model`` names
    ``mlp``, ``cnn`` or ``"package.module:function"``.

    Args:
        threads: torch intra-op threads, set process-wide; None leaves
            torch's setting unchanged.
    """

    threads: int | None = 1


PARSER = common.SettingsParser(
    TorchSettings,
    learner=LEARNER_NAME,
    builders=MODEL_BUILDERS,
    learning_rates=DEFAULT_LEARNING_RATES,
    extra={"threads": common.check_optional_integer},
)
parse_settings = PARSER.parse
resolve_builder = PARSER.resolve_builder
