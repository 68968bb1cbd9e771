"""Tests of the memory transport and the flooding, heartbeats and dispatch it shares."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from p2pfl_core.communication.memory import MemoryNetwork, MemoryProtocol
from p2pfl_core.communication.message import Message
from p2pfl_core.communication.protocol import CommunicationProtocol, ProtocolSettings

QUIET = ProtocolSettings(heartbeat_period=30.0, heartbeat_timeout=60.0, ttl=16)


class Deliveries:
    """Counts application deliveries of one command per (receiver, origin)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def attach(self, protocol: CommunicationProtocol, cmd: str = "note") -> None:
        def handler(message: Message, sender: str) -> None:
            with self.lock:
                self.counts[(protocol.address, message.origin)] += 1

        protocol.add_handler(cmd, handler)


def settle(protocols: list[MemoryProtocol]) -> None:
    """Wait until no message is in flight anywhere."""
    previous = -1
    while True:
        for protocol in protocols:
            assert protocol.wait_idle(5.0)
        total = sum(sum(p.messages_received.values()) for p in protocols)
        if total == previous:
            return
        previous = total


@pytest.fixture
def ring6() -> Iterator[list[MemoryProtocol]]:
    """Six started memory protocols connected in a ring 0-1-2-3-4-5-0."""
    network = MemoryNetwork()
    protocols = [MemoryProtocol(f"n{i}", QUIET, network=network) for i in range(6)]
    for protocol in protocols:
        protocol.start()
    for i in range(6):
        assert protocols[i].connect(f"n{(i + 1) % 6}")
    settle(protocols)
    yield protocols
    for protocol in protocols:
        protocol.stop()


def test_connect_makes_both_ends_neighbors(ring6: list[MemoryProtocol]) -> None:
    """After n0 connects to n1 and n5 to n0, n0 lists both."""
    assert ring6[0].neighbors() == ["n1", "n5"]
    assert ring6[3].neighbors() == ["n2", "n4"]


def test_send_reaches_one_neighbor() -> None:
    """A direct message arrives once, with the sender's address."""
    network = MemoryNetwork()
    a, b = (
        MemoryProtocol("a", QUIET, network=network),
        MemoryProtocol("b", QUIET, network=network),
    )
    got = threading.Event()
    seen: list[tuple[str, str, int]] = []

    def handler(message: Message, sender: str) -> None:
        seen.append((sender, message.cmd, message.round))
        got.set()

    b.add_handler("ping", handler)
    a.start()
    b.start()
    assert a.connect("b")
    assert a.send("b", Message("ping", "a", 3))
    assert got.wait(5)
    assert seen == [("a", "ping", 3)]
    a.stop()
    b.stop()


def test_flood_with_ttl_two_stops_after_two_hops(ring6: list[MemoryProtocol]) -> None:
    """TTL 2 on a ring of 6: each origin reaches the 4 nodes within 2 hops, never the opposite one."""
    deliveries = Deliveries()
    for protocol in ring6:
        deliveries.attach(protocol)
    for protocol in ring6:
        protocol.broadcast(Message("note", protocol.address, ttl=2))
    settle(ring6)
    for i in range(6):
        reached = sorted(r for (r, o), n in deliveries.counts.items() if o == f"n{i}")
        expected = sorted(f"n{(i + d) % 6}" for d in (1, 2, 4, 5))
        assert reached == expected
    assert set(deliveries.counts.values()) == {1}
    assert sum(deliveries.counts.values()) == 24


def test_flood_with_ttl_ten_reaches_everyone_once(ring6: list[MemoryProtocol]) -> None:
    """TTL 10: 30 deliveries in total, each exactly once, and the network goes quiet."""
    deliveries = Deliveries()
    for protocol in ring6:
        deliveries.attach(protocol)
    for protocol in ring6:
        protocol.broadcast(Message("note", protocol.address, ttl=10))
    settle(ring6)
    assert sum(deliveries.counts.values()) == 30
    assert set(deliveries.counts.values()) == {1}
    assert all((f"n{i}", f"n{i}") not in deliveries.counts for i in range(6))
    sent = sum(sum(p.messages_sent.values()) for p in ring6)
    settle(ring6)
    assert sum(sum(p.messages_sent.values()) for p in ring6) == sent


def test_duplicate_delivery_is_dropped_before_the_handler(
    ring6: list[MemoryProtocol],
) -> None:
    """The same flooded bytes delivered twice reach the handler once."""
    deliveries = Deliveries()
    deliveries.attach(ring6[1])
    data = Message("note", "n0", ttl=1).encode()
    ring6[1].deliver("n0", data)
    ring6[1].deliver("n0", data)
    settle(ring6)
    assert deliveries.counts[("n1", "n0")] == 1
    assert ring6[1].duplicates_dropped == 1


def test_malformed_bytes_are_dropped_and_node_keeps_serving(
    ring6: list[MemoryProtocol],
) -> None:
    """Garbage is counted and dropped; the next valid message is handled."""
    deliveries = Deliveries()
    deliveries.attach(ring6[1])
    ring6[1].deliver("n0", b"\x00garbage")
    ring6[1].deliver("n0", Message("note", "n0").encode()[:-3] + b"{{{")
    ring6[1].deliver("n0", Message("note", "n0").encode())
    settle(ring6)
    assert ring6[1].invalid_dropped == 2
    assert deliveries.counts[("n1", "n0")] == 1


def test_message_from_unknown_peer_is_dropped(ring6: list[MemoryProtocol]) -> None:
    """Only neighbours (or a connect) are heard."""
    deliveries = Deliveries()
    deliveries.attach(ring6[1])
    ring6[1].deliver("stranger", Message("note", "stranger").encode())
    settle(ring6)
    assert deliveries.counts[("n1", "stranger")] == 0
    assert ring6[1].invalid_dropped == 1


def test_stop_is_idempotent_and_tells_neighbors(ring6: list[MemoryProtocol]) -> None:
    """A stopped node leaves its neighbours' lists; a second stop does nothing."""
    ring6[0].stop()
    ring6[0].stop()
    settle(ring6[1:])
    assert "n0" not in ring6[1].neighbors()
    assert "n0" not in ring6[5].neighbors()
    assert not ring6[0].send("n1", Message("note", "n0"))


def test_silent_neighbor_is_evicted_after_timeout() -> None:
    """A crashed peer (no disconnect) is evicted between timeout and timeout + period."""
    network = MemoryNetwork()
    fast = ProtocolSettings(heartbeat_period=0.05, heartbeat_timeout=0.3)
    a, b = (
        MemoryProtocol("a", fast, network=network),
        MemoryProtocol("b", fast, network=network),
    )
    lost = threading.Event()
    a.on_neighbor_lost(lambda address: lost.set())
    a.start()
    b.start()
    assert a.connect("b")
    assert b.wait_idle(5)
    crashed_at = time.monotonic()
    b._stopping.set()  # only b's heartbeat sender stops; the link stays open
    assert lost.wait(5)
    elapsed = time.monotonic() - crashed_at
    assert elapsed >= 0.3
    assert a.neighbors() == []
    a.stop()
    b.stop()


def test_busy_neighbor_is_not_evicted() -> None:
    """A node busy in pure Python for 2 s keeps its neighbour through heartbeats."""
    network = MemoryNetwork()
    settings = ProtocolSettings(heartbeat_period=0.05, heartbeat_timeout=1.0)
    a, b = (
        MemoryProtocol("a", settings, network=network),
        MemoryProtocol("b", settings, network=network),
    )
    evictions: list[str] = []
    a.on_neighbor_lost(evictions.append)
    b.on_neighbor_lost(evictions.append)
    a.start()
    b.start()
    assert a.connect("b")

    def busy() -> None:
        deadline = time.monotonic() + 2.0
        x = 0
        while time.monotonic() < deadline:
            x += 1

    worker = threading.Thread(target=busy)
    worker.start()
    worker.join()
    assert evictions == []
    assert a.neighbors() == ["b"]
    a.stop()
    b.stop()


def test_settings_are_checked() -> None:
    """A heartbeat period not below the timeout, or a bad TTL, is refused."""
    with pytest.raises(ValueError, match="heartbeat_period"):
        ProtocolSettings(heartbeat_period=5, heartbeat_timeout=5)
    with pytest.raises(ValueError, match="ttl"):
        ProtocolSettings(ttl=0)
