"""Stop and restart on the same port, after a clean stop and after a crash."""

from __future__ import annotations

import threading

import pytest
from grpc_helpers import NodeFactory
from p2pfl_core.communication.message import Message
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait, wait_until

from p2pfl_grpc.protocol import GrpcProtocol


def _exchange_both_ways(first: GrpcProtocol, second: GrpcProtocol) -> None:
    inbox_first, inbox_second = Mailbox(first, ["ping"]), Mailbox(second, ["ping"])
    assert first.send(second.address, Message("ping", first.address))
    assert second.send(first.address, Message("ping", second.address))
    assert inbox_second.wait_for("ping", sender=first.address)
    assert inbox_first.wait_for("ping", sender=second.address)


def _threads_of(address: str) -> list[str]:
    return [t.name for t in threading.enumerate() if address in t.name]


def test_restart_after_stop_rejoins(make_node: NodeFactory) -> None:
    """B stops, B' binds B's port at once, connects to A, and both exchange messages."""
    a, b = make_node(), make_node()
    assert connect_and_wait(a, b)
    port_b = b.address
    b.stop()
    assert _threads_of(port_b) == []
    b.stop()
    b_again = make_node(port_b)
    assert b_again.address == port_b
    assert connect_and_wait(b_again, a)
    assert a.neighbors() == [port_b]
    _exchange_both_ways(a, b_again)


def test_restart_after_crash_rejoins(make_node: NodeFactory) -> None:
    """B crashes; once A evicted it, B' on the same port rejoins and talks both ways."""
    a, b = make_node(), make_node()
    assert connect_and_wait(a, b)
    evicted = threading.Event()
    a.on_neighbor_lost(lambda address: evicted.set())
    port_b = b.address
    b.stop(notify=False)
    assert evicted.wait(5.0)
    b_again = make_node(port_b)
    assert connect_and_wait(b_again, a)
    assert a.neighbors() == [port_b]
    _exchange_both_ways(a, b_again)


def test_restart_before_eviction_rejoins(make_node: NodeFactory) -> None:
    """B' that connects before A noticed B's crash replaces B's entry."""
    a, b = make_node(), make_node()
    assert connect_and_wait(a, b)
    port_b = b.address
    b.stop(notify=False)
    b_again = make_node(port_b)
    assert b_again.connect(a.address)
    assert wait_until(lambda: a.neighbors() == [port_b])
    _exchange_both_ways(a, b_again)
    assert a.neighbors() == [port_b]


def test_same_object_restarts(make_node: NodeFactory) -> None:
    """stop() then start() on one node serves again on the same address."""
    a, b = make_node(), make_node()
    address = b.address
    b.stop()
    b.start()
    assert b.address == address
    assert connect_and_wait(a, b)
    _exchange_both_ways(a, b)


def test_second_node_on_busy_port_fails(make_node: NodeFactory) -> None:
    """A second node cannot bind the port of a running node."""
    node = make_node()
    with pytest.raises(OSError, match="cannot listen on"):
        GrpcProtocol(node.address)


def test_stop_without_start_frees_port(make_node: NodeFactory) -> None:
    """A node that was created but never started frees its port on stop()."""
    idle = make_node(start=False)
    address = idle.address
    idle.stop()
    again = make_node(address)
    assert again.address == address
