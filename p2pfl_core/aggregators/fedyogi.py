"""FedYogi: the server applies a Yogi step to the aggregated update.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan,
"Adaptive Federated Optimization", ICLR 2021,
https://arxiv.org/abs/2003.00295.

Second moment: ``v = v - (1 - beta_2) * delta**2 * sign(v - delta**2)``,
which grows ``v`` additively rather than by a moving average.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.fedopt import FedOpt, check_unit_interval


class FedYogi(FedOpt):
    """FedOpt with Yogi's second moment.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        eta: Server learning rate, > 0.
        beta_1: First moment factor in [0, 1).
        beta_2: Second moment factor in [0, 1).
        tau: Adaptivity constant, > 0.
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    name = "fedyogi"

    def __init__(
        self,
        node: str = "",
        *,
        beta_2: float = 0.99,
        **params: Any,
    ) -> None:
        super().__init__(node, **params)
        self.beta_2 = check_unit_interval(self.component, "beta_2", beta_2)

    def update_second_moment(self, second: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Move ``v`` towards ``delta**2`` by ``(1 - beta_2) * delta**2``."""
        squared = np.square(delta)
        return np.asarray(
            second - (1.0 - self.beta_2) * squared * np.sign(second - squared)
        )
