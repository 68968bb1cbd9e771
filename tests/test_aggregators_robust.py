"""Tests of the coordinate-wise robust rules: FedMedian and TrimmedMean."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.aggregators.fedmedian import FedMedian
from p2pfl_core.aggregators.parameters import InvalidParameterError
from p2pfl_core.aggregators.trimmed_mean import TrimmedMean
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights


def aggregate(
    aggregator: Aggregator, layers: list[dict[str, object]], samples: list[int]
) -> ModelWeights:
    """Add one model per entry (contributors "1", "2", ...) and aggregate."""
    for index, (model_layers, count) in enumerate(zip(layers, samples, strict=True)):
        aggregator.add_model(
            ModelWeights(
                {k: np.asarray(v) for k, v in model_layers.items()},
                num_samples=count,
                contributors=(str(index + 1),),
            )
        )
    return aggregator.aggregate()


THREE = [
    {"w": [1.0, 0.2, 0.5, 1.0]},
    {"w": [0.2, 0.5, 1.0, 0.2]},
    {"w": [0.5, 1.0, 0.2, 0.5]},
]


def test_median_ignores_counts() -> None:
    """The median of three models with counts 5, 2, 9 is [0.5, 0.5, 0.5, 0.5]."""
    result = aggregate(FedMedian(), THREE, [5, 2, 9])
    assert result["w"].tolist() == [0.5, 0.5, 0.5, 0.5]


def test_median_zero_dim() -> None:
    """Scalars 1.0, 3.0, 2.0 have median 2.0 as a 0-d array."""
    result = aggregate(FedMedian(), [{"s": 1.0}, {"s": 3.0}, {"s": 2.0}], [1, 1, 1])
    assert result["s"].shape == ()
    assert float(result["s"]) == 2.0


def test_median_of_rows() -> None:
    """The median of [1,2,3], [4,5,6], [7,8,9] is [4, 5, 6]."""
    result = aggregate(
        FedMedian(),
        [{"w": [1.0, 2.0, 3.0]}, {"w": [4.0, 5.0, 6.0]}, {"w": [7.0, 8.0, 9.0]}],
        [1, 1, 1],
    )
    assert result["w"].tolist() == [4.0, 5.0, 6.0]


def test_median_even_count_means_middle_pair() -> None:
    """The median of 1, 2, 4, 10 is (2 + 4) / 2 = 3."""
    result = aggregate(
        FedMedian(), [{"s": 10.0}, {"s": 1.0}, {"s": 4.0}, {"s": 2.0}], [1] * 4
    )
    assert float(result["s"]) == 3.0


def test_median_excludes_non_finite() -> None:
    """[1,2], [3,4], [NaN, inf] give [2, 3], not [NaN, 4]."""
    result = aggregate(
        FedMedian(),
        [{"w": [1.0, 2.0]}, {"w": [3.0, 4.0]}, {"w": [np.nan, np.inf]}],
        [1, 1, 1],
    )
    assert result["w"].tolist() == [2.0, 3.0]
    assert result.contributors == ("1", "2")


def test_median_integer_layer_rounded() -> None:
    """The median of ints 1 and 2 is 1.5, rounded half to even: 2."""
    result = aggregate(FedMedian(), [{"n": np.array(1)}, {"n": np.array(2)}], [1, 1])
    assert result["n"].dtype == np.int64
    assert int(result["n"]) == 2


def test_median_across_sort_chunks() -> None:
    """A layer longer than one sort chunk takes the middle value everywhere."""
    size = (1 << 18) + 5
    base = np.arange(size, dtype=np.float32) % 100
    result = aggregate(
        FedMedian(), [{"w": base + 2}, {"w": base}, {"w": base + 1}], [1] * 3
    )
    np.testing.assert_array_equal(result["w"], base + 1)


def test_trimmed_mean_quarter_ignores_counts() -> None:
    """beta 0.25 over four models trims one per side and gives [0.5] * 4."""
    layers = [{"w": [0.5] * 4}, *THREE]
    result = aggregate(TrimmedMean(beta=0.25), layers, [1, 5, 2, 9])
    assert result["w"].tolist() == [0.5, 0.5, 0.5, 0.5]


def test_trimmed_mean_zero_dim() -> None:
    """beta 0.25 over scalars 0.5, 1, 2, 100 keeps 1 and 2: 1.5 with shape ()."""
    layers = [{"s": 0.5}, {"s": 1.0}, {"s": 2.0}, {"s": 100.0}]
    result = aggregate(TrimmedMean(beta=0.25), layers, [1, 5, 2, 9])
    assert result["s"].shape == ()
    assert float(result["s"]) == 1.5


def test_trimmed_mean_f_one_of_three() -> None:
    """f=1 over [1,2,3], [4,5,6], [7,8,9] keeps the middle row: [4, 5, 6]."""
    layers = [{"w": [1.0, 2.0, 3.0]}, {"w": [4.0, 5.0, 6.0]}, {"w": [7.0, 8.0, 9.0]}]
    result = aggregate(TrimmedMean(f=1), layers, [1, 1, 1])
    assert result["w"].tolist() == [4.0, 5.0, 6.0]


def test_trimmed_mean_beta_zero_is_mean() -> None:
    """beta 0 trims nothing: the unweighted mean of 1, 2, 6 is 3."""
    result = aggregate(
        TrimmedMean(beta=0.0), [{"s": 1.0}, {"s": 2.0}, {"s": 6.0}], [1, 5, 9]
    )
    assert float(result["s"]) == 3.0


def test_trimmed_mean_default_beta() -> None:
    """The default beta 0.2 trims one of five per side: 2, 3, 4 -> 3."""
    layers = [{"s": v} for v in (1.0, 2.0, 3.0, 4.0, 500.0)]
    assert float(aggregate(TrimmedMean(), layers, [1] * 5)["s"]) == 3.0


@pytest.mark.parametrize("beta", [-0.1, 0.5, 0.7, float("nan"), "0.2", True])
def test_trimmed_mean_invalid_beta(beta: object) -> None:
    """beta outside [0, 0.5) or not a number raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="'beta'"):
        TrimmedMean(beta=beta)  # type: ignore[arg-type]


def test_trimmed_mean_beta_and_f_exclusive() -> None:
    """Giving both beta and f raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="not both"):
        TrimmedMean(beta=0.1, f=1)


def test_trimmed_mean_negative_f() -> None:
    """f below 0 raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="'f'"):
        TrimmedMean(f=-1)


def test_trimmed_mean_f_too_large_for_models() -> None:
    """f=1 with two models would trim everything, so it raises."""
    with pytest.raises(AggregationError, match="needs more than 2f = 2 models, got 2"):
        aggregate(TrimmedMean(f=1), [{"s": 1.0}, {"s": 2.0}], [1, 1])
