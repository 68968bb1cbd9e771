"""Tests of the Aggregator base class: collecting models, validation, parameters."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from p2pfl_core.aggregators.base import cast_like, validate_models
from p2pfl_core.aggregators.fedavg import FedAvg
from p2pfl_core.aggregators.parameters import (
    InvalidParameterError,
    UnknownParameterError,
)
from p2pfl_core.aggregators.trimmed_mean import TrimmedMean
from p2pfl_core.errors import ConfigError, ModelMismatchError, NoModelsError
from p2pfl_core.weights import ModelWeights


def model(value: list[float] | float, samples: int, *contributors: str) -> ModelWeights:
    """Return a one-layer float64 model."""
    return ModelWeights(
        {"w": np.array(value, dtype=np.float64)},
        num_samples=samples,
        contributors=contributors,
    )


def test_add_model_reports_new_and_duplicate() -> None:
    """A model is new once; the same contributor set again is ignored."""
    aggregator = FedAvg(node="a")
    assert aggregator.add_model(model([1.0], 1, "a"))
    assert not aggregator.add_model(model([9.0], 1, "a"))
    assert aggregator.contributors() == {"a"}


def test_empty_contributors_ignored_with_log(caplog: pytest.LogCaptureFixture) -> None:
    """A model with no contributors is ignored, logged, and leaves the lock free."""
    aggregator = FedAvg(node="a")
    with caplog.at_level(logging.WARNING):
        added = aggregator.add_model(model([1.0], 1))
    assert not added
    assert "no contributors" in caplog.text
    assert not aggregator._lock.locked()
    assert aggregator.models() == []


def test_aggregate_without_models_raises() -> None:
    """Aggregating nothing raises NoModelsError."""
    with pytest.raises(NoModelsError, match="no models"):
        FedAvg(node="a").aggregate()


def test_partial_aggregate_replaces_covered_models() -> None:
    """A model covering held contributors replaces them, so none counts twice."""
    aggregator = FedAvg(node="a")
    aggregator.add_model(model([1.0], 1, "a"))
    aggregator.add_model(model([3.0], 1, "b"))
    assert aggregator.add_model(model([2.0], 2, "a", "b", "c"))
    assert len(aggregator.models()) == 1
    assert aggregator.contributors() == {"a", "b", "c"}


def test_partial_overlap_ignored() -> None:
    """A model sharing only some contributors with a held one is ignored."""
    aggregator = FedAvg(node="a")
    aggregator.add_model(model([1.0], 1, "a", "b"))
    assert not aggregator.add_model(model([5.0], 1, "b", "c"))
    assert not aggregator.add_model(model([5.0], 1, "b"))
    assert aggregator.contributors() == {"a", "b"}


def test_missing_contributor_left_out_after_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With C silent, {A, B} aggregate to 2.5 and C is logged as missing."""
    aggregator = FedAvg(node="a")
    aggregator.set_expected(["A", "B", "C"])
    aggregator.add_model(model(1.0, 10, "A"))
    aggregator.add_model(model(3.0, 30, "B"))
    assert not aggregator.is_complete()
    assert aggregator.missing() == {"C"}
    with caplog.at_level(logging.WARNING):
        result = aggregator.aggregate()
    assert float(result["w"]) == 2.5
    assert result.contributors == ("A", "B")
    assert "without C" in caplog.text


def test_early_model_kept_by_set_expected() -> None:
    """A model that arrives before the round starts is kept and used."""
    aggregator = FedAvg(node="a")
    aggregator.add_model(model(3.0, 30, "B"))
    aggregator.set_expected(["A", "B", "C"])
    aggregator.add_model(model(1.0, 10, "A"))
    assert float(aggregator.aggregate()["w"]) == 2.5


def test_set_expected_drops_models_of_others() -> None:
    """Models whose contributors are not expected are dropped at round start."""
    aggregator = FedAvg(node="a")
    aggregator.add_model(model(3.0, 30, "Z"))
    aggregator.set_expected(["A"])
    assert aggregator.models() == []


def test_is_complete_when_all_expected_held() -> None:
    """The aggregator is complete once every expected contributor is held."""
    aggregator = FedAvg(node="a")
    aggregator.set_expected(["A", "B"])
    aggregator.add_model(model(1.0, 1, "A"))
    aggregator.add_model(model(1.0, 1, "B"))
    assert aggregator.is_complete()


def test_clear_forgets_models_and_expected() -> None:
    """clear() empties the models and the expected set."""
    aggregator = FedAvg(node="a")
    aggregator.set_expected(["A"])
    aggregator.add_model(model(1.0, 1, "A"))
    aggregator.clear()
    assert aggregator.models() == []
    assert aggregator.expected == frozenset()


def test_concurrent_adds_counted_once() -> None:
    """Eight threads adding overlapping models store each contributor once."""
    aggregator = FedAvg(node="a")
    barrier = threading.Barrier(8)

    def add_all() -> None:
        barrier.wait()
        for index in range(200):
            aggregator.add_model(model(float(index), 1, f"node-{index}"))

    threads = [threading.Thread(target=add_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(aggregator.models()) == 200
    assert float(aggregator.aggregate()["w"]) == 99.5


def test_shape_mismatch_names_node_and_layer() -> None:
    """Layers [1, 2, 3] and [10] raise an error naming both nodes and the layer."""
    aggregator = FedAvg(node="me")
    aggregator.add_model(model([1.0, 2.0, 3.0], 1, "A"))
    aggregator.add_model(model([10.0], 1, "B"))
    with pytest.raises(ModelMismatchError) as error:
        aggregator.aggregate()
    message = str(error.value)
    assert "node me" in message
    assert "'w'" in message
    assert "from B" in message
    assert "from A" in message


def test_layer_count_mismatch_raises() -> None:
    """A model with two layers and one with one layer do not aggregate."""
    two = ModelWeights(
        {"w": np.ones(2), "b": np.ones(1)}, num_samples=1, contributors=("A",)
    )
    one = ModelWeights({"w": np.ones(2)}, num_samples=1, contributors=("B",))
    with pytest.raises(ModelMismatchError, match="layers missing: b"):
        validate_models([two, one], node="me")


def test_dtype_mismatch_raises() -> None:
    """float32 and float64 versions of a layer do not aggregate."""
    first = ModelWeights(
        {"w": np.ones(2, np.float32)}, num_samples=1, contributors=("A",)
    )
    second = ModelWeights(
        {"w": np.ones(2, np.float64)}, num_samples=1, contributors=("B",)
    )
    with pytest.raises(ModelMismatchError, match="dtype"):
        validate_models([first, second])


def test_unknown_parameter_lists_accepted() -> None:
    """An unknown parameter raises a ConfigError and TypeError listing the choices."""
    with pytest.raises(UnknownParameterError) as error:
        TrimmedMean(node="a", betta=0.1)
    assert isinstance(error.value, ConfigError)
    assert isinstance(error.value, TypeError)
    assert str(error.value) == (
        "aggregator 'trimmed_mean': unknown parameter 'betta'; "
        "accepted parameters: beta, f"
    )


def test_fedavg_takes_no_parameters() -> None:
    """FedAvg rejects every parameter and lists no accepted ones."""
    with pytest.raises(UnknownParameterError, match="accepted parameters: none"):
        FedAvg(node="a", eta=0.1)


def test_invalid_parameter_is_config_and_value_error() -> None:
    """An out-of-range value raises a ConfigError that is also a ValueError."""
    with pytest.raises(InvalidParameterError) as error:
        TrimmedMean(beta=0.5)
    assert isinstance(error.value, ConfigError)
    assert isinstance(error.value, ValueError)
    assert "< 0.5" in str(error.value)


def test_cast_like_rounds_integers() -> None:
    """cast_like rounds to the nearest integer for an int64 layer."""
    result = cast_like(np.array([1.4, 2.6]), np.zeros(2, np.int64))
    assert result.dtype == np.int64
    assert result.tolist() == [1, 3]


def test_cast_like_keeps_zero_dim() -> None:
    """cast_like returns a 0-d ndarray for a 0-d layer."""
    result = cast_like(np.float64(2.5), np.array(1.0, np.float32))
    assert isinstance(result, np.ndarray)
    assert result.shape == ()
    assert result.dtype == np.float32
