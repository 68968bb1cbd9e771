"""Tests of Bulyan and of its mean of the values closest to a reference."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_krum.bulyan import Bulyan, mean_of_closest

from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights


def aggregate(aggregator: Bulyan, values: list[float]) -> ModelWeights:
    """Aggregate one scalar model per value, contributors "0", "1", ..."""
    for index, value in enumerate(values):
        aggregator.add_model(
            ModelWeights(
                {"s": np.array(value)}, num_samples=1, contributors=(str(index),)
            )
        )
    return aggregator.aggregate()


def test_closest_two_to_one() -> None:
    """The 2 values closest to 1.0 among 1.0, 2.0, 0.5 average to 0.75."""
    result = mean_of_closest(
        np.array(1.0), [np.array(1.0), np.array(2.0), np.array(0.5)], 2
    )
    assert float(result) == 0.75


def test_closest_per_layer() -> None:
    """Per coordinate: [1, 2] & [[0.05, 1.0]] for references [1, 2] & [[0, 1]]."""
    vectors = [np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([3.0, 5.0])]
    matrices = [np.array([[0.0, 1.0]]), np.array([[0.1, 1.0]]), np.array([[0.4, 7.0]])]
    np.testing.assert_allclose(
        mean_of_closest(np.array([1.0, 2.0]), vectors, 2),
        [1.0, 2.0],
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        mean_of_closest(np.array([[0.0, 1.0]]), matrices, 2),
        [[0.05, 1.0]],
        rtol=0,
        atol=1e-12,
    )


def test_closest_one_to_zero() -> None:
    """The value closest to 0 among 1, -0.5, 10 is -0.5."""
    result = mean_of_closest(
        np.array(0.0), [np.array(1.0), np.array(-0.5), np.array(10.0)], 1
    )
    assert float(result) == -0.5


def test_closest_all_is_mean() -> None:
    """beta = 3 of 3 candidates is the plain mean."""
    result = mean_of_closest(
        np.array(0.0), [np.array(1.0), np.array(-0.5), np.array(10.0)], 3
    )
    assert float(result) == pytest.approx(3.5, abs=1e-12)


def test_closest_beta_above_count() -> None:
    """beta larger than the number of candidates raises ValueError."""
    with pytest.raises(ValueError, match="got 4"):
        mean_of_closest(np.array(0.0), [np.array(1.0), np.array(2.0), np.array(3.0)], 4)


def test_closest_identical_candidates() -> None:
    """Identical candidates [5, 5] give [5, 5]."""
    result = mean_of_closest(np.array([0.0, 0.0]), [np.array([5.0, 5.0])] * 3, 2)
    assert result.tolist() == [5.0, 5.0]


def test_closest_two_of_four_to_reference() -> None:
    """Two closest of four candidates to [1,2] & [[1,2],[3,4]]: [1.05, 2.05] & [[0.95, 2.05], [3.05, 4.05]]."""
    candidates = [
        (np.array([1, 2]), np.array([[1, 2], [3, 4]])),
        (np.array([1.1, 2.1]), np.array([[1.1, 2.1], [3.1, 4.1]])),
        (np.array([1.2, 2.2]), np.array([[1.2, 2.2], [3.2, 4.2]])),
        (np.array([1.3, 2.3]), np.array([[0.9, 2.5], [3.4, 3.8]])),
    ]
    first = mean_of_closest(np.array([1, 2]), [c[0] for c in candidates], 2)
    second = mean_of_closest(np.array([[1, 2], [3, 4]]), [c[1] for c in candidates], 2)
    np.testing.assert_allclose(first, [1.05, 2.05], rtol=0, atol=1e-12)
    np.testing.assert_allclose(second, [[0.95, 2.05], [3.05, 4.05]], rtol=0, atol=1e-12)


def test_bulyan_drops_outliers() -> None:
    """f=1 over 0, 1, 2, 3, 4, 10, 1000 selects 0..4 and averages 1, 2, 3: 2.0."""
    result = aggregate(Bulyan(f=1), [0.0, 1.0, 2.0, 3.0, 4.0, 10.0, 1000.0])
    assert float(result["s"]) == 2.0
    assert result.contributors == tuple(str(i) for i in range(7))


def test_bulyan_f_zero_is_mean() -> None:
    """With f=0 every model is selected and averaged: 1, 2, 6 -> 3."""
    assert float(aggregate(Bulyan(f=0), [1.0, 2.0, 6.0])["s"]) == 3.0


def test_bulyan_needs_4f_plus_3() -> None:
    """f=1 with 6 models raises an error stating n >= 4f + 3."""
    with pytest.raises(
        AggregationError, match=r"needs n >= 4f \+ 3, i.e. at least 7 models, but got 6"
    ):
        aggregate(Bulyan(f=1), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
