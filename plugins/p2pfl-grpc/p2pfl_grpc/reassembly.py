"""Reassembly of messages that arrive as chunks.

Chunks are grouped by (sender, transfer id), never by arrival order, so the
chunks of several messages may interleave. Every chunk is checked against the
first chunk of its transfer (same ``total`` and ``total_size``) and against
the size limit before anything is kept. A transfer that gets no chunk for
``timeout`` seconds is discarded and its memory freed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger(__name__)

TRANSFER_ID_BYTES = 16
MAX_TRANSFERS_PER_SENDER = 8

TransferKey = tuple[str, bytes]


class ChunkFields(Protocol):
    """The fields of a chunk, as in the ``Chunk`` protobuf message."""

    sender: str
    transfer_id: bytes
    index: int
    total: int
    total_size: int
    data: bytes


class ChunkError(ValueError):
    """A chunk is invalid or inconsistent with its transfer."""


class TransferTooLargeError(ChunkError):
    """A transfer announces more bytes than the receiver accepts."""


@dataclass
class _Transfer:
    total: int
    total_size: int
    last_seen: float
    parts: list[bytes | None] = field(default_factory=list)
    received: int = 0
    received_bytes: int = 0


class Reassembler:
    """Thread-safe reassembly of chunked messages.

    Args:
        max_bytes: Largest reassembled message accepted.
        timeout: Seconds without a chunk after which a transfer is discarded.
        clock: Source of monotonic time in seconds.
    """

    def __init__(
        self,
        max_bytes: int,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._clock = clock
        self._transfers: dict[TransferKey, _Transfer] = {}
        self._lock = threading.Lock()
        self.duplicates_ignored = 0
        self.expired = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes held by incomplete transfers."""
        with self._lock:
            return sum(t.received_bytes for t in self._transfers.values())

    @property
    def pending_transfers(self) -> int:
        """Number of incomplete transfers."""
        with self._lock:
            return len(self._transfers)

    def add(self, chunk: ChunkFields) -> bytes | None:
        """Store one chunk; return the whole message when it was the last one.

        A chunk whose index was already received is ignored.

        Raises:
            TransferTooLargeError: The transfer is larger than ``max_bytes``.
            ChunkError: The chunk is invalid; its transfer is discarded.
        """
        key = (chunk.sender, bytes(chunk.transfer_id))
        now = self._clock()
        with self._lock:
            self._expire(now)
            transfer = self._transfers.get(key)
            if transfer is None:
                transfer = self._start(key, chunk, now)
            try:
                complete = self._store(transfer, chunk, now)
            except ChunkError:
                del self._transfers[key]
                raise
            if not complete:
                return None
            del self._transfers[key]
        return b"".join(part for part in transfer.parts if part is not None)

    def discard(self, keys: Iterable[TransferKey]) -> int:
        """Drop the given transfers if still incomplete; return how many were."""
        with self._lock:
            return sum(self._transfers.pop(key, None) is not None for key in keys)

    def expire(self) -> int:
        """Drop transfers silent for longer than the timeout; return how many."""
        with self._lock:
            return self._expire(self._clock())

    def _expire(self, now: float) -> int:
        stale = [
            k for k, t in self._transfers.items() if now - t.last_seen > self.timeout
        ]
        for sender, transfer_id in stale:
            transfer = self._transfers.pop((sender, transfer_id))
            logger.warning(
                "Discarded a partial message from %s: %d of %d chunks after %.0f s "
                "without a new chunk",
                sender,
                transfer.received,
                transfer.total,
                self.timeout,
            )
        self.expired += len(stale)
        return len(stale)

    def _start(self, key: TransferKey, chunk: ChunkFields, now: float) -> _Transfer:
        if len(key[1]) != TRANSFER_ID_BYTES:
            raise ChunkError(
                f"transfer id of {len(key[1])} bytes, expected {TRANSFER_ID_BYTES}"
            )
        if chunk.total_size > self.max_bytes:
            raise TransferTooLargeError(
                f"message of {chunk.total_size} bytes exceeds the limit of "
                f"{self.max_bytes} bytes (max_message_bytes)"
            )
        if not 1 <= chunk.total <= chunk.total_size:
            raise ChunkError(
                f"chunk count {chunk.total} is invalid for {chunk.total_size} bytes"
            )
        ongoing = sum(1 for sender, _ in self._transfers if sender == key[0])
        if ongoing >= MAX_TRANSFERS_PER_SENDER:
            raise ChunkError(
                f"{ongoing} transfers from {key[0]} are already in progress"
            )
        transfer = _Transfer(chunk.total, chunk.total_size, now, [None] * chunk.total)
        self._transfers[key] = transfer
        return transfer

    def _store(self, transfer: _Transfer, chunk: ChunkFields, now: float) -> bool:
        if chunk.total != transfer.total or chunk.total_size != transfer.total_size:
            raise ChunkError(
                f"chunk announces {chunk.total} chunks of {chunk.total_size} bytes, "
                f"but its transfer has {transfer.total} chunks of "
                f"{transfer.total_size} bytes"
            )
        if not 0 <= chunk.index < transfer.total:
            raise ChunkError(
                f"chunk index {chunk.index} outside 0..{transfer.total - 1}"
            )
        if not chunk.data:
            raise ChunkError(f"chunk {chunk.index} is empty")

        if transfer.parts[chunk.index] is not None:
            self.duplicates_ignored += 1
            return False
        size = transfer.received_bytes + len(chunk.data)
        if size > transfer.total_size:
            raise ChunkError(
                f"chunks hold more than the announced {transfer.total_size} bytes"
            )
        transfer.parts[chunk.index] = bytes(chunk.data)
        transfer.received += 1
        transfer.received_bytes = size
        transfer.last_seen = now

        if transfer.received < transfer.total:
            return False
        if size != transfer.total_size:
            raise ChunkError(
                f"chunks hold {size} bytes, but the transfer announced "
                f"{transfer.total_size} bytes"
            )
        return True
