"""FedProx: a proximal term that keeps local training near the round's model.

Li, Sahu, Zaheer, Sanjabi, Talwalkar and Smith, "Federated Optimization in
Heterogeneous Networks", MLSys 2020, https://arxiv.org/abs/1812.06127.

Each node minimises its loss plus ``mu / 2 * ||w - w_t||**2``, where ``w_t``
is the model at the start of the round. Over several layers the norm is the
norm of all layers together (the sum of the per-layer squared norms). The
term's gradient is ``mu * (w - w_t)``. The aggregator is unchanged (FedAvg).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from p2pfl_core.aggregators._utils import (
    DEFAULT_STATISTICS_SUFFIXES,
    is_statistics_buffer,
)
from p2pfl_core.aggregators.parameters import check_number
from p2pfl_core.algorithms.step_callback import TrainingStepCallback
from p2pfl_core.algorithms.step_terms import StepTerms
from p2pfl_core.weights import ModelWeights

if TYPE_CHECKING:
    from p2pfl_core.learning.learner import Learner


def proximal_term(
    weights: Mapping[str, np.ndarray],
    global_weights: Mapping[str, np.ndarray],
    mu: float,
) -> float:
    """Return ``mu / 2 * ||weights - global_weights||**2`` over the shared layers.

    Layers missing from ``global_weights`` are left out.
    """
    total = 0.0
    for name, value in weights.items():
        if name in global_weights:
            difference = np.asarray(value, np.float64) - global_weights[name]
            total += float(np.vdot(difference, difference))
    return mu / 2.0 * total


def proximal_gradient(
    weights: Mapping[str, np.ndarray],
    global_weights: Mapping[str, np.ndarray],
    mu: float,
) -> dict[str, np.ndarray]:
    """Return the gradient ``mu * (w - w_t)`` of the proximal term, per layer.

    Each array has the dtype of its layer in ``weights``. Layers missing
    from ``global_weights`` get no entry.
    """
    return {
        name: (mu * (np.asarray(value, np.float64) - global_weights[name])).astype(
            np.asarray(value).dtype
        )
        for name, value in weights.items()
        if name in global_weights
    }


class FedProxCallback(TrainingStepCallback):
    """Adds FedProx's proximal gradient to every local step.

    Args:
        mu: Weight of the proximal term, >= 0 (0 gives plain FedAvg training).
        statistics_buffers: More layer-name endings of normalisation
            statistics, which get no proximal term (see
            :class:`p2pfl_core.aggregators.server_optimizer.ServerOptimizer`).

    Raises:
        InvalidParameterError: ``mu`` is negative or not a number.
    """

    name = "fedprox"

    def __init__(
        self, mu: float = 0.01, *, statistics_buffers: tuple[str, ...] = ()
    ) -> None:
        self.mu = check_number("algorithm 'fedprox'", "mu", mu, minimum=0.0)
        self.statistics_buffers = DEFAULT_STATISTICS_SUFFIXES + tuple(
            statistics_buffers
        )
        self.global_weights: dict[str, np.ndarray] = {}

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Remember the round-start weights of the trained layers (float64)."""
        self.global_weights = {
            name: np.array(value, dtype=np.float64)
            for name, value in weights.layers.items()
            if not is_statistics_buffer(name, value, self.statistics_buffers)
        }

    def gradient_terms(
        self, params: Mapping[str, np.ndarray], learning_rate: float
    ) -> dict[str, np.ndarray]:
        """Return ``mu * (w - w_t)`` for every trained layer."""
        del learning_rate
        if self.mu == 0.0:
            return {}
        return proximal_gradient(params, self.global_weights, self.mu)

    def loss_term(self, params: Mapping[str, np.ndarray]) -> float:
        """Return ``mu / 2 * ||w - w_t||**2``."""
        return proximal_term(params, self.global_weights, self.mu)

    def step_terms(self) -> StepTerms:
        """Return ``mu`` and the anchor ``w_t`` for every trained layer."""
        if self.mu == 0.0:
            return StepTerms({}, {}, {})
        return StepTerms(
            {name: self.mu for name in self.global_weights},
            dict(self.global_weights),
            {},
        )
