"""Tests of the pytest fixtures that p2pfl-core ships to plugin authors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from p2pfl_core.communication.memory import MemoryNetwork, MemoryProtocol
from p2pfl_core.communication.message import Message
from p2pfl_core.manager import PluginManager, get_plugin_manager
from p2pfl_core.testing.waiting import Mailbox

Factory = Callable[..., list[MemoryProtocol]]


def test_plugin_manager_has_core_only(plugin_manager: PluginManager) -> None:
    """plugin_manager contains core's built-ins only and is the process default."""
    assert list(plugin_manager.plugins) == ["p2pfl-core"]
    assert get_plugin_manager() is plugin_manager


def test_memory_network_is_fresh(memory_network: MemoryNetwork) -> None:
    """memory_network starts empty, so addresses start at node-1."""
    assert memory_network.new_address() == "node-1"


def test_memory_nodes_full_mesh(memory_nodes: Factory) -> None:
    """Three nodes in a full mesh each list the other two."""
    nodes = memory_nodes(3)
    addresses = [node.address for node in nodes]
    assert addresses == ["node-1", "node-2", "node-3"]
    for node in nodes:
        assert node.neighbors() == sorted(set(addresses) - {node.address})


def test_memory_nodes_line(memory_nodes: Factory) -> None:
    """Three nodes on a line: the middle one has two neighbours, the ends one."""
    first, middle, last = memory_nodes(3, "line")
    assert middle.neighbors() == [first.address, last.address]
    assert first.neighbors() == [middle.address]
    assert last.neighbors() == [middle.address]


def test_memory_nodes_explicit_edges(memory_nodes: Factory) -> None:
    """Edges given as index pairs connect exactly those nodes."""
    nodes = memory_nodes(3, [(0, 2)])
    assert nodes[0].neighbors() == [nodes[2].address]
    assert nodes[1].neighbors() == []


def test_memory_nodes_deliver(memory_nodes: Factory) -> None:
    """A flood from one end of a line reaches the other end."""
    first, _, last = memory_nodes(3, "line")
    inbox = Mailbox(last, ["hello"])
    first.broadcast(Message("hello", first.address))
    assert inbox.wait_for("hello")


def test_memory_nodes_unknown_topology(memory_nodes: Factory) -> None:
    """An unknown topology name lists the accepted ones."""
    with pytest.raises(ValueError, match="unknown topology 'mesh'; choose one of"):
        memory_nodes(2, "mesh")
