"""Distances and Krum scores shared by Krum, Multi-Krum and Bulyan."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from p2pfl_core.aggregators.base import cast_like
from p2pfl_core.aggregators.parameters import check_integer
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights

# Columns per block of the Gram matrix: 50 float64 rows of 2**13 elements
# (3.3 MB) stay in cache while the block is multiplied by its transpose.
GRAM_BLOCK_BYTES = 1 << 22


def pairwise_squared_distances(models: Sequence[ModelWeights]) -> np.ndarray:
    """Return the matrix of squared Euclidean distances between models.

    All layers count, flattened and concatenated. The distances come from
    the Gram form ``|a|^2 + |b|^2 - 2 a.b``, accumulated in float64 over
    column blocks. Each block is first centred on its column mean, which
    leaves the distances unchanged and avoids the cancellation the Gram form
    suffers when models are close to each other and far from zero.

    Returns:
        A symmetric (n, n) float64 array with a zero diagonal.
    """
    count = len(models)
    gram = np.zeros((count, count))
    width = max(1024, GRAM_BLOCK_BYTES // (8 * max(count, 1)))
    block = np.empty((count, width))
    for name in models[0].layers:
        flats = [np.ravel(model.layers[name]) for model in models]
        size = flats[0].size
        for start in range(0, size, width):
            stop = min(start + width, size)
            rows = block[:, : stop - start]
            for row, flat in zip(rows, flats, strict=True):
                row[...] = flat[start:stop]
            rows -= rows.mean(axis=0)
            gram += rows @ rows.T
    norms = np.diag(gram)
    distances = norms[:, None] + norms[None, :] - 2.0 * gram
    np.maximum(distances, 0.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    return distances


def krum_scores(distances: np.ndarray, neighbours: int) -> np.ndarray:
    """Return each model's Krum score.

    The score of model ``i`` is the sum of its squared distances to the
    ``neighbours`` closest other models.
    """
    count = distances.shape[0]
    scores = np.empty(count)
    for index in range(count):
        others = np.delete(distances[index], index)
        scores[index] = np.sort(others)[:neighbours].sum()
    return scores


def check_byzantine_count(component: str, f: object) -> int:
    """Return ``f``, the number of Byzantine nodes tolerated, as an int >= 0."""
    return check_integer(component, "f", f, minimum=0)


def require_models(
    node: str, rule: str, count: int, minimum: int, condition: str
) -> None:
    """Raise when ``count`` models are fewer than the rule needs.

    Raises:
        AggregationError: ``count < minimum``; the message states the
            condition and the way out.
    """
    if count < minimum:
        raise AggregationError(
            f"node {node}: {rule} needs {condition}, i.e. at least {minimum} "
            f"models, but got {count}; lower f or use a larger train set"
        )


def mean_layers(models: Sequence[ModelWeights]) -> dict[str, np.ndarray]:
    """Return the unweighted mean of each layer, in the layer's dtype."""
    layers: dict[str, np.ndarray] = {}
    for name, first in models[0].layers.items():
        total = np.zeros(first.shape, dtype=np.result_type(first.dtype, np.float64))
        for model in models:
            total += model.layers[name]
        layers[name] = cast_like(total / len(models), first)
    return layers
