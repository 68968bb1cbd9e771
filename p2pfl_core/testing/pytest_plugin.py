"""pytest fixtures for p2pfl and its plugins, loaded by the ``pytest11`` entry point.

pytest imports this module in every run of every project installed next to
p2pfl-core. It therefore imports only the standard library and pytest at load
time, and each fixture imports what it needs when a test requests it.

Fixtures:
    plugin_manager: A fresh :class:`~p2pfl_core.manager.PluginManager` with
        only core's built-ins (entry points are not loaded), installed as the
        process-wide manager for the test.
    memory_network: A fresh :class:`~p2pfl_core.communication.memory.MemoryNetwork`.
    memory_nodes: A factory ``memory_nodes(count, topology="full")`` that
        returns started, connected memory protocols, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from p2pfl_core.communication.memory import MemoryNetwork, MemoryProtocol
    from p2pfl_core.manager import PluginManager

CONNECT_TIMEOUT = 5.0


@pytest.fixture
def plugin_manager() -> Iterator[PluginManager]:
    """Provide a plugin manager with core's built-ins only, as the process default."""
    from p2pfl_core import manager as manager_module

    previous = manager_module.peek_plugin_manager()
    fresh = manager_module.PluginManager(env={}, autoload=False)
    manager_module.set_plugin_manager(fresh)
    yield fresh
    manager_module.set_plugin_manager(previous)


@pytest.fixture
def memory_network() -> MemoryNetwork:
    """Provide an empty in-process network, so tests never share addresses."""
    from p2pfl_core.communication.memory import MemoryNetwork

    return MemoryNetwork()


@pytest.fixture
def memory_nodes(
    memory_network: MemoryNetwork,
) -> Iterator[Callable[..., list[MemoryProtocol]]]:
    """Provide a factory of started memory protocols connected by a topology.

    ``memory_nodes(count, topology="full", **protocol_options)`` connects the
    protocols by a topology of :mod:`p2pfl_core.topology` (``full``, ``ring``,
    ``line``, ``star``) or by an explicit list of index pairs, and waits until
    both ends of every edge list each other. The protocols are stopped after
    the test.
    """
    from p2pfl_core.communication.memory import MemoryProtocol
    from p2pfl_core.testing.waiting import connect_and_wait

    created: list[MemoryProtocol] = []

    def factory(
        count: int, topology: str | list[tuple[int, int]] = "full", **options: Any
    ) -> list[MemoryProtocol]:
        nodes = [
            MemoryProtocol(network=memory_network, **options) for _ in range(count)
        ]
        created.extend(nodes)
        for node in nodes:
            node.start()
        for first, second in _edges(topology, count):
            if not connect_and_wait(nodes[first], nodes[second], CONNECT_TIMEOUT):
                raise RuntimeError(
                    f"memory nodes {first} and {second} did not connect within "
                    f"{CONNECT_TIMEOUT} s"
                )
        return nodes

    yield factory
    for node in created:
        node.stop()


def _edges(topology: str | list[tuple[int, int]], count: int) -> list[tuple[int, int]]:
    if not isinstance(topology, str):
        return list(topology)
    from p2pfl_core import topology as topologies

    if topology not in ("full", "ring", "line", "star"):
        raise ValueError(
            f"unknown topology {topology!r}; choose one of: full, ring, line, star, "
            "or pass a list of index pairs"
        )
    edges: list[tuple[int, int]] = getattr(topologies, topology)(count)
    return edges


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker that the contract's federation tests use."""
    config.addinivalue_line("markers", "slow: runs a whole federation for seconds")
