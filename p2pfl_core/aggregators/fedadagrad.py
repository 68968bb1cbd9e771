"""FedAdagrad: the server applies an Adagrad step to the aggregated update.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan,
"Adaptive Federated Optimization", ICLR 2021,
https://arxiv.org/abs/2003.00295.

Second moment: ``v = v + delta**2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.fedopt import FedOpt


class FedAdagrad(FedOpt):
    """FedOpt with Adagrad's second moment; no momentum by default.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        eta: Server learning rate, > 0.
        beta_1: First moment factor in [0, 1); 0 by default.
        tau: Adaptivity constant, > 0.
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    name = "fedadagrad"

    def __init__(self, node: str = "", *, beta_1: float = 0.0, **params: Any) -> None:
        super().__init__(node, beta_1=beta_1, **params)

    def update_second_moment(self, second: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Add ``delta**2`` to ``v``."""
        return np.asarray(second + np.square(delta))
