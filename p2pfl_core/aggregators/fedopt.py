"""Adaptive federated optimisation (FedOpt): the shared server step.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar and McMahan,
"Adaptive Federated Optimization", ICLR 2021,
https://arxiv.org/abs/2003.00295.

With ``delta`` the weighted mean minus the round-start model ``x``:

    m = beta_1 * m + (1 - beta_1) * delta
    v = second moment update (Adagrad, Adam or Yogi)
    x = x + eta * m / (sqrt(v) + tau)

``m`` and ``v`` start at zero and there is no bias correction, as in
Algorithm 2 of the paper.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from p2pfl_core.aggregators.parameters import check_number
from p2pfl_core.aggregators.server_optimizer import ServerOptimizer


class FedOpt(ServerOptimizer):
    """Weighted mean followed by an adaptive server step.

    Each node keeps its own ``m`` and ``v`` between rounds, so nodes that
    skip a round (not in the train set) keep older moments than the others.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        eta: Server learning rate, > 0.
        beta_1: First moment (momentum) factor in [0, 1).
        tau: Adaptivity constant added to ``sqrt(v)``, > 0.
        statistics_buffers: See :class:`ServerOptimizer`.
    """

    def __init__(
        self,
        node: str = "",
        *,
        eta: float = 0.1,
        beta_1: float = 0.9,
        tau: float = 1e-3,
        **params: Any,
    ) -> None:
        super().__init__(node, **params)
        self.eta = check_number(
            self.component, "eta", eta, minimum=0.0, exclusive_minimum=True
        )
        self.beta_1 = check_unit_interval(self.component, "beta_1", beta_1)
        self.tau = check_number(
            self.component, "tau", tau, minimum=0.0, exclusive_minimum=True
        )
        self.first_moment: dict[str, np.ndarray] = {}
        self.second_moment: dict[str, np.ndarray] = {}

    @property
    def component(self) -> str:
        """How messages name this aggregator."""
        return f"aggregator {self.name!r}"

    def step(
        self, current: dict[str, np.ndarray], delta: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Update ``m`` and ``v`` with ``delta`` and step along ``m / sqrt(v)``."""
        self.reset_state_if_changed(self.first_moment, current)
        self.reset_state_if_changed(self.second_moment, current)
        stepped: dict[str, np.ndarray] = {}
        for name, value in current.items():
            change = delta[name]
            first = self.first_moment.get(name, np.zeros_like(change))
            second = self.second_moment.get(name, np.zeros_like(change))
            first = self.beta_1 * first + (1.0 - self.beta_1) * change
            second = self.update_second_moment(second, change)
            self.first_moment[name] = first
            self.second_moment[name] = second
            stepped[name] = value + self.eta * first / (np.sqrt(second) + self.tau)
        return stepped

    @abstractmethod
    def update_second_moment(self, second: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Return the new second moment ``v`` from the old one and ``delta``."""


def check_unit_interval(component: str, name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1).

    Raises:
        InvalidParameterError: ``value`` is outside [0, 1).
    """
    return check_number(
        component, name, value, minimum=0.0, maximum=1.0, exclusive_maximum=True
    )
