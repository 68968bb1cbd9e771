"""The contract every transport keeps, as a test class to subclass.

Example::

    class TestGrpcProtocol(ProtocolContract):
        def make_protocol(self) -> GrpcProtocol:
            return GrpcProtocol("127.0.0.1:0", self.settings)

The tests assume that messages from one protocol to another arrive in the
order they were sent, as over one TCP connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from p2pfl_core.communication.message import Message
from p2pfl_core.communication.protocol import CommunicationProtocol, ProtocolSettings
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait, wait_until

TIMEOUT = 5.0
PING, FLOOD, BARRIER = "contract_ping", "contract_flood", "contract_barrier"


class ProtocolContract:
    """Tests that every transport must pass.

    Subclasses implement :meth:`make_protocol`, returning a new protocol
    that is not started, with a fresh address, built with
    :attr:`settings` (slow heartbeats, so no neighbour is evicted while a
    test runs). Each test starts the protocols it needs and stops them all
    at the end. Set :attr:`unreachable_address` to an address where no node
    runs to test failed connections.
    """

    settings = ProtocolSettings(heartbeat_period=30.0, heartbeat_timeout=60.0, ttl=8)
    unreachable_address: str | None = None

    def make_protocol(self) -> CommunicationProtocol:
        """Return a new, stopped protocol with a fresh address."""
        raise NotImplementedError("subclasses of ProtocolContract implement this")

    @pytest.fixture(autouse=True)
    def _stop_protocols(self) -> Iterator[None]:
        self._created: list[CommunicationProtocol] = []
        yield
        for protocol in self._created:
            protocol.stop()

    def started(self, count: int) -> list[CommunicationProtocol]:
        """Return ``count`` new started protocols, stopped after the test."""
        protocols = [self.make_protocol() for _ in range(count)]
        self._created.extend(protocols)
        for protocol in protocols:
            protocol.start()
        return protocols

    def linked(
        self, edges: list[tuple[int, int]], count: int
    ) -> list[CommunicationProtocol]:
        """Return ``count`` started protocols connected along ``edges``."""
        protocols = self.started(count)
        for first, second in edges:
            assert connect_and_wait(protocols[first], protocols[second], TIMEOUT)
        return protocols

    def test_connect_makes_both_neighbors(self) -> None:
        """After connect, each end lists the other as its only neighbour."""
        first, second = self.started(2)
        assert first.connect(second.address)
        assert first.neighbors() == [second.address]
        assert wait_until(lambda: second.neighbors() == [first.address], TIMEOUT)

    def test_connect_to_unreachable_address_fails(self) -> None:
        """connect returns False and adds no neighbour when no node listens."""
        if self.unreachable_address is None:
            pytest.skip("set unreachable_address to run this test")
        (protocol,) = self.started(1)
        assert not protocol.connect(self.unreachable_address)
        assert protocol.neighbors() == []

    def test_send_reaches_neighbor(self) -> None:
        """A sent message arrives once, with its sender and arguments."""
        first, second = self.linked([(0, 1)], 2)
        inbox = Mailbox(second, [PING])
        assert first.send(second.address, Message(PING, first.address, args={"n": 1}))
        assert inbox.wait_for(PING, timeout=TIMEOUT)
        _, sender, message = inbox.received[0]
        assert sender == first.address
        assert message.args == {"n": 1}

    def test_broadcast_reaches_two_hop_node_once(self) -> None:
        """A flood over a diamond a-b, a-c, b-d, c-d reaches d exactly once."""
        a, b, c, d = self.linked([(0, 1), (0, 2), (1, 3), (2, 3)], 4)
        boxes = {p.address: Mailbox(p, [FLOOD, BARRIER]) for p in (a, b, c, d)}
        a.broadcast(Message(FLOOD, a.address))
        # b and c forward before their handlers run, so once both handled the
        # flood, a barrier each sends to d arrives after their copy of it.
        for relay in (b, c):
            assert boxes[relay.address].wait_for(FLOOD, timeout=TIMEOUT)
            assert relay.send(d.address, Message(BARRIER, relay.address))
        assert boxes[d.address].wait_for(BARRIER, 2, timeout=TIMEOUT)
        assert boxes[d.address].count(FLOOD) == 1
        assert boxes[a.address].count(FLOOD) == 0

    def test_disconnect_removes_both_sides(self) -> None:
        """After disconnect, neither end lists the other."""
        first, second = self.linked([(0, 1)], 2)
        first.disconnect(second.address)
        assert first.neighbors() == []
        assert wait_until(lambda: second.neighbors() == [], TIMEOUT)

    def test_send_to_stopped_peer_fails(self) -> None:
        """Sending to a crashed peer returns False and drops it as a neighbour."""
        first, second = self.linked([(0, 1)], 2)
        second.stop(notify=False)
        # A transport that queues sends may accept the first send after the
        # crash and fail a later one.
        assert wait_until(
            lambda: not first.send(second.address, Message(PING, first.address)),
            TIMEOUT,
        )
        assert wait_until(lambda: first.neighbors() == [], TIMEOUT)

    def test_stop_is_idempotent(self) -> None:
        """A second stop does nothing; the neighbour learns of the first."""
        first, second = self.linked([(0, 1)], 2)
        first.stop()
        first.stop()
        assert not first.running
        assert wait_until(lambda: second.neighbors() == [], TIMEOUT)

    def test_invalid_bytes_are_dropped(self) -> None:
        """Garbage from a neighbour is counted and dropped; the node keeps working."""
        first, second = self.linked([(0, 1)], 2)
        inbox = Mailbox(second, [PING])
        second.deliver(first.address, b"not a message")
        assert first.send(second.address, Message(PING, first.address))
        assert inbox.wait_for(PING, timeout=TIMEOUT)
        assert second.invalid_dropped == 1
