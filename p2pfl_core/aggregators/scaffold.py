"""SCAFFOLD server update.

Karimireddy, Kale, Mohri, Reddi, Stich and Suresh, "SCAFFOLD: Stochastic
Controlled Averaging for Federated Learning", ICML 2020,
https://arxiv.org/abs/1910.06378.

Every trainer shares its trained model ``y_i`` together with its control
delta ``delta_c_i`` in ``ModelWeights.extra``. The server update is

    x = x + learning_rate * (sample-weighted mean of y_i - x)
    c = c + mean of delta_c_i over the contributing nodes

and the new global control ``c`` travels in the aggregate's ``extra``, so
every node that adopts the aggregate trains the next round with it. The
learner side is :class:`p2pfl_core.algorithms.scaffold.ScaffoldCallback`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from p2pfl_core.aggregators._utils import drop_non_finite
from p2pfl_core.aggregators.parameters import check_number
from p2pfl_core.aggregators.server_optimizer import ServerOptimizer
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "scaffold/control/"
"""Prefix of the ``extra`` arrays holding the global control variate ``c``."""
DELTA_CONTROL_PREFIX = "scaffold/delta_control/"
"""Prefix of the ``extra`` arrays holding a node's control delta."""


def read_prefixed(
    extra: Mapping[str, np.ndarray], prefix: str
) -> dict[str, np.ndarray]:
    """Return the ``extra`` arrays under ``prefix``, keyed by layer name."""
    return {
        key[len(prefix) :]: value
        for key, value in extra.items()
        if key.startswith(prefix)
    }


def with_prefix(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Return ``arrays`` keyed by ``prefix`` + layer name."""
    return {prefix + name: value for name, value in arrays.items()}


class Scaffold(ServerOptimizer):
    """SCAFFOLD's server step on the models and the control variates.

    Control deltas are averaged over contributing nodes, each model weighted
    by its number of contributors, so partial aggregates combine exactly.
    Without a round-start model the result is such a partial aggregate: the
    weighted mean of the models with the mean control delta.

    Note:
        The paper scales the control update by ``|S| / N``, the sampled share
        of all clients. Here every node of the train set trains, so the
        factor is taken as 1.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        learning_rate: Global step size ``eta_g``, > 0.
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    name = "scaffold"

    def __init__(
        self, node: str = "", *, learning_rate: float = 1.0, **params: Any
    ) -> None:
        super().__init__(node, **params)
        self.learning_rate = check_number(
            f"aggregator {self.name!r}",
            "learning_rate",
            learning_rate,
            minimum=0.0,
            exclusive_minimum=True,
        )

    def step(
        self, current: dict[str, np.ndarray], delta: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Move ``learning_rate`` of the way from ``x`` to the weighted mean."""
        return {
            name: value + self.learning_rate * delta[name]
            for name, value in current.items()
        }

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average the models and the control deltas, then step from ``previous``.

        Raises:
            ModelMismatchError: A model carries no control deltas, or other
                layers than the first model.
            AggregationError: See :meth:`ServerOptimizer.combine`.
        """
        models = drop_non_finite(models, node=self.node, extra=True)
        names = self._control_names(models)
        result = super().combine(models, previous)
        used_contributors = set(result.contributors)
        used = [m for m in models if set(m.contributors) <= used_contributors]
        delta = self._mean_extra(used, DELTA_CONTROL_PREFIX, names)
        reported = self._mean_extra(used, CONTROL_PREFIX, names)
        if previous is None:
            extra = with_prefix(self._cast(delta, models[0]), DELTA_CONTROL_PREFIX)
            if reported:
                extra.update(
                    with_prefix(self._cast(reported, models[0]), CONTROL_PREFIX)
                )
        else:
            start = self._start_control(previous, reported, delta)
            control = {name: start[name] + delta[name] for name in names}
            extra = with_prefix(self._cast(control, models[0]), CONTROL_PREFIX)
        return ModelWeights(
            result.layers, contributors=result.contributors, extra=extra
        )

    @staticmethod
    def _cast(
        arrays: dict[str, np.ndarray], model: ModelWeights
    ) -> dict[str, np.ndarray]:
        """Cast control arrays to the dtype of their layer, to keep messages small."""
        return {
            name: np.asarray(value, dtype=model.layers[name].dtype)
            if name in model.layers
            else np.asarray(value)
            for name, value in arrays.items()
        }

    def _control_names(self, models: list[ModelWeights]) -> list[str]:
        reference = models[0]
        names = list(read_prefixed(reference.extra, DELTA_CONTROL_PREFIX))
        for model in models:
            deltas = read_prefixed(model.extra, DELTA_CONTROL_PREFIX)
            if not deltas:
                raise ModelMismatchError(
                    f"node {self.node}: the model from {', '.join(model.contributors)} "
                    "carries no SCAFFOLD control deltas; enable the 'scaffold' learner "
                    "algorithm on every node"
                )
            if sorted(deltas) != sorted(names) or any(
                deltas[n].shape != model.layers[n].shape
                for n in names
                if n in model.layers
            ):
                raise ModelMismatchError(
                    f"node {self.node}: the SCAFFOLD control deltas from "
                    f"{', '.join(model.contributors)} do not match those from "
                    f"{', '.join(reference.contributors)}"
                )
        return names

    @staticmethod
    def _mean_extra(
        models: list[ModelWeights], prefix: str, names: list[str]
    ) -> dict[str, np.ndarray]:
        """Average ``extra`` arrays over models weighted by contributor count.

        Returns an empty dict unless every model carries every array.
        """
        arrays = [read_prefixed(m.extra, prefix) for m in models]
        if not all(set(names) <= set(a) for a in arrays):
            return {}
        counts = np.array([float(len(m.contributors) or 1) for m in models])
        return {
            name: np.tensordot(
                counts / counts.sum(),
                np.stack([a[name].astype(np.float64) for a in arrays]),
                axes=1,
            )
            for name in names
        }

    def _start_control(
        self,
        previous: ModelWeights,
        reported: dict[str, np.ndarray],
        delta: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Return ``c`` of the round start: the node's own, else the trainers'."""
        own = read_prefixed(previous.extra, CONTROL_PREFIX)
        if set(delta) <= set(own):
            return {name: own[name].astype(np.float64) for name in delta}
        if reported:
            return reported
        logger.info("node %s: SCAFFOLD starts from a zero control variate", self.node)
        return {name: np.zeros_like(value) for name, value in delta.items()}
