"""Every core aggregator keeps the aggregator contract and is registered."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.aggregators.fedadagrad import FedAdagrad
from p2pfl_core.aggregators.fedadam import FedAdam
from p2pfl_core.aggregators.fedavg import FedAvg
from p2pfl_core.aggregators.fedavgm import FedAvgM
from p2pfl_core.aggregators.fedmedian import FedMedian
from p2pfl_core.aggregators.fedyogi import FedYogi
from p2pfl_core.aggregators.trimmed_mean import TrimmedMean
from p2pfl_core.manager import PluginManager
from p2pfl_core.testing.aggregator_contract import AggregatorContract, contract_models
from p2pfl_core.weights import ModelWeights


class TestFedAvg(AggregatorContract):
    """FedAvg keeps the contract."""

    def make_aggregator(self) -> Aggregator:
        return FedAvg(node="contract")


class TestFedMedian(AggregatorContract):
    """FedMedian keeps the contract."""

    def make_aggregator(self) -> Aggregator:
        return FedMedian(node="contract")


class TestTrimmedMean(AggregatorContract):
    """TrimmedMean keeps the contract."""

    def make_aggregator(self) -> Aggregator:
        return TrimmedMean(node="contract", beta=0.2)


class TestFedAvgM(AggregatorContract):
    """FedAvgM keeps the contract (without a round-start model)."""

    def make_aggregator(self) -> Aggregator:
        return FedAvgM(node="contract")


class TestFedAdam(AggregatorContract):
    """FedAdam keeps the contract (without a round-start model)."""

    def make_aggregator(self) -> Aggregator:
        return FedAdam(node="contract")


class TestFedYogi(AggregatorContract):
    """FedYogi keeps the contract (without a round-start model)."""

    def make_aggregator(self) -> Aggregator:
        return FedYogi(node="contract")


class TestFedAdagrad(AggregatorContract):
    """FedAdagrad keeps the contract (without a round-start model)."""

    def make_aggregator(self) -> Aggregator:
        return FedAdagrad(node="contract")


SERVER_OPTIMIZERS = [FedAvgM, FedAdam, FedYogi, FedAdagrad]


def step_all(aggregator: Aggregator, models: list[ModelWeights]) -> ModelWeights:
    """Add ``models`` and aggregate from a round-start model of zeros."""
    for model in models:
        aggregator.add_model(model)
    previous = ModelWeights({k: np.zeros_like(v) for k, v in models[0].layers.items()})
    return aggregator.aggregate(previous)


@pytest.mark.parametrize("factory", SERVER_OPTIMIZERS)
def test_server_step_order_independent(factory: type[Aggregator]) -> None:
    """With a round-start model, shuffled input still gives identical bytes."""
    models = contract_models(6)
    forward = step_all(factory(node="n"), models)
    backward = step_all(factory(node="n"), models[::-1])
    for name in forward.layers:
        assert forward[name].tobytes() == backward[name].tobytes(), name


@pytest.mark.parametrize("factory", SERVER_OPTIMIZERS)
def test_server_step_excludes_non_finite(factory: type[Aggregator]) -> None:
    """With a round-start model, a NaN model is excluded like without one."""
    models = contract_models(4)
    poisoned = contract_models(5)[-1]
    poisoned.layers["dense.weight"][1, 1] = np.nan
    clean = step_all(factory(node="n"), models)
    result = step_all(factory(node="n"), [*models, poisoned])
    assert poisoned.contributors[0] not in result.contributors
    for name in clean.layers:
        assert result[name].tobytes() == clean[name].tobytes(), name


@pytest.mark.parametrize(
    "name",
    [
        "fedavg",
        "fedmedian",
        "trimmed_mean",
        "fedavgm",
        "fedadam",
        "fedyogi",
        "fedadagrad",
        "scaffold",
    ],
)
def test_core_aggregator_registered(name: str) -> None:
    """Each core aggregator loads by name and takes the node id."""
    manager = PluginManager(env={}, autoload=False)
    factory = manager.load("aggregator", name)
    aggregator = factory(node="n1")
    assert aggregator.name == name
    assert aggregator.node == "n1"
