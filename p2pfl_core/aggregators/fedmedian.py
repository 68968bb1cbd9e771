"""Coordinate-wise median (FedMedian).

Yin, Chen, Ramchandran and Bartlett, "Byzantine-Robust Distributed Learning:
Towards Optimal Statistical Rates", ICML 2018,
https://arxiv.org/abs/1803.01498.

Each coordinate of the aggregate is the median of that coordinate over the
models. Sample counts are ignored, so a node cannot gain weight by
reporting more samples.
"""

from __future__ import annotations

import numpy as np

from p2pfl_core.aggregators._utils import reduce_sorted_columns
from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.weights import ModelWeights


def median_of_sorted(rows: np.ndarray) -> np.ndarray:
    """Return the median of each column of a block sorted along axis 0.

    With an even number of rows the median is the mean of the two middle
    values, computed in float64.
    """
    count = rows.shape[0]
    middle = count // 2
    upper = np.asarray(rows[middle], dtype=np.float64)
    if count % 2:
        return upper
    return np.asarray((rows[middle - 1].astype(np.float64) + upper) / 2)


class FedMedian(Aggregator):
    """Coordinate-wise median of the models, unweighted.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
    """

    name = "fedmedian"

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Take the median of every coordinate over ``models``."""
        return ModelWeights(reduce_sorted_columns(models, median_of_sorted))
