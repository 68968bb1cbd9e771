"""Aggregation rules. Each algorithm lives in its own module."""

from p2pfl_core.aggregators.base import Aggregator

__all__ = ["Aggregator"]
