"""Message envelope: a fixed binary prefix, a JSON header and a raw payload.

Layout (little-endian)::

    b"P2PM" | version: u8 | ttl: u16 | message id: 16 bytes
    | header length: u32 | payload length: u64 | header: JSON | payload

The TTL and message id sit at fixed offsets, so a node can drop a duplicate
or forward a flooded message without parsing the header.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from p2pfl_core.errors import DecodeError

MAGIC = b"P2PM"
VERSION = 1
_PREFIX = struct.Struct("<4sBH16sIQ")
PREFIX_SIZE = _PREFIX.size
_TTL_OFFSET = 5
MAX_HEADER_BYTES = 1024 * 1024
MAX_TTL = 0xFFFF


def new_message_id() -> bytes:
    """Return a fresh random 16-byte message id."""
    return os.urandom(16)


@dataclass(frozen=True)
class Message:
    """One command or weights message.

    Args:
        cmd: Command name, such as ``vote`` or ``model``.
        origin: Id of the node that created the message.
        round: Learning round the message belongs to, or -1.
        args: JSON-serialisable arguments of the command.
        payload: Raw bytes carried after the header (encoded weights).
        ttl: Remaining hops for a flooded message; 0 means direct only.
        msg_id: Unique id used by the seen-message cache.
    """

    cmd: str
    origin: str
    round: int = -1
    args: dict[str, Any] = field(default_factory=dict)
    payload: bytes | memoryview = b""
    ttl: int = 0
    msg_id: bytes = field(default_factory=new_message_id)

    def encode(self) -> bytes:
        """Encode the message into bytes."""
        return b"".join(self.encode_parts())

    def encode_parts(self) -> tuple[bytes, bytes | memoryview]:
        """Encode the prefix and header; return them and the payload, not copied.

        ``b"".join(message.encode_parts())`` equals ``message.encode()``. A
        transport can send the two parts one after the other and so avoid
        copying a large payload into a new buffer.
        """
        header = json.dumps(
            {
                "cmd": self.cmd,
                "origin": self.origin,
                "round": self.round,
                "args": self.args,
            },
            separators=(",", ":"),
        ).encode()
        prefix = _PREFIX.pack(
            MAGIC, VERSION, self.ttl, self.msg_id, len(header), len(self.payload)
        )
        return prefix + header, self.payload


def peek_id_and_ttl(data: bytes | bytearray) -> tuple[bytes, int]:
    """Read the message id and TTL of an encoded message without decoding it.

    Raises:
        DecodeError: The bytes are too short or not a message.
    """
    if len(data) < PREFIX_SIZE or data[:4] != MAGIC:
        raise DecodeError(f"not a p2pfl message ({len(data)} bytes)")
    return bytes(data[7:23]), int.from_bytes(data[_TTL_OFFSET:7], "little")


def with_ttl(data: bytes | bytearray, ttl: int) -> bytes:
    """Return a copy of an encoded message with another TTL."""
    return b"".join((data[:_TTL_OFFSET], ttl.to_bytes(2, "little"), data[7:]))


def decode_message(data: bytes | bytearray, *, max_bytes: int | None = None) -> Message:
    """Decode and validate an encoded message.

    Args:
        data: Bytes produced by :meth:`Message.encode`.
        max_bytes: Largest message accepted, or None for no limit.

    Raises:
        DecodeError: The bytes are malformed, truncated or oversize.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit {max_bytes}")
    if len(data) < PREFIX_SIZE:
        raise DecodeError(f"message truncated: {len(data)} bytes")
    magic, version, ttl, msg_id, header_len, payload_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise DecodeError(f"not a p2pfl message: magic {bytes(magic)!r}")
    if version != VERSION:
        raise DecodeError(f"unsupported message version {version}")
    if header_len > MAX_HEADER_BYTES:
        raise DecodeError(f"message header of {header_len} bytes is too large")
    if PREFIX_SIZE + header_len + payload_len != len(data):
        raise DecodeError(
            f"message length {len(data)} does not match header {header_len} "
            f"+ payload {payload_len}"
        )
    try:
        header = json.loads(data[PREFIX_SIZE : PREFIX_SIZE + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"message header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise DecodeError("message header must be a JSON object")
    cmd, origin, rnd, args = (header.get(k) for k in ("cmd", "origin", "round", "args"))
    if not isinstance(cmd, str) or not isinstance(origin, str):
        raise DecodeError("message header: cmd and origin must be strings")
    if not isinstance(rnd, int) or isinstance(rnd, bool):
        raise DecodeError("message header: round must be an integer")
    if not isinstance(args, dict):
        raise DecodeError("message header: args must be an object")
    # Read-only, so decoded arrays never write into a transport's buffer.
    payload = memoryview(data).toreadonly()[PREFIX_SIZE + header_len :]
    return Message(cmd, origin, rnd, args, payload, ttl, bytes(msg_id))
