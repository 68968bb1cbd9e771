"""Maths shared by the aggregation rules.

Every rule reads models layer by layer in column chunks, so temporaries stay
in the CPU cache and memory use stays bounded whatever the layer size.
Results are cast back to the layer's dtype: integer layers get a rounded
value, 0-d layers stay 0-d arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)

# Elements per column chunk of the weighted sum: 10 float64 rows of 2**15
# elements (2.6 MB) stay within a typical L2 or L3 cache.
SUM_CHUNK = 1 << 15
# Elements per column chunk of the sorting rules (median, trimmed mean).
SORT_CHUNK = 1 << 18

DEFAULT_STATISTICS_SUFFIXES = (
    "running_mean",
    "running_var",
    "num_batches_tracked",
    "moving_mean",
    "moving_variance",
)
"""Name endings of normalisation statistics (PyTorch and Keras BatchNorm)."""
STATISTICS_PREFIXES = ("batch_stats/",)
"""Name beginnings of normalisation statistics (the Flax ``batch_stats`` collection)."""


def is_statistics_buffer(name: str, array: np.ndarray, suffixes: Sequence[str]) -> bool:
    """Tell whether a layer contains statistics rather than trained parameters.

    Integer layers (counters), layers whose name ends with one of
    ``suffixes`` and layers of the Flax ``batch_stats`` collection count as
    statistics.
    """
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    return name.endswith(tuple(suffixes)) or name.startswith(STATISTICS_PREFIXES)


def all_finite(array: np.ndarray) -> bool:
    """Tell whether an array contains no NaN or infinity (integers always do not).

    A finite sum proves that every element is finite, so the common case
    costs one reduction and no temporary array.
    """
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = array.sum()
    if np.isfinite(total):
        return True
    return bool(np.isfinite(array).all())


def non_finite_names(model: ModelWeights, *, extra: bool = False) -> list[str]:
    """Return the names of the layers (and ``extra`` arrays) containing NaN or inf."""
    arrays = dict(model.layers)
    if extra:
        arrays.update(model.extra)
    return [name for name, array in arrays.items() if not all_finite(array)]


def drop_non_finite(
    models: list[ModelWeights], *, node: str = "", extra: bool = False
) -> list[ModelWeights]:
    """Return the models without NaN or infinity, logging each one left out.

    Raises:
        AggregationError: Every model contains NaN or infinity.
    """
    finite: list[ModelWeights] = []
    for model in models:
        bad = non_finite_names(model, extra=extra)
        if bad:
            logger.warning(
                "node %s: excluded the model from %s: NaN or infinity in %s",
                node,
                ", ".join(model.contributors) or "(unknown)",
                ", ".join(bad),
            )
            continue
        finite.append(model)
    if not finite:
        raise AggregationError(
            f"node {node}: every model contains NaN or infinity; nothing to aggregate"
        )
    return finite


def store(target: np.ndarray, value: np.ndarray) -> None:
    """Write a float result into ``target``, rounding for integer dtypes."""
    if np.issubdtype(target.dtype, np.inexact):
        np.copyto(target, value, casting="same_kind")
    else:
        np.copyto(target, np.rint(value), casting="unsafe")


def weighted_sum_layer(
    arrays: Sequence[np.ndarray], weights: np.ndarray, total: float
) -> np.ndarray | None:
    """Return ``sum(weights[i] * arrays[i]) / total`` in the arrays' dtype.

    Each column chunk is gathered into a float64 block and reduced with one
    ``np.dot`` call. The result is rounded once, so integer sample counts
    give the exact mean whenever float64 represents it.

    BLAS is held to one thread here. OpenBLAS would run a product of this
    shape on several threads, which ran 2 to 7 times slower while other
    processes kept the cores busy (numpy 2.4.6 with scipy-openblas 0.3.31 on
    2 cores). One thread also beat ``einsum`` by about a fifth.

    Returns:
        The weighted mean, or None as soon as a chunk of the sum is NaN or
        infinite (some input contains NaN or infinity).
    """
    first = arrays[0]
    accumulate = np.result_type(first.dtype, np.float64)
    flats = [np.ravel(array) for array in arrays]
    out = np.empty(first.shape, dtype=first.dtype)
    flat_out = out.reshape(-1)
    size = flat_out.size
    chunk = min(SUM_CHUNK, max(size, 1))
    block = np.empty((len(arrays), chunk), dtype=accumulate)
    sums = np.empty(chunk, dtype=accumulate)
    inexact = np.issubdtype(first.dtype, np.inexact)
    # NaN or inf in the inputs makes the sum non-finite; that is detected
    # below, so numpy's warning about it would only be noise.
    with np.errstate(invalid="ignore", over="ignore"), threadpool_limits(1, "blas"):
        for start in range(0, size, chunk):
            stop = min(start + chunk, size)
            rows = block[:, : stop - start]
            for row, flat in zip(rows, flats, strict=True):
                row[...] = flat[start:stop]
            partial = sums[: stop - start]
            np.dot(weights, rows, out=partial)
            if not np.isfinite(partial).all():
                return None
            if inexact:
                np.divide(partial, total, out=flat_out[start:stop], casting="same_kind")
            else:
                partial /= total
                store(flat_out[start:stop], partial)
    return out


def weighted_average(
    models: list[ModelWeights], *, node: str = ""
) -> tuple[dict[str, np.ndarray], list[ModelWeights]]:
    """Average the layers of ``models`` weighted by ``num_samples``.

    Non-finite models are detected during the sum (a finite sum proves finite
    inputs), then left out with a log line and the sum is redone. Models with
    zero samples are legal and contribute nothing.

    Returns:
        The averaged layers and the models they contain.

    Raises:
        AggregationError: Every sample count is zero, or every model contains
            NaN or infinity.
    """
    layers = _weighted_layers(models, node)
    if layers is not None:
        return layers, _drop_non_finite_unweighted(models, node)
    finite = drop_non_finite(models, node=node)
    layers = None if len(finite) == len(models) else _weighted_layers(finite, node)
    if layers is None:
        raise AggregationError(
            f"node {node}: the weighted mean overflowed although every model is "
            "finite; scale the weights down"
        )
    return layers, finite


def _weighted_layers(
    models: list[ModelWeights], node: str
) -> dict[str, np.ndarray] | None:
    counts = np.array([float(m.num_samples) for m in models])
    total = float(counts.sum())
    if total == 0:
        raise AggregationError(
            f"node {node}: every model reports 0 samples, so the sample-weighted "
            "mean is undefined; check that each node's data partition is not empty"
        )
    weighted = [i for i, count in enumerate(counts) if count > 0]
    weights = counts[weighted]
    layers: dict[str, np.ndarray] = {}
    for name in models[0].layers:
        arrays = [models[i].layers[name] for i in weighted]
        layer = weighted_sum_layer(arrays, weights, total)
        if layer is None:
            return None
        layers[name] = layer
    return layers


def _drop_non_finite_unweighted(
    models: list[ModelWeights], node: str
) -> list[ModelWeights]:
    """Leave out zero-weight models with NaN or inf, which the sum never read."""
    zero = [m for m in models if m.num_samples == 0]
    if not zero:
        return models
    bad = {id(m) for m in zero if non_finite_names(m)}
    for model in zero:
        if id(model) in bad:
            logger.warning(
                "node %s: excluded the model from %s: NaN or infinity (0 samples)",
                node,
                ", ".join(model.contributors),
            )
    return [m for m in models if id(m) not in bad]


def reduce_sorted_columns(
    models: list[ModelWeights], reduce: Callable[[np.ndarray], np.ndarray]
) -> dict[str, np.ndarray]:
    """Apply a coordinate-wise rule to the sorted values of every coordinate.

    Args:
        models: Models with matching layers.
        reduce: Receives a block of shape (len(models), width) whose columns
            are sorted ascending, and returns the float64 result per column.

    Returns:
        The reduced layers, cast back to each layer's dtype.
    """
    layers: dict[str, np.ndarray] = {}
    for name, first in models[0].layers.items():
        flats = [np.ravel(m.layers[name]) for m in models]
        out = np.empty(first.shape, dtype=first.dtype)
        flat_out = out.reshape(-1)
        size = flat_out.size
        chunk = min(SORT_CHUNK, max(size, 1))
        block = np.empty((len(models), chunk), dtype=first.dtype)
        for start in range(0, size, chunk):
            stop = min(start + chunk, size)
            rows = block[:, : stop - start]
            for row, flat in zip(rows, flats, strict=True):
                row[...] = flat[start:stop]
            rows.sort(axis=0)
            store(flat_out[start:stop], reduce(rows))
        layers[name] = out
    return layers


def sample_weighted_mean(values: Iterable[tuple[int, float]]) -> float:
    """Average metric values weighted by the sample counts beside them.

    Args:
        values: ``(num_samples, value)`` pairs, such as evaluation losses.

    Raises:
        AggregationError: ``values`` is empty or every count is zero.
    """
    pairs = list(values)
    total = sum(count for count, _ in pairs)
    if total == 0:
        raise AggregationError(
            "cannot average metrics: every sample count is zero (or none was "
            "given); report the number of evaluation samples with each metric"
        )
    return sum(count * value for count, value in pairs) / total
