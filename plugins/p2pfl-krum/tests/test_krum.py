"""Tests of Krum, Multi-Krum and their distances, with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_krum._utils import krum_scores, pairwise_squared_distances
from p2pfl_krum.krum import Krum
from p2pfl_krum.multikrum import MultiKrum

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.aggregators.parameters import InvalidParameterError
from p2pfl_core.errors import AggregationError
from p2pfl_core.weights import ModelWeights

# a..d are honest, e is far away. Squared distances: a-b 1, a-c 4, a-d 18,
# b-c 5, b-d 13, c-d 10; e is about 20,000 from each.
POINTS = {
    "a": [1.0, 1.0],
    "b": [2.0, 1.0],
    "c": [1.0, 3.0],
    "d": [4.0, 4.0],
    "e": [101.0, -99.0],
}


def models(points: dict[str, list[float]] = POINTS) -> list[ModelWeights]:
    """Return one model per point, with the point's name as contributor."""
    return [
        ModelWeights({"w": np.array(value)}, num_samples=1, contributors=(name,))
        for name, value in points.items()
    ]


def aggregate(aggregator: Aggregator, inputs: list[ModelWeights]) -> ModelWeights:
    """Add ``inputs`` and aggregate."""
    for model in inputs:
        aggregator.add_model(model)
    return aggregator.aggregate()


def test_pairwise_distances() -> None:
    """The Gram form gives the squared distances listed above."""
    distances = pairwise_squared_distances(models())
    assert distances[0, 1] == pytest.approx(1.0, abs=1e-9)
    assert distances[1, 3] == pytest.approx(13.0, abs=1e-9)
    assert distances[2, 3] == pytest.approx(10.0, abs=1e-9)
    assert distances[0, 4] == pytest.approx(20000.0, abs=1e-9)
    assert distances[1, 4] == pytest.approx(19801.0, abs=1e-9)
    assert np.all(np.diag(distances) == 0.0)


def test_distances_precise_far_from_zero() -> None:
    """Models near 1e4 differing by 1e-3 keep their distance of 1e-6 per coordinate."""
    base = np.full(1000, 1e4)
    close = [
        ModelWeights({"w": base + offset}, contributors=(str(i),))
        for i, offset in enumerate((0.0, 1e-3))
    ]
    distances = pairwise_squared_distances(close)
    assert distances[0, 1] == pytest.approx(1000 * 1e-6, rel=1e-6)


def test_distances_span_layers_and_blocks() -> None:
    """Distances add up over layers and over column blocks of a long layer."""
    size = 70_001
    first = ModelWeights({"a": np.zeros(size, np.float32), "b": np.array(1.0)})
    second = ModelWeights({"a": np.full(size, 0.5, np.float32), "b": np.array(3.0)})
    distances = pairwise_squared_distances([first, second])
    assert distances[0, 1] == pytest.approx(size * 0.25 + 4.0, rel=1e-12)


def test_krum_scores() -> None:
    """With n=5, f=1 each score sums the 2 smallest distances: a 5, b 6, c 9, d 23."""
    scores = krum_scores(pairwise_squared_distances(models()), 2)
    np.testing.assert_allclose(
        scores, [5.0, 6.0, 9.0, 23.0, 39801.0], rtol=0, atol=1e-8
    )


def test_krum_selects_lowest_score() -> None:
    """Krum with f=1 returns model a = [1, 1]."""
    result = aggregate(Krum(f=1), models())
    assert result["w"].tolist() == [1.0, 1.0]
    assert result.contributors == ("a", "b", "c", "d", "e")


def test_krum_ignores_sample_counts() -> None:
    """A far model claiming many samples is still not chosen."""
    inputs = models()
    inputs[-1] = inputs[-1].with_metadata(num_samples=10_000)
    assert aggregate(Krum(f=1), inputs)["w"].tolist() == [1.0, 1.0]


def test_krum_needs_more_than_2f_plus_2() -> None:
    """f=1 with 4 models raises an error stating n > 2f + 2."""
    four = dict(list(POINTS.items())[:4])
    with pytest.raises(
        AggregationError, match=r"needs n > 2f \+ 2, i.e. at least 5 models, but got 4"
    ):
        aggregate(Krum(f=1), models(four))


def test_krum_rejects_negative_f() -> None:
    """A negative f raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="'f'"):
        Krum(f=-1)


def test_multikrum_averages_best_m() -> None:
    """m=3 averages a, b, c: [4/3, 5/3]."""
    result = aggregate(MultiKrum(f=1, m=3), models())
    np.testing.assert_allclose(result["w"], [4 / 3, 5 / 3], rtol=0, atol=1e-12)


def test_multikrum_default_m_is_n_minus_f() -> None:
    """Without m, the n - f = 4 best (a, b, c, d) are averaged: [2, 2.25]."""
    result = aggregate(MultiKrum(f=1), models())
    assert result["w"].tolist() == [2.0, 2.25]


def test_multikrum_m_one_is_krum() -> None:
    """m=1 gives Krum's choice."""
    assert aggregate(MultiKrum(f=1, m=1), models())["w"].tolist() == [1.0, 1.0]


def test_multikrum_m_larger_than_n() -> None:
    """m above the number of models raises an error naming m."""
    with pytest.raises(AggregationError, match="m=6"):
        aggregate(MultiKrum(f=1, m=6), models())


def test_multikrum_rejects_zero_m() -> None:
    """m below 1 raises InvalidParameterError."""
    with pytest.raises(InvalidParameterError, match="'m'"):
        MultiKrum(m=0)
