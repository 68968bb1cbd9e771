"""Bulyan.

El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed
Learning in Byzantium", ICML 2018, https://arxiv.org/abs/1802.07927.

Krum is applied repeatedly to select ``theta = n - 2 f`` models (each pick
leaves the remaining set). Then, for every coordinate, the
``beta = theta - 2 f`` selected values closest to the coordinate-wise
median are averaged. Bulyan needs ``n >= 4 f + 3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from p2pfl_core.aggregators.base import Aggregator, cast_like
from p2pfl_core.aggregators.fedmedian import median_of_sorted
from p2pfl_core.weights import ModelWeights
from p2pfl_krum._utils import (
    check_byzantine_count,
    krum_scores,
    pairwise_squared_distances,
    require_models,
)


def mean_of_closest(
    reference: np.ndarray, candidates: Sequence[np.ndarray], beta: int
) -> np.ndarray:
    """Average, per coordinate, the ``beta`` candidate values closest to ``reference``.

    Ties in distance go to the candidate listed first.

    Args:
        reference: The array to measure distances from, such as the median.
        candidates: Arrays of the same shape as ``reference``.
        beta: How many values to average per coordinate, 1 to
            ``len(candidates)``.

    Returns:
        A float64 array of the shape of ``reference``.

    Raises:
        ValueError: ``beta`` is out of range or there are no candidates.
    """
    if not 1 <= beta <= len(candidates):
        raise ValueError(
            f"beta must be between 1 and the number of candidates "
            f"({len(candidates)}), got {beta}"
        )
    stacked = np.stack([np.asarray(c, dtype=np.float64) for c in candidates])
    distance = np.abs(stacked - np.asarray(reference, dtype=np.float64))
    order = np.argsort(distance, axis=0, kind="stable")[:beta]
    closest = np.take_along_axis(stacked, order, axis=0)
    return np.asarray(closest.mean(axis=0))


class Bulyan(Aggregator):
    """Krum selection followed by a trimmed mean around the median.

    Sample counts are ignored. While selecting, a Krum score sums the
    distances to the ``r - f - 2`` closest of the ``r`` remaining models, at
    least one.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        f: Number of Byzantine models to tolerate, >= 0.
    """

    name = "bulyan"

    def __init__(self, node: str = "", *, f: int = 1, **params: Any) -> None:
        super().__init__(node, **params)
        self.f = check_byzantine_count(f"aggregator {self.name!r}", f)

    def selected(self, models: list[ModelWeights]) -> list[ModelWeights]:
        """Return the ``n - 2f`` models picked by repeated Krum, in contributor order.

        Raises:
            AggregationError: ``n < 4f + 3``.
        """
        count = len(models)
        require_models(
            self.node,
            f"{self.name} with f={self.f}",
            count,
            self.min_models,
            "n >= 4f + 3",
        )
        distances = pairwise_squared_distances(models)
        remaining = list(range(count))
        picked: list[int] = []
        while len(picked) < count - 2 * self.f:
            subset = distances[np.ix_(remaining, remaining)]
            neighbours = max(len(remaining) - self.f - 2, 1)
            best = int(np.argmin(krum_scores(subset, neighbours)))
            picked.append(remaining.pop(best))
        return [models[index] for index in sorted(picked)]

    @property
    def min_models(self) -> int:
        """Bulyan needs ``n >= 4f + 3`` models."""
        return 4 * self.f + 3

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average, per coordinate, the selected values closest to their median."""
        chosen = self.selected(models)
        beta = len(chosen) - 2 * self.f
        layers: dict[str, np.ndarray] = {}
        for name, first in chosen[0].layers.items():
            values = [model.layers[name] for model in chosen]
            median = median_of_sorted(np.sort(np.stack(values), axis=0))
            layers[name] = cast_like(mean_of_closest(median, values, beta), first)
        return ModelWeights(layers)
