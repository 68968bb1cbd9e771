"""Bad input on the server port: logged, dropped, and the server keeps serving."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import grpc
import pytest
from grpc_helpers import NodeFactory
from p2pfl_core.communication.message import Message
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait, wait_until

from p2pfl_grpc.address import split_address
from p2pfl_grpc.proto import node_pb2, node_pb2_grpc
from p2pfl_grpc.protocol import GrpcProtocol

SEND = "/p2pfl_grpc.NodeTransport/Send"


def _still_serves(make_node: NodeFactory, server: GrpcProtocol) -> bool:
    client = make_node()
    if not connect_and_wait(client, server):
        return False
    mailbox = Mailbox(server, ["ping"])
    client.send(server.address, Message("ping", client.address))
    return mailbox.wait_for("ping")


def test_raw_socket_garbage_then_valid_message(make_node: NodeFactory) -> None:
    """Bytes that are not HTTP/2 end that connection only; the server keeps serving."""
    server = make_node()
    host, port = split_address(server.address)
    for garbage in (b"\x00" * 64, b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 8):
        with socket.create_connection((host, port), timeout=2.0) as raw:
            raw.sendall(garbage)
            raw.settimeout(2.0)
            try:
                while raw.recv(4096):
                    pass
            except (TimeoutError, ConnectionResetError):
                pass
    assert _still_serves(make_node, server)


def test_malformed_protobuf_rejected(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not an Envelope get INVALID_ARGUMENT and a log line."""
    server = make_node()
    with grpc.insecure_channel(server.address) as channel:
        send_raw = channel.unary_unary(SEND)
        with caplog.at_level(logging.WARNING, logger="p2pfl_grpc"):
            with pytest.raises(grpc.RpcError) as raised:
                send_raw(b"\xff\xff\xff\xff", timeout=2.0)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server.servicer.dropped == 1
    assert "malformed Envelope protobuf" in caplog.text
    assert _still_serves(make_node, server)


@pytest.mark.parametrize(
    ("sender", "data", "reason"),
    [
        ("", b"x", "sender address of 0 characters"),
        ("no-port", b"x", "invalid gRPC address 'no-port'"),
        ("127.0.0.1:9\n", b"x", "control characters"),
        ("127.0.0.1:9", b"", "empty message"),
    ],
)
def test_wrong_field_values_rejected(
    make_node: NodeFactory, sender: str, data: bytes, reason: str
) -> None:
    """An Envelope with a bad sender or no data is rejected with the reason."""
    server = make_node()
    with grpc.insecure_channel(server.address) as channel:
        stub = node_pb2_grpc.NodeTransportStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Send(node_pb2.Envelope(sender=sender, data=data), timeout=2.0)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in raised.value.details()


def test_message_from_unknown_peer_dropped(make_node: NodeFactory) -> None:
    """A valid message from a node that never connected is counted and dropped."""
    server = make_node()
    mailbox = Mailbox(server, ["ping"])
    stranger = "127.0.0.1:9"
    data = Message("ping", stranger).encode()
    with grpc.insecure_channel(server.address) as channel:
        stub = node_pb2_grpc.NodeTransportStub(channel)
        stub.Send(node_pb2.Envelope(sender=stranger, data=data), timeout=2.0)
    assert wait_until(lambda: server.invalid_dropped == 1)
    assert mailbox.count("ping") == 0
    assert server.neighbors() == []


def test_flood_of_bad_messages_logged_at_limited_rate(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """500 malformed calls at once give at most 2 log lines; the server still serves."""
    server = make_node()
    with grpc.insecure_channel(server.address) as channel:
        send_raw = channel.unary_unary(SEND)
        with caplog.at_level(logging.WARNING, logger="p2pfl_grpc.server"):
            calls = [send_raw.future(b"\xff\xff", timeout=10.0) for _ in range(500)]
            codes = [call.exception().code() for call in calls]  # type: ignore[union-attr]
    assert set(codes) <= {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
    assert (
        1 <= len([r for r in caplog.records if "Dropped a message" in r.message]) <= 2
    )
    assert _still_serves(make_node, server)


def test_stream_broken_midway_frees_memory(make_node: NodeFactory) -> None:
    """A sender that dies after the first chunk leaves no partial message behind."""
    server = make_node()
    first = node_pb2.Chunk(
        sender="127.0.0.1:9",
        transfer_id=b"T" * 16,
        index=0,
        total=2,
        total_size=8,
        data=b"abcd",
    )
    received = []

    def chunks() -> Iterator[node_pb2.Chunk]:
        yield first
        assert wait_until(lambda: server.reassembler.pending_transfers == 1)
        received.append(True)
        raise RuntimeError("sender crashed")

    with grpc.insecure_channel(server.address) as channel:
        stub = node_pb2_grpc.NodeTransportStub(channel)
        with pytest.raises(grpc.RpcError):
            stub.SendChunks(chunks(), timeout=5.0)
    assert received == [True]
    assert wait_until(lambda: server.reassembler.pending_transfers == 0)
    assert _still_serves(make_node, server)


def test_idle_stream_cancelled_after_transfer_timeout(make_node: NodeFactory) -> None:
    """A stream that stops sending chunks is cancelled and its chunks freed."""
    server = make_node(transfer_timeout=0.3)
    release = threading.Event()

    def chunks() -> Iterator[node_pb2.Chunk]:
        yield node_pb2.Chunk(
            sender="127.0.0.1:9",
            transfer_id=b"I" * 16,
            index=0,
            total=2,
            total_size=8,
            data=b"abcd",
        )
        release.wait(10.0)

    with grpc.insecure_channel(server.address) as channel:
        stub = node_pb2_grpc.NodeTransportStub(channel)
        try:
            with pytest.raises(grpc.RpcError) as raised:
                stub.SendChunks(chunks(), timeout=10.0)
        finally:
            release.set()
    assert raised.value.code() == grpc.StatusCode.CANCELLED
    assert wait_until(lambda: server.reassembler.pending_transfers == 0)
    assert _still_serves(make_node, server)
