"""Krum, Multi-Krum and Bulyan keep the aggregator contract and are registered."""

from __future__ import annotations

import pytest
from p2pfl_krum.bulyan import Bulyan
from p2pfl_krum.krum import Krum
from p2pfl_krum.multikrum import MultiKrum

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.manager import PluginManager
from p2pfl_core.testing.aggregator_contract import AggregatorContract


class TestKrum(AggregatorContract):
    """Krum (f=1, five models) keeps the contract."""

    model_count = 5

    def make_aggregator(self) -> Aggregator:
        return Krum(node="contract", f=1)


class TestMultiKrum(AggregatorContract):
    """Multi-Krum (f=1, m=3) keeps the contract."""

    model_count = 5

    def make_aggregator(self) -> Aggregator:
        return MultiKrum(node="contract", f=1, m=3)


class TestBulyan(AggregatorContract):
    """Bulyan (f=1, seven models) keeps the contract."""

    model_count = 7

    def make_aggregator(self) -> Aggregator:
        return Bulyan(node="contract", f=1)


@pytest.mark.parametrize("name", ["krum", "multikrum", "bulyan"])
def test_registered_through_entry_point(name: str) -> None:
    """The installed plugin offers each aggregator by name."""
    manager = PluginManager(env={})
    assert manager.find_plugin("p2pfl-krum") is not None
    aggregator = manager.load("aggregator", name)(node="n1", f=0)
    assert aggregator.name == name
