"""Aggregation rules, one algorithm per module.

Rules are looked up by name through the plugin registry (``fedavg``,
``fedmedian``, ``trimmed_mean``, ``fedavgm``, ``fedadam``, ``fedyogi``,
``fedadagrad``, ``scaffold``). This package exports only the shared
interface, so importing it stays cheap.
"""

from p2pfl_core.aggregators.base import Aggregator, cast_like, validate_models
from p2pfl_core.aggregators.fedavg import FedAvg
from p2pfl_core.aggregators.parameters import (
    InvalidParameterError,
    UnknownParameterError,
)

__all__ = [
    "Aggregator",
    "FedAvg",
    "InvalidParameterError",
    "UnknownParameterError",
    "cast_like",
    "validate_models",
]
