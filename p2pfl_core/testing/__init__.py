"""Test helpers for p2pfl and its plugins: contract suites and pytest fixtures.

A plugin's tests subclass a contract and provide a factory; every ``test_*``
method of the contract then runs against the plugin's component::

    from p2pfl_core.testing import AggregatorContract

    class TestKrum(AggregatorContract):
        def make_aggregator(self):
            return Krum(f=1)

The contracts are imported on first use, so loading this package (which the
pytest plugin does in every pytest run) imports neither numpy nor pytest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AggregatorContract": "p2pfl_core.testing.aggregator_contract",
    "CompressorContract": "p2pfl_core.testing.compressor_contract",
    "LearnerContract": "p2pfl_core.testing.learner_contract",
    "Mailbox": "p2pfl_core.testing.waiting",
    "ProtocolContract": "p2pfl_core.testing.protocol_contract",
    "connect_and_wait": "p2pfl_core.testing.waiting",
    "digits_node_data": "p2pfl_core.testing.learner_contract",
    "wait_until": "p2pfl_core.testing.waiting",
}
"""Public name to the module that defines it, imported on first access."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
