"""Real gRPC endpoints on 127.0.0.1: connect, send, flood, eviction."""

from __future__ import annotations

import threading

from grpc_helpers import NodeFactory
from p2pfl_core.communication.message import Message
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait, wait_until

from p2pfl_grpc.address import split_address
from p2pfl_grpc.protocol import GrpcProtocol


def test_port_zero_gives_real_port(make_node: NodeFactory) -> None:
    """Port 0 is replaced by the bound port before the node starts."""
    node = make_node(start=False)
    host, port = split_address(node.address)
    assert host == "127.0.0.1"
    assert port > 0


def test_connect_makes_both_neighbours(
    pair: tuple[GrpcProtocol, GrpcProtocol],
) -> None:
    """After connect, each end lists the other as its only neighbour."""
    first, second = pair
    assert first.neighbors() == [second.address]
    assert second.neighbors() == [first.address]


def test_send_delivers_payload_and_sender(
    pair: tuple[GrpcProtocol, GrpcProtocol],
) -> None:
    """A message sent to a neighbour arrives with its payload and sender."""
    first, second = pair
    mailbox = Mailbox(second, ["ping"])
    assert first.send(
        second.address, Message("ping", first.address, 3, {"k": 1}, b"abc")
    )
    assert mailbox.wait_for("ping")
    _, sender, message = mailbox.received[0]
    assert sender == first.address
    assert bytes(message.payload) == b"abc"
    assert message.round == 3
    assert message.args == {"k": 1}


def test_flood_reaches_two_hops_once(make_node: NodeFactory) -> None:
    """On a square A-B-D-C-A, a flood from A reaches D once and every node once."""
    a, b, c, d = (make_node() for _ in range(4))
    for first, second in ((a, b), (a, c), (b, d), (c, d)):
        assert connect_and_wait(first, second)
    mailboxes = [Mailbox(node, ["news"]) for node in (a, b, c, d)]
    a.broadcast(Message("news", a.address, payload=b"hello"))
    assert mailboxes[3].wait_for("news")
    nodes = (a, b, c, d)

    def settled() -> bool:
        sent = sum(n.messages_sent["news"] for n in nodes)
        handled = sum(n.messages_received["news"] + n.duplicates_dropped for n in nodes)
        return sent == handled

    assert wait_until(settled)
    assert mailboxes[0].count("news") == 0
    assert mailboxes[1].count("news") == 1
    assert mailboxes[2].count("news") == 1
    assert mailboxes[3].count("news") == 1


def test_peer_evicted_after_server_killed(
    pair: tuple[GrpcProtocol, GrpcProtocol],
) -> None:
    """A neighbour whose server dies without notice is dropped and reported lost."""
    first, second = pair
    lost: list[str] = []
    reported = threading.Event()
    first.on_neighbor_lost(lambda address: (lost.append(address), reported.set()))
    second.stop(notify=False)
    assert reported.wait(5.0)
    assert lost == [second.address]
    assert first.neighbors() == []


def test_disconnect_removes_both_ends(
    pair: tuple[GrpcProtocol, GrpcProtocol],
) -> None:
    """disconnect() notifies the peer, and both ends remove each other."""
    first, second = pair
    first.disconnect(second.address)
    assert first.neighbors() == []
    assert wait_until(lambda: second.neighbors() == [])


def test_connect_to_closed_port_fails(make_node: NodeFactory) -> None:
    """connect() to a port where nothing listens returns False within the timeout."""
    node = make_node(connect_timeout=0.5)
    stopped = make_node(start=False)
    address = stopped.address
    stopped.stop()
    assert node.connect(address) is False
    assert node.neighbors() == []


def test_send_to_unconnected_address_fails(make_node: NodeFactory) -> None:
    """send() to an address that was never connected returns False."""
    node = make_node()
    assert node.send("127.0.0.1:9", Message("ping", node.address)) is False
