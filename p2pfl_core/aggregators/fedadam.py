"""FedAdam: the server applies an Adam step to the aggregated update.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan,
"Adaptive Federated Optimization", ICLR 2021,
https://arxiv.org/abs/2003.00295.

Second moment: ``v = beta_2 * v + (1 - beta_2) * delta**2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.fedopt import FedOpt, check_unit_interval


class FedAdam(FedOpt):
    """FedOpt with Adam's second moment.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        eta: Server learning rate, > 0.
        beta_1: First moment factor in [0, 1).
        beta_2: Second moment factor in [0, 1).
        tau: Adaptivity constant, > 0.
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    name = "fedadam"

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
        """Return the exponential moving average of ``delta**2``."""
        return np.asarray(self.beta_2 * second + (1.0 - self.beta_2) * np.square(delta))
