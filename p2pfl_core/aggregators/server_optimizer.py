"""Base class of the rules that step from the round-start model.

FedAvgM, FedAdam, FedYogi, FedAdagrad and SCAFFOLD first take the
sample-weighted mean of the models, then treat its difference to the node's
round-start model as a pseudo-gradient and take an optimiser step. Each node
applies the step to its own aggregate and keeps the optimiser state (momentum,
second moments) in its aggregator between rounds.

Normalisation statistics (BatchNorm running mean and variance, batch
counters) are not gradients: they bypass the optimiser and are plainly
averaged, so a variance never becomes negative.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from p2pfl_core.aggregators._utils import (
    DEFAULT_STATISTICS_SUFFIXES,
    is_statistics_buffer,
    weighted_average,
)
from p2pfl_core.aggregators.base import Aggregator, cast_like
from p2pfl_core.aggregators.parameters import check_names
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)


class ServerOptimizer(Aggregator):
    """Sample-weighted mean followed by an optimiser step from ``previous``.

    Without a round-start model (``previous`` is None) the result is the
    plain weighted mean, which is what a partial aggregate needs. A warning
    is logged the first time this happens.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        statistics_buffers: More layer-name endings that mark statistics
            buffers, besides ``running_mean``, ``running_var``,
            ``num_batches_tracked``, ``moving_mean`` and ``moving_variance``.
            Integer layers and names starting with ``batch_stats/`` (Flax)
            always count as statistics.
    """

    checks_finite_itself = True

    def __init__(
        self,
        node: str = "",
        *,
        statistics_buffers: Sequence[str] = (),
        **params: Any,
    ) -> None:
        super().__init__(node, **params)
        extra = check_names(
            f"aggregator {self.name!r}", "statistics_buffers", list(statistics_buffers)
        )
        self.statistics_buffers = DEFAULT_STATISTICS_SUFFIXES + extra
        self._warned_without_previous = False

    def is_optimised(self, name: str, array: np.ndarray) -> bool:
        """Tell whether layer ``name`` goes through the optimiser step."""
        return not is_statistics_buffer(name, array, self.statistics_buffers)

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average the models, then step from ``previous`` on trained layers.

        Raises:
            AggregationError: Every sample count is zero, or every model
                contains NaN or infinity.
            ModelMismatchError: ``previous`` does not match the models.
        """
        average, used = weighted_average(models, node=self.node)
        contributors = tuple(sorted({c for m in used for c in m.contributors}))
        if previous is None:
            self._warn_without_previous()
            return ModelWeights(average, contributors=contributors)
        self._check_previous(previous, average)
        current: dict[str, np.ndarray] = {}
        delta: dict[str, np.ndarray] = {}
        for name, mean in average.items():
            if self.is_optimised(name, mean):
                current[name] = previous.layers[name].astype(np.float64)
                delta[name] = mean.astype(np.float64) - current[name]
        stepped = self.step(current, delta)
        layers = {
            name: cast_like(stepped[name], mean) if name in stepped else mean
            for name, mean in average.items()
        }
        return ModelWeights(layers, contributors=contributors)

    @abstractmethod
    def step(
        self, current: dict[str, np.ndarray], delta: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Return the new value of every optimised layer.

        Args:
            current: The round-start value of each optimised layer (float64).
            delta: The weighted mean minus ``current`` (float64), the
                negative pseudo-gradient.

        Returns:
            The new float64 value of each layer in ``current``.
        """

    def reset_state_if_changed(
        self, state: dict[str, np.ndarray], current: dict[str, np.ndarray]
    ) -> None:
        """Empty ``state`` when the layers differ from the ones it was built for."""
        if not state:
            return
        same = state.keys() == current.keys() and all(
            state[name].shape == current[name].shape for name in current
        )
        if not same:
            logger.warning(
                "node %s: %s optimiser state reset: the model's layers changed",
                self.node,
                self.name,
            )
            state.clear()

    def _check_previous(
        self, previous: ModelWeights, average: dict[str, np.ndarray]
    ) -> None:
        problems = ModelWeights(average).describe_mismatch(previous)
        if problems:
            raise ModelMismatchError(
                f"node {self.node}: the round-start model does not match the "
                "received models: " + "; ".join(problems)
            )

    def _warn_without_previous(self) -> None:
        if self._warned_without_previous:
            return
        self._warned_without_previous = True
        logger.warning(
            "node %s: %s got no round-start model, so it returns the plain "
            "weighted mean without an optimiser step",
            self.node,
            self.name,
        )
