"""Federated Averaging with server momentum (FedAvgM).

Hsu, Qi and Brown, "Measuring the Effects of Non-Identical Data Distribution
for Federated Visual Classification", arXiv 2019,
https://arxiv.org/abs/1909.06335.

With the pseudo-gradient ``g = x - mean`` (round-start model minus the
weighted mean), the first round sets ``v = g`` and later rounds
``v = momentum * v + g``; the new model is ``x - learning_rate * v``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.parameters import check_number
from p2pfl_core.aggregators.server_optimizer import ServerOptimizer


class FedAvgM(ServerOptimizer):
    """Weighted mean followed by a server SGD step with heavy-ball momentum.

    Each node keeps its own velocity between rounds, so nodes that skip a
    round (not in the train set) hold an older velocity than the others.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        learning_rate: Server step size, > 0 (1.0 with momentum 0 is FedAvg).
        momentum: Momentum factor ``beta`` in [0, 1).
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    name = "fedavgm"

    def __init__(
        self,
        node: str = "",
        *,
        learning_rate: float = 1.0,
        momentum: float = 0.9,
        **params: Any,
    ) -> None:
        super().__init__(node, **params)
        component = f"aggregator {self.name!r}"
        self.learning_rate = check_number(
            component,
            "learning_rate",
            learning_rate,
            minimum=0.0,
            exclusive_minimum=True,
        )
        self.momentum = check_number(
            component,
            "momentum",
            momentum,
            minimum=0.0,
            maximum=1.0,
            exclusive_maximum=True,
        )
        self.velocity: dict[str, np.ndarray] = {}

    def step(
        self, current: dict[str, np.ndarray], delta: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Update the velocity with ``g = -delta`` and step against it."""
        self.reset_state_if_changed(self.velocity, current)
        stepped: dict[str, np.ndarray] = {}
        for name, value in current.items():
            gradient = -delta[name]
            previous_velocity = self.velocity.get(name)
            if previous_velocity is None:
                velocity = gradient
            else:
                velocity = self.momentum * previous_velocity + gradient
            self.velocity[name] = velocity
            stepped[name] = value - self.learning_rate * velocity
        return stepped
