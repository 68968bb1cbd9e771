"""Chunk reassembly: interleaved, missing, duplicate and invalid chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from p2pfl_grpc.proto import node_pb2
from p2pfl_grpc.reassembly import ChunkError, Reassembler, TransferTooLargeError
from p2pfl_grpc.server import TransportServicer

SENDER = "127.0.0.1:5001"
ID_A = b"A" * 16
ID_B = b"B" * 16


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeContext:
    """The parts of ``grpc.ServicerContext`` the handlers use."""

    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def peer(self) -> str:
        return "ipv4:127.0.0.1:40000"

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def cancel(self) -> None:
        self.code = grpc.StatusCode.CANCELLED


def model_chunks(values: list[float], transfer_id: bytes) -> list[node_pb2.Chunk]:
    """Split a float32 model into chunks of 2 elements (8 bytes)."""
    data = np.array(values, dtype=np.float32).tobytes()
    total = len(data) // 8
    return [
        node_pb2.Chunk(
            sender=SENDER,
            transfer_id=transfer_id,
            index=i,
            total=total,
            total_size=len(data),
            offset=i * 8,
            data=data[i * 8 : (i + 1) * 8],
        )
        for i in range(total)
    ]


def as_model(data: bytes | None) -> list[float]:
    assert data is not None
    return np.frombuffer(data, dtype=np.float32).tolist()


A1, A2 = model_chunks([1, 2, 3, 4], ID_A)
B1, B2 = model_chunks([10, 20, 30, 40], ID_B)


def test_interleaved_transfers_stay_apart() -> None:
    """Chunks B1, A1, A2, B2 give A = [1, 2, 3, 4], then B = [10, 20, 30, 40]."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    results = [reassembler.add(chunk) for chunk in (B1, A1, A2, B2)]
    assert results[0] is None
    assert results[1] is None
    assert as_model(results[2]) == [1.0, 2.0, 3.0, 4.0]
    assert as_model(results[3]) == [10.0, 20.0, 30.0, 40.0]
    assert reassembler.pending_transfers == 0


def test_missing_chunk_discarded_after_timeout() -> None:
    """Without A2, A is never delivered and freed after the timeout; B still is."""
    clock = FakeClock()
    reassembler = Reassembler(max_bytes=1024, timeout=5.0, clock=clock)
    assert reassembler.add(B1) is None
    assert reassembler.add(A1) is None
    assert as_model(reassembler.add(B2)) == [10.0, 20.0, 30.0, 40.0]
    assert reassembler.pending_bytes == 8
    clock.now += 5.5
    assert reassembler.expire() == 1
    assert reassembler.pending_bytes == 0
    assert reassembler.pending_transfers == 0
    assert reassembler.add(A2) is None


def test_duplicate_chunk_does_not_change_model() -> None:
    """A1 twice (the second with other bytes) still gives A = [1, 2, 3, 4]."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    forged = node_pb2.Chunk()
    forged.CopyFrom(A1)
    forged.data = np.array([99, 99], dtype=np.float32).tobytes()
    assert reassembler.add(A1) is None
    assert reassembler.add(forged) is None
    assert as_model(reassembler.add(A2)) == [1.0, 2.0, 3.0, 4.0]
    assert reassembler.duplicates_ignored == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("index", 2, "chunk index 2 outside 0..1"),
        ("total", 3, "announces 3 chunks"),
        ("total_size", 24, "announces 2 chunks of 24 bytes"),
        ("data", b"", "chunk 1 is empty"),
        ("data", b"x" * 12, "more than the announced 16 bytes"),
    ],
)
def test_inconsistent_chunk_rejected(field: str, value: Any, message: str) -> None:
    """A chunk that disagrees with its transfer is rejected and the transfer dropped."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    bad = node_pb2.Chunk()
    bad.CopyFrom(A2)
    setattr(bad, field, value)
    assert reassembler.add(A1) is None
    with pytest.raises(ChunkError, match=message):
        reassembler.add(bad)
    assert reassembler.pending_transfers == 0


def test_short_transfer_rejected() -> None:
    """Chunks that hold fewer bytes than announced are rejected."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    short = node_pb2.Chunk()
    short.CopyFrom(A2)
    short.data = b"x" * 4
    assert reassembler.add(A1) is None
    with pytest.raises(
        ChunkError, match="hold 12 bytes, but the transfer announced 16"
    ):
        reassembler.add(short)


def test_offset_past_end_rejected() -> None:
    """A2 at offset 12 would end at byte 20 of a 16-byte message: rejected."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    bad = node_pb2.Chunk()
    bad.CopyFrom(A2)
    bad.offset = 12
    assert reassembler.add(A1) is None
    with pytest.raises(ChunkError, match="ends at byte 20, more than the announced"):
        reassembler.add(bad)
    assert reassembler.pending_transfers == 0


def test_chunk_overlapping_earlier_one_rejected() -> None:
    """A2 at offset 4 covers bytes 4 to 12, which overlaps A1 (0 to 8)."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    bad = node_pb2.Chunk()
    bad.CopyFrom(A2)
    bad.offset = 4
    assert reassembler.add(A1) is None
    with pytest.raises(
        ChunkError, match=r"chunk 1 \(bytes 4 to 12\) overlaps chunk 0 \(bytes 0 to 8\)"
    ):
        reassembler.add(bad)
    assert reassembler.pending_transfers == 0


def test_chunk_overlapping_later_one_rejected() -> None:
    """A1 at offset 4 arriving after A2 (8 to 16) overlaps it at bytes 8 to 12."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    bad = node_pb2.Chunk()
    bad.CopyFrom(A1)
    bad.offset = 4
    assert reassembler.add(A2) is None
    with pytest.raises(ChunkError, match=r"overlaps chunk 1 \(bytes 8 to 16\)"):
        reassembler.add(bad)


def test_overlap_found_when_last_chunk_arrives() -> None:
    """Chunk 1 at bytes 2 to 6, received after chunk 2, overlaps chunk 0 (0 to 4).

    Chunk 1 does not overlap chunk 2, received just before it, so the overlap
    is found once all 3 chunks are in, although their sizes add up to 16.
    """
    data = b"abcdefghijklmnop"
    spans = [(0, 4), (2, 6), (8, 16)]
    chunks = [
        node_pb2.Chunk(
            sender=SENDER,
            transfer_id=ID_A,
            index=index,
            total=3,
            total_size=16,
            offset=start,
            data=data[start:end],
        )
        for index, (start, end) in enumerate(spans)
    ]
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    assert reassembler.add(chunks[0]) is None
    assert reassembler.add(chunks[2]) is None
    with pytest.raises(
        ChunkError, match=r"chunk 1 \(bytes 2 to 6\) overlaps chunk 0 \(bytes 0 to 4\)"
    ):
        reassembler.add(chunks[1])
    assert reassembler.pending_transfers == 0


def test_reversed_chunks_of_uneven_sizes_reassembled() -> None:
    """Chunks of 5, 1 and 10 bytes given last to first give the original 16 bytes."""
    data = b"abcdefghijklmnop"
    spans = [(0, 5), (5, 6), (6, 16)]
    chunks = [
        node_pb2.Chunk(
            sender=SENDER,
            transfer_id=ID_A,
            index=index,
            total=3,
            total_size=16,
            offset=start,
            data=data[start:end],
        )
        for index, (start, end) in enumerate(spans)
    ]
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    assert reassembler.add(chunks[2]) is None
    assert reassembler.add(chunks[1]) is None
    result = reassembler.add(chunks[0])
    assert result == bytearray(b"abcdefghijklmnop")
    assert type(result) is bytearray


def test_transfer_over_limit_rejected_first() -> None:
    """A first chunk announcing more than max_bytes is rejected before storing."""
    reassembler = Reassembler(max_bytes=15, timeout=5.0)
    with pytest.raises(TransferTooLargeError, match="16 bytes exceeds the limit of 15"):
        reassembler.add(A1)
    assert reassembler.pending_transfers == 0


def test_bad_transfer_id_rejected() -> None:
    """A transfer id that is not 16 bytes long is rejected."""
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    chunk = node_pb2.Chunk()
    chunk.CopyFrom(A1)
    chunk.transfer_id = b"short"
    with pytest.raises(ChunkError, match="transfer id of 5 bytes"):
        reassembler.add(chunk)


def _run_stream(
    chunks: list[Any],
) -> tuple[list[tuple[str, bytes]], FakeContext, Reassembler]:
    delivered: list[tuple[str, bytes]] = []
    reassembler = Reassembler(max_bytes=1024, timeout=5.0)
    servicer = TransportServicer(
        lambda sender, data: delivered.append((sender, data)), reassembler, 1024
    )
    context = FakeContext()
    stream: Iterator[Any] = iter(chunks)
    servicer.send_chunks(stream, context)  # type: ignore[arg-type]
    return delivered, context, reassembler


def test_stream_handler_delivers_in_completion_order() -> None:
    """The stream handler given B1, A1, A2, B2 delivers A and then B."""
    delivered, context, _ = _run_stream([B1, A1, A2, B2])
    assert context.code is None
    assert [sender for sender, _ in delivered] == [SENDER, SENDER]
    assert as_model(delivered[0][1]) == [1.0, 2.0, 3.0, 4.0]
    assert as_model(delivered[1][1]) == [10.0, 20.0, 30.0, 40.0]


def test_stream_end_frees_incomplete_transfer() -> None:
    """A stream that ends without A2 delivers only B and keeps nothing of A."""
    delivered, context, reassembler = _run_stream([A1, B1, B2])
    assert len(delivered) == 1
    assert as_model(delivered[0][1]) == [10.0, 20.0, 30.0, 40.0]
    assert reassembler.pending_transfers == 0


def test_stream_with_two_senders_rejected() -> None:
    """All chunks of one stream must carry the same sender."""
    other = node_pb2.Chunk()
    other.CopyFrom(A2)
    other.sender = "127.0.0.1:5002"
    delivered, context, _ = _run_stream([A1, other])
    assert delivered == []
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT
    assert context.details == "chunks of one stream from two senders"
