"""Coordinate-wise trimmed mean.

Yin, Chen, Ramchandran and Bartlett, "Byzantine-Robust Distributed Learning:
Towards Optimal Statistical Rates", ICML 2018,
https://arxiv.org/abs/1803.01498.

For each coordinate the largest and the smallest values are removed (the
same number on each side) and the rest is averaged without weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from p2pfl_core.aggregators._utils import reduce_sorted_columns
from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.aggregators.parameters import (
    InvalidParameterError,
    check_integer,
    check_number,
)
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights


class TrimmedMean(Aggregator):
    """Mean of each coordinate after trimming extreme values on both sides.

    Give either ``beta`` or ``f``. With ``beta`` the number trimmed per side
    is ``floor(beta * n)`` for ``n`` models, so ``beta`` in [0, 0.5) always
    leaves at least one value. With ``f`` exactly ``f`` values are trimmed
    per side, which needs more than ``2 f`` models.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        beta: Fraction of the models trimmed on each side, in [0, 0.5);
            0.2 when neither ``beta`` nor ``f`` is given.
        f: Number of models trimmed on each side (the number of Byzantine
            nodes tolerated), instead of ``beta``.

    Raises:
        InvalidParameterError: ``beta`` or ``f`` is out of range, or both
            are given.
    """

    name = "trimmed_mean"

    def __init__(
        self,
        node: str = "",
        *,
        beta: float | None = None,
        f: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(node, **params)
        component = f"aggregator {self.name!r}"
        if beta is not None and f is not None:
            raise InvalidParameterError(
                f"{component}: give either 'beta' (a fraction) or 'f' (a count), "
                "not both"
            )
        self.f = None if f is None else check_integer(component, "f", f, minimum=0)
        self.beta = check_number(
            component,
            "beta",
            0.2 if beta is None else beta,
            minimum=0.0,
            maximum=0.5,
            exclusive_maximum=True,
        )

    def trimmed_per_side(self, count: int) -> int:
        """Return how many values are trimmed on each side of ``count`` values.

        Raises:
            AggregationError: ``f`` trims every value.
        """
        if self.f is None:
            # The small slack keeps 0.29 * 100 = 28.999999999999996 at 29.
            return math.floor(self.beta * count + 1e-9)
        if count <= 2 * self.f:
            raise AggregationError(
                f"node {self.node}: trimmed mean with f={self.f} needs more than "
                f"2f = {2 * self.f} models, got {count}; lower f or wait for more "
                "models"
            )
        return self.f

    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Average every coordinate after trimming its extremes."""
        trim = self.trimmed_per_side(len(models))

        def trimmed(rows: np.ndarray) -> np.ndarray:
            middle_values = rows[trim : rows.shape[0] - trim]
            return np.asarray(middle_values.mean(axis=0, dtype=np.float64))

        return ModelWeights(reduce_sorted_columns(models, trimmed))
