"""Krum.

Blanchard, El Mhamdi, Guerraoui and Stainer, "Machine Learning with
Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017
(Advances in Neural Information Processing Systems 30).

Each model is scored by the sum of its squared distances to its
``n - f - 2`` closest other models. The model with the lowest score is the
aggregate. This tolerates ``f`` Byzantine models among ``n`` when
``n > 2 f + 2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.weights import ModelWeights
from p2pfl_krum._utils import (
    check_byzantine_count,
    krum_scores,
    pairwise_squared_distances,
    require_models,
)


class Krum(Aggregator):
    """Selects the model with the lowest Krum score.

    Sample counts are ignored. Ties go to the first model in contributor
    order, so the result does not depend on arrival order. The aggregate's
    contributors are all the models scored, because each one took part in
    the choice.

    Note:
        Krum guards against Byzantine models only when each input is one
        node's own model; partial aggregates hide the individual models.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        f: Number of Byzantine models to tolerate, >= 0.
    """

    name = "krum"

    def __init__(self, node: str = "", *, f: int = 1, **params: Any) -> None:
        super().__init__(node, **params)
        self.f = check_byzantine_count(f"aggregator {self.name!r}", f)

    @property
    def min_models(self) -> int:
        """Krum needs ``n > 2f + 2`` models."""
        return 2 * self.f + 3

    def scores(self, models: list[ModelWeights]) -> np.ndarray:
        """Return the Krum score of each model, after checking ``n > 2f + 2``.

        Raises:
            AggregationError: There are too few models for ``f``.
        """
        count = len(models)
        require_models(
            self.node,
            f"{self.name} with f={self.f}",
            count,
            self.min_models,
            "n > 2f + 2",
        )
        distances = pairwise_squared_distances(models)
        return krum_scores(distances, count - self.f - 2)

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Return a copy of the layers of the model with the lowest score."""
        chosen = models[int(np.argmin(self.scores(models)))]
        return ModelWeights(
            {name: value.copy() for name, value in chosen.layers.items()}
        )
