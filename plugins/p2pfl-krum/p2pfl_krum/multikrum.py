"""Multi-Krum.

El Mhamdi, Guerraoui and Rouault, "The Hidden Vulnerability of Distributed
Learning in Byzantium", ICML 2018, https://arxiv.org/abs/1802.07927
(Multi-Krum is also described by Blanchard et al., NeurIPS 2017).

The ``m`` models with the lowest Krum scores are averaged. With ``m = 1``
this is Krum; with ``m = n`` it is the plain mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from p2pfl_core.aggregators.parameters import check_integer
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights
from p2pfl_krum._utils import mean_layers
from p2pfl_krum.krum import Krum


class MultiKrum(Krum):
    """Unweighted mean of the ``m`` models with the lowest Krum scores.

    The mean ignores sample counts, as in the paper, so a Byzantine node
    cannot gain weight by reporting more samples. Ties in score go to the
    first model in contributor order.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        f: Number of Byzantine models to tolerate, >= 0.
        m: Number of models averaged, >= 1; ``n - f`` for ``n`` models when
            not given.
    """

    name = "multikrum"

    def __init__(self, node: str = "", *, m: int | None = None, **params: Any) -> None:
        super().__init__(node, **params)
        self.m = (
            None
            if m is None
            else check_integer(f"aggregator {self.name!r}", "m", m, minimum=1)
        )

    def selected(self, models: list[ModelWeights]) -> list[ModelWeights]:
        """Return the ``m`` models with the lowest scores, best first.

        Raises:
            AggregationError: Too few models for ``f``, or fewer than ``m``.
        """
        scores = self.scores(models)
        count = len(models) - self.f if self.m is None else self.m
        if count > len(models):
            raise AggregationError(
                f"node {self.node}: {self.name} averages m={count} models but got "
                f"{len(models)}; lower m or use a larger train set"
            )
        order = np.argsort(scores, kind="stable")[:count]
        return [models[int(index)] for index in order]

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average the selected models, in contributor order."""
        chosen = {id(model) for model in self.selected(models)}
        return ModelWeights(mean_layers([m for m in models if id(m) in chosen]))
