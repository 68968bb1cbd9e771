"""Federated Averaging.

McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017, https://arxiv.org/abs/1602.05629.
Each layer of the aggregate is the mean of the models' layers weighted by
their sample counts.
"""

from __future__ import annotations

import numpy as np

from p2pfl_core.aggregators.base import Aggregator, cast_like
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights


def weighted_mean(models: list[ModelWeights], weights: list[float]) -> dict[str, np.ndarray]:
    """Return the layer-wise weighted mean, accumulated in float64.

    Integer layers are rounded back to their dtype; 0-d layers stay arrays.
    """
    total = float(sum(weights))
    layers: dict[str, np.ndarray] = {}
    for name, first in models[0].layers.items():
        accumulator = np.zeros(first.shape, dtype=np.float64)
        scratch = np.empty(first.shape, dtype=np.float64)
        for model, weight in zip(models, weights, strict=True):
            if weight == 0:
                continue
            np.multiply(model.layers[name], weight / total, out=scratch)
            accumulator += scratch
        layers[name] = cast_like(accumulator, first)
    return layers


class FedAvg(Aggregator):
    """Sample-weighted mean of the models (zero-weight models are legal)."""

    name = "fedavg"

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average the models weighted by ``num_samples``.

        Raises:
            AggregationError: Every sample count is zero.
        """
        counts = [float(m.num_samples) for m in models]
        if sum(counts) == 0:
            raise AggregationError(
                f"node {self.node}: every model reports 0 samples, so the "
                "sample-weighted mean is undefined; check the data partition"
            )
        return ModelWeights(weighted_mean(models, counts))
