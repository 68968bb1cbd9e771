"""Messages larger than a gRPC message: chunked streams and the size limit."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from grpc_helpers import NodeFactory, payload_of
from p2pfl_core.codec import decode_weights, encode_weights
from p2pfl_core.communication.message import Message
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait, wait_until
from p2pfl_core.weights import ModelWeights

from p2pfl_grpc.protocol import GrpcProtocol, MessageTooLargeError

MIB = 1024 * 1024


def _transfer(first: GrpcProtocol, second: GrpcProtocol, payload: bytes) -> bytes:
    mailbox = Mailbox(second, ["model"])
    assert first.send(second.address, Message("model", first.address, payload=payload))
    assert mailbox.wait_for("model", timeout=60.0)
    return bytes(mailbox.received[0][2].payload)


def test_one_megabyte_in_small_chunks_identical(make_node: NodeFactory) -> None:
    """1 MB sent in 64 KiB chunks (16 of them) arrives byte-identical."""
    first, second = make_node(chunk_bytes=64 * 1024), make_node()
    assert connect_and_wait(first, second)
    payload = payload_of(1_000_000)
    assert _transfer(first, second, payload) == payload
    assert second.reassembler.pending_transfers == 0


def test_fifty_megabytes_identical(make_node: NodeFactory) -> None:
    """50 MB, far above gRPC's default 4 MiB message limit, arrives byte-identical."""
    first, second = make_node(), make_node()
    assert connect_and_wait(first, second)
    payload = payload_of(50_000_000, seed=1)
    assert _transfer(first, second, payload) == payload


def test_default_settings_carry_4_4_megabyte_model(make_node: NodeFactory) -> None:
    """A float32 model of 1,100,000 parameters (4,400,000 B) passes with defaults."""
    first, second = make_node(), make_node()
    assert connect_and_wait(first, second)
    layer = np.arange(1_100_000, dtype=np.float32)
    weights = ModelWeights({"dense": layer}, num_samples=7)
    received = decode_weights(_transfer(first, second, encode_weights(weights)))
    assert received["dense"].nbytes == 4_400_000
    assert np.array_equal(received["dense"], layer)
    assert received.num_samples == 7


def test_chunked_flood_forwarded_intact(make_node: NodeFactory) -> None:
    """A 300,000 B flood in 64 KiB chunks on a line A-B-C reaches C byte-identical.

    B gets the message as a reassembled bytearray, reads its id and TTL,
    forwards it with a lower TTL and hands it to its own handler.
    """
    a, b, c = (make_node(chunk_bytes=64 * 1024) for _ in range(3))
    assert connect_and_wait(a, b)
    assert connect_and_wait(b, c)
    boxes = [Mailbox(node, ["model"]) for node in (b, c)]
    payload = payload_of(300_000, seed=3)
    a.broadcast(Message("model", a.address, payload=payload))
    assert boxes[1].wait_for("model", timeout=30.0)
    assert boxes[0].count("model") == 1
    assert bytes(boxes[0].received[0][2].payload) == payload
    assert bytes(boxes[1].received[0][2].payload) == payload
    assert boxes[1].received[0][2].ttl == a.settings.ttl - 1


def test_received_model_decodes_from_chunks(make_node: NodeFactory) -> None:
    """A 1,000,000-parameter float32 model in 256 KiB chunks decodes intact."""
    first, second = make_node(chunk_bytes=256 * 1024), make_node()
    assert connect_and_wait(first, second)
    layer = np.linspace(-1.0, 1.0, 1_000_000, dtype=np.float32)
    weights = ModelWeights({"dense": layer}, num_samples=3)
    mailbox = Mailbox(second, ["model"])
    message = Message("model", first.address, payload=encode_weights(weights))
    assert first.send(second.address, message)
    assert mailbox.wait_for("model", timeout=60.0)
    received = decode_weights(mailbox.received[0][2].payload)
    assert np.array_equal(received["dense"], layer)
    assert received.num_samples == 3


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("P2PFL_BIG_TESTS") != "1", reason="set P2PFL_BIG_TESTS=1 to run"
)
def test_six_hundred_megabytes_identical(make_node: NodeFactory) -> None:
    """600 MB (above the 536,870,912 B limit of some setups) arrives byte-identical."""
    first, second = make_node(), make_node()
    assert connect_and_wait(first, second)
    payload = payload_of(600_000_000, seed=2)
    assert _transfer(first, second, payload) == payload


def test_message_over_limit_fails_fast(make_node: NodeFactory) -> None:
    """600,000,000 B against a 536,870,912 B limit raises at once, naming both."""
    first = make_node(max_message_bytes=536_870_912)
    second = make_node(max_message_bytes=536_870_912)
    assert connect_and_wait(first, second)
    message = Message("model", first.address, payload=bytes(600_000_000))
    with pytest.raises(
        MessageTooLargeError, match=r"6000\d{5} bytes .*536870912 bytes"
    ):
        first.send(second.address, message)
    assert first.messages_sent["model"] == 0
    assert second.reassembler.pending_transfers == 0
    assert first.neighbors() == [second.address]


def test_receiver_limit_rejects_stream(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver with a smaller limit rejects the first chunk; the link stays up."""
    first = make_node(max_message_bytes=64 * MIB)
    second = make_node(max_message_bytes=1 * MIB, chunk_bytes=256 * 1024)
    assert connect_and_wait(first, second)
    mailbox = Mailbox(second, ["model", "ping"])
    with caplog.at_level(logging.WARNING, logger="p2pfl_grpc"):
        assert first.send(
            second.address, Message("model", first.address, payload=bytes(4 * MIB))
        )
        assert first.send(second.address, Message("ping", first.address))
        assert mailbox.wait_for("ping")
    assert mailbox.count("model") == 0
    assert "exceeds the limit of 1048576 bytes" in caplog.text
    assert wait_until(lambda: second.reassembler.pending_transfers == 0)
    assert first.neighbors() == [second.address]


def test_setting_sets_core_decode_limit(make_node: NodeFactory) -> None:
    """max_message_bytes also becomes the core's decode limit."""
    node = make_node(max_message_bytes=5 * MIB, start=False)
    assert node.settings.max_message_bytes == 5 * MIB
