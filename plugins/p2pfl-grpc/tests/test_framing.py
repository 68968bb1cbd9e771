"""Chunks written and parsed by hand, against the generated protobuf code."""

from __future__ import annotations

import pytest

from p2pfl_grpc.framing import (
    EncodedMessage,
    MalformedChunkError,
    encode_chunk,
    parse_chunk,
    split_into_chunks,
)
from p2pfl_grpc.proto import node_pb2

SENDER = "127.0.0.1:5001"
TRANSFER_ID = b"T" * 16


def full_chunk(**overrides: object) -> node_pb2.Chunk:
    """Return a chunk with every field set, as the generated code builds it."""
    values: dict[str, object] = {
        "sender": SENDER,
        "transfer_id": TRANSFER_ID,
        "index": 3,
        "total": 7,
        "total_size": 1000,
        "offset": 300,
        "data": b"0123456789",
    }
    values.update(overrides)
    return node_pb2.Chunk(**values)


def test_parse_reads_generated_chunk() -> None:
    """A chunk serialized by node_pb2 parses to the same field values."""
    chunk = parse_chunk(full_chunk().SerializeToString())
    assert chunk.sender == SENDER
    assert chunk.transfer_id == TRANSFER_ID
    assert chunk.index == 3
    assert chunk.total == 7
    assert chunk.total_size == 1000
    assert chunk.offset == 300
    assert bytes(chunk.data) == b"0123456789"


def test_parse_keeps_data_as_view() -> None:
    """The parsed data is a view of the received bytes, not a copy."""
    raw = full_chunk().SerializeToString()
    chunk = parse_chunk(raw)
    assert chunk.data.obj is raw


def test_parse_defaults_missing_fields_to_zero() -> None:
    """Index 0 and offset 0, which proto3 leaves out, parse as 0."""
    chunk = parse_chunk(full_chunk(index=0, offset=0).SerializeToString())
    assert chunk.index == 0
    assert chunk.offset == 0


def test_encode_matches_generated_chunk() -> None:
    """encode_chunk of the fields and two data pieces parses as the same Chunk."""
    header = full_chunk()
    header.ClearField("data")
    raw = encode_chunk(header, [memoryview(b"0123"), memoryview(b"456789")])
    assert node_pb2.Chunk.FromString(raw) == full_chunk()


def test_encode_of_large_data_has_two_byte_length() -> None:
    """300 data bytes give the tag 0x32 and the varint length b'\\xac\\x02'."""
    raw = encode_chunk(node_pb2.Chunk(), [memoryview(b"x" * 300)])
    assert raw[:3] == b"\x32\xac\x02"
    assert len(raw) == 303


def test_parse_skips_unknown_fields() -> None:
    """Unknown fields 15 to 18, one of each wire type, are skipped."""
    unknown = b"".join(
        [
            b"\x78\x96\x01",  # field 15, varint 150
            b"\x81\x01" + bytes(8),  # field 16, fixed64
            b"\x8a\x01\x03abc",  # field 17, 3 bytes
            b"\x95\x01" + bytes(4),  # field 18, fixed32
        ]
    )
    chunk = parse_chunk(unknown + full_chunk().SerializeToString())
    assert chunk.offset == 300
    assert bytes(chunk.data) == b"0123456789"


def test_parse_keeps_last_of_repeated_field() -> None:
    """A field sent twice keeps its last value, as protobuf parsers do."""
    raw = full_chunk().SerializeToString() + b"\x18\x05"  # index = 5
    assert parse_chunk(raw).index == 5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x18", "ends inside a varint"),
        (b"\x18" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x32\x05abc", "field 6 runs past the end of the message"),
        (b"\x0a\x02\xff\xfe", "sender is not valid UTF-8"),
        (
            b"\x18\x80\x80\x80\x80\x10",
            "value 4294967296 of Chunk field 3 exceeds uint32",
        ),
        (b"\x19" + b"\x00" * 8, "invalid wire type 1 for Chunk field 3"),
        (b"\x00\x01", "invalid field number 0"),
        (b"\x7b", "unsupported wire type 3"),
    ],
)
def test_parse_rejects_malformed_bytes(raw: bytes, message: str) -> None:
    """Truncated, oversize or mistyped fields raise MalformedChunkError."""
    with pytest.raises(MalformedChunkError, match=message):
        parse_chunk(raw)


def test_split_crosses_piece_boundaries() -> None:
    """Pieces of 3 and 5 bytes in runs of 3 give offsets 0, 3, 6."""
    runs = list(split_into_chunks([b"abc", b"defgh"], 3))
    assert [offset for offset, _ in runs] == [0, 3, 6]
    assert [b"".join(views) for _, views in runs] == [b"abc", b"def", b"gh"]


def test_split_run_spans_three_pieces() -> None:
    """Pieces of 1, 1 and 4 bytes in runs of 4 give b'abcd' and b'ef'."""
    runs = list(split_into_chunks([b"a", b"b", b"cdef"], 4))
    assert [len(views) for _, views in runs] == [3, 1]
    assert [b"".join(views) for _, views in runs] == [b"abcd", b"ef"]


def test_split_skips_empty_piece() -> None:
    """An empty payload after a 2-byte header gives one run of 2 bytes."""
    runs = list(split_into_chunks([b"hd", b""], 4))
    assert [(offset, b"".join(views)) for offset, views in runs] == [(0, b"hd")]


def test_encoded_message_length_and_join() -> None:
    """A 3-byte header and a 4-byte view make a 7-byte message."""
    encoded = EncodedMessage((b"hdr", memoryview(b"body")))
    assert len(encoded) == 7
    assert encoded.join() == b"hdrbody"


def test_encoded_message_rejects_strided_view() -> None:
    """A view of every second byte is not contiguous and raises TypeError."""
    with pytest.raises(TypeError, match="C-contiguous"):
        EncodedMessage((memoryview(b"abcdef")[::2],))
