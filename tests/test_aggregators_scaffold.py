"""Tests of the SCAFFOLD server update and its control variates."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.scaffold import (
    CONTROL_PREFIX,
    DELTA_CONTROL_PREFIX,
    Scaffold,
)
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights

CONTROL = CONTROL_PREFIX + "w"
DELTA = DELTA_CONTROL_PREFIX + "w"


def trained(
    value: float, delta: float, samples: int, *contributors: str
) -> ModelWeights:
    """Return a trained model [value, value] carrying a control delta [delta, delta]."""
    return ModelWeights(
        {"w": np.full(2, value)},
        num_samples=samples,
        contributors=contributors,
        extra={DELTA: np.full(2, delta), CONTROL: np.zeros(2)},
    )


ORIGIN = ModelWeights({"w": np.zeros(2)}, extra={CONTROL: np.zeros(2)})


def test_server_step_and_control_update() -> None:
    """dy [1,1] n=10 and [2,2] n=20 with eta_g 0.1 give x = 0.1666667 and c = 1.5."""
    aggregator = Scaffold(learning_rate=0.1)
    aggregator.add_model(trained(1.0, 1.0, 10, "a"))
    aggregator.add_model(trained(2.0, 2.0, 20, "b"))
    result = aggregator.aggregate(ORIGIN)
    np.testing.assert_allclose(result["w"], [0.1666667, 0.1666667], rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.extra[CONTROL], [1.5, 1.5], rtol=0, atol=1e-12)
    assert DELTA not in result.extra


def test_control_adds_to_previous_control() -> None:
    """A round-start c of 0.5 plus a mean delta of 1.5 gives c = 2.0."""
    aggregator = Scaffold()
    aggregator.add_model(trained(1.0, 1.0, 10, "a"))
    aggregator.add_model(trained(2.0, 2.0, 20, "b"))
    start = ModelWeights({"w": np.zeros(2)}, extra={CONTROL: np.full(2, 0.5)})
    result = aggregator.aggregate(start)
    assert result.extra[CONTROL].tolist() == [2.0, 2.0]


def test_partial_aggregates_compose_exactly() -> None:
    """{a, b} combined without previous, then with c, equals a, b, c at once."""
    partial = Scaffold()
    partial.add_model(trained(1.0, 1.0, 10, "a"))
    partial.add_model(trained(2.0, 4.0, 20, "b"))
    merged = partial.aggregate(None)
    final = Scaffold()
    final.add_model(merged)
    final.add_model(trained(4.0, 7.0, 10, "c"))
    direct = Scaffold()
    for model in (
        trained(1.0, 1.0, 10, "a"),
        trained(2.0, 4.0, 20, "b"),
        trained(4.0, 7.0, 10, "c"),
    ):
        direct.add_model(model)
    via_partial = final.aggregate(ORIGIN)
    at_once = direct.aggregate(ORIGIN)
    np.testing.assert_allclose(via_partial["w"], [2.25, 2.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(at_once["w"], [2.25, 2.25], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        via_partial.extra[CONTROL], [4.0, 4.0], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(at_once.extra[CONTROL], [4.0, 4.0], rtol=0, atol=1e-12)


def test_missing_control_delta_raises() -> None:
    """A model without control deltas raises an error naming its node."""
    aggregator = Scaffold(node="me")
    aggregator.add_model(trained(1.0, 1.0, 10, "a"))
    aggregator.add_model(
        ModelWeights({"w": np.ones(2)}, num_samples=1, contributors=("b",))
    )
    with pytest.raises(ModelMismatchError, match="from b carries no SCAFFOLD control"):
        aggregator.aggregate(ORIGIN)


def test_non_finite_control_delta_excluded() -> None:
    """A model whose control delta contains NaN is left out entirely."""
    aggregator = Scaffold()
    aggregator.add_model(trained(1.0, 1.0, 10, "a"))
    aggregator.add_model(trained(2.0, np.nan, 20, "b"))
    result = aggregator.aggregate(ORIGIN)
    assert result["w"].tolist() == [1.0, 1.0]
    assert result.extra[CONTROL].tolist() == [1.0, 1.0]
    assert result.contributors == ("a",)


def test_order_independent() -> None:
    """Models added in reverse order give the same bytes, controls included."""
    models = [trained(float(i), float(i) / 3, i + 1, f"n{i}") for i in range(5)]
    results = []
    for order in (models, models[::-1]):
        aggregator = Scaffold(learning_rate=0.7)
        for model in order:
            aggregator.add_model(model)
        results.append(aggregator.aggregate(ORIGIN))
    assert results[0]["w"].tobytes() == results[1]["w"].tobytes()
    assert results[0].extra[CONTROL].tobytes() == results[1].extra[CONTROL].tobytes()


def test_controls_keep_layer_dtype() -> None:
    """Control variates travel in the layer's dtype (float32 here)."""
    aggregator = Scaffold()
    aggregator.add_model(
        ModelWeights(
            {"w": np.ones(2, np.float32)},
            num_samples=1,
            contributors=("a",),
            extra={DELTA: np.ones(2, np.float32)},
        )
    )
    result = aggregator.aggregate(ModelWeights({"w": np.zeros(2, np.float32)}))
    assert result.extra[CONTROL].dtype == np.float32
