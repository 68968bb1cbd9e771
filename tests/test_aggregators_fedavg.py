"""Tests of FedAvg and the sample-weighted helpers, with hand-computed values."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from p2pfl_core.aggregators._utils import SUM_CHUNK, sample_weighted_mean
from p2pfl_core.aggregators.fedavg import FedAvg
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights


def aggregate(layers: list[dict[str, object]], samples: list[int]) -> ModelWeights:
    """Aggregate one model per entry, contributors "1", "2", ..."""
    aggregator = FedAvg(node="test")
    for index, (model_layers, count) in enumerate(zip(layers, samples, strict=True)):
        aggregator.add_model(
            ModelWeights(
                {k: np.asarray(v) for k, v in model_layers.items()},
                num_samples=count,
                contributors=(str(index + 1),),
            )
        )
    return aggregator.aggregate()


def test_equal_counts_give_plain_mean() -> None:
    """[1,2,3], [4,5,6], [7,8,9] with one sample each give [4,5,6] from 1, 2, 3."""
    result = aggregate(
        [{"w": [1, 2, 3]}, {"w": [4, 5, 6]}, {"w": [7, 8, 9]}], [1, 1, 1]
    )
    assert result["w"].tolist() == [4, 5, 6]
    assert result.contributors == ("1", "2", "3")
    assert result.num_samples == 3


def test_weights_by_sample_count() -> None:
    """Counts 1, 2, 3 weight [1,2,3], [4,5,6], [7,8,9] to [5,6,7], not [4,5,6]."""
    result = aggregate(
        [{"w": [1, 2, 3]}, {"w": [4, 5, 6]}, {"w": [7, 8, 9]}], [1, 2, 3]
    )
    assert result["w"].tolist() == [5, 6, 7]


def test_symmetric_offsets_return_p_exactly() -> None:
    """p (n=1), p+1 (n=2), p-1 (n=2) average to p exactly in float32."""
    rng = np.random.default_rng(7)
    p = (rng.integers(-1_000_000, 1_000_000, (3, 5)) / 1024).astype(np.float32)
    result = aggregate([{"w": p}, {"w": p + 1}, {"w": p - 1}], [1, 2, 2])
    assert result["w"].dtype == np.float32
    np.testing.assert_allclose(result["w"], p, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(result["w"], p)


def test_all_zero_counts_raise() -> None:
    """Counts 0, 0, 0 raise an error instead of returning NaN."""
    with pytest.raises(AggregationError, match="every model reports 0 samples"):
        aggregate([{"w": [1, 2, 3]}, {"w": [4, 5, 6]}, {"w": [7, 8, 9]}], [0, 0, 0])


def test_zero_count_models_contribute_nothing() -> None:
    """Counts 0, 0, 5 give exactly [7, 8, 9]."""
    result = aggregate(
        [{"w": [1.0, 2.0, 3.0]}, {"w": [4.0, 5.0, 6.0]}, {"w": [7.0, 8.0, 9.0]}],
        [0, 0, 5],
    )
    assert result["w"].tolist() == [7.0, 8.0, 9.0]
    assert result.contributors == ("1", "2", "3")


def test_zero_dim_layer_stays_array() -> None:
    """Scalars 1.0 (n=1) and 3.0 (n=2) give a 0-d array of 7/3."""
    result = aggregate([{"s": 1.0}, {"s": 3.0}], [1, 2])
    assert isinstance(result["s"], np.ndarray)
    assert result["s"].shape == ()
    assert float(result["s"]) == pytest.approx(2.3333333, abs=1e-7)


def test_non_finite_model_excluded(caplog: pytest.LogCaptureFixture) -> None:
    """[1,2], [3,4], [NaN, inf] give [2, 3] and a warning naming node 3."""
    with caplog.at_level(logging.WARNING):
        result = aggregate(
            [{"w": [1.0, 2.0]}, {"w": [3.0, 4.0]}, {"w": [np.nan, np.inf]}], [1, 1, 1]
        )
    assert result["w"].tolist() == [2.0, 3.0]
    assert result.contributors == ("1", "2")
    assert result.num_samples == 2
    assert "excluded the model from 3" in caplog.text


def test_zero_count_non_finite_model_excluded() -> None:
    """A NaN model with 0 samples is left out of the contributors too."""
    result = aggregate([{"w": [1.0]}, {"w": [3.0]}, {"w": [np.nan]}], [1, 1, 0])
    assert result["w"].tolist() == [2.0]
    assert result.contributors == ("1", "2")


def test_every_model_non_finite_raises() -> None:
    """When every model contains infinity, FedAvg raises AggregationError."""
    with pytest.raises(AggregationError, match="NaN or infinity"):
        aggregate([{"w": [np.inf]}, {"w": [-np.inf]}], [1, 1])


def test_integer_layer_rounded() -> None:
    """Integer layers get the rounded weighted mean: 1.25 -> 1 and 1.75 -> 2."""
    result = aggregate([{"steps": [1, 2]}, {"steps": [2, 1]}], [3, 1])
    assert result["steps"].dtype == np.int64
    assert result["steps"].tolist() == [1, 2]


def test_large_layer_across_chunks_exact() -> None:
    """A layer spanning several sum chunks averages exactly: x, x+2, x+1 (n=2)."""
    size = 3 * SUM_CHUNK + 7
    x = (np.arange(size) % 4096 / 1024).astype(np.float32).reshape(-1, 1)
    result = aggregate([{"w": x}, {"w": x + 2}, {"w": x + 1}], [1, 1, 2])
    np.testing.assert_array_equal(result["w"], x + 1)


def test_empty_layer_round_trips() -> None:
    """A layer of size 0 gives an empty layer of the same shape and dtype."""
    empty = np.zeros((0, 3), np.float32)
    result = aggregate([{"w": empty}, {"w": empty}], [1, 1])
    assert result["w"].shape == (0, 3)
    assert result["w"].dtype == np.float32


def test_combine_direct_reports_used_contributors() -> None:
    """combine() on its own leaves out non-finite models and names the rest."""
    models = [
        ModelWeights({"w": np.array([1.0])}, num_samples=1, contributors=("a",)),
        ModelWeights({"w": np.array([np.nan])}, num_samples=1, contributors=("b",)),
    ]
    result = FedAvg(node="n").combine(models, None)
    assert result["w"].tolist() == [1.0]
    assert result.contributors == ("a",)


def test_metric_mean_single_value() -> None:
    """One (5, 0.5) pair averages to 0.5."""
    assert sample_weighted_mean([(5, 0.5)]) == 0.5


def test_metric_mean_weighted() -> None:
    """(1, 2.0), (2, 1.0), (1, 2.0) average to 1.5."""
    assert sample_weighted_mean([(1, 2.0), (2, 1.0), (1, 2.0)]) == 1.5


def test_metric_mean_zero_counts_raise() -> None:
    """Losses (0, 2.0) and (0, 3.0) raise instead of dividing by zero."""
    with pytest.raises(AggregationError, match="every sample count is zero"):
        sample_weighted_mean([(0, 2.0), (0, 3.0)])
