"""Federated Averaging (FedAvg).

McMahan, Moore, Ramage, Hampson and Agüera y Arcas, "Communication-Efficient
Learning of Deep Networks from Decentralized Data", AISTATS 2017,
https://arxiv.org/abs/1602.05629.

Each layer of the aggregate is the mean of the models' layers weighted by
their sample counts.
"""

from __future__ import annotations

from p2pfl_core.aggregators._utils import weighted_average
from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.weights import ModelWeights


class FedAvg(Aggregator):
    """Sample-weighted mean of the models.

    Models with zero samples are legal and contribute nothing. The sum is
    accumulated in float64 and rounded once, so integer sample counts give
    the exact mean whenever float64 represents it. Integer layers get the
    rounded mean. A model containing NaN or infinity is left out with a
    warning.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
    """

    name = "fedavg"
    checks_finite_itself = True

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average the models weighted by ``num_samples``.

        Raises:
            AggregationError: Every sample count is zero, or every model
                contains NaN or infinity.
        """
        layers, used = weighted_average(models, node=self.node)
        contributors = tuple(sorted({c for m in used for c in m.contributors}))
        return ModelWeights(layers, contributors=contributors)
