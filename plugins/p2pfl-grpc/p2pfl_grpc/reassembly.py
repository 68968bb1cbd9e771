"""Reassembly of messages that arrive as chunks.

Chunks are grouped by (sender, transfer id), never by arrival order, so the
chunks of several messages may interleave. Every chunk is checked against the
first chunk of its transfer (same ``total`` and ``total_size``) and against
the size limit, and its bytes must lie inside the message. It is then copied
to its ``offset`` in one buffer of ``total_size`` bytes, which is delivered
once the chunks cover it exactly. A chunk that overlaps the chunk received
just before it is rejected at once, and any other overlap when the last chunk
arrives, so checking costs O(n log n) for n chunks in any order. A transfer
that gets no chunk for ``timeout`` seconds is discarded and its memory freed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from p2pfl_grpc.allocation import unwritten_bytearray

logger = logging.getLogger(__name__)

TRANSFER_ID_BYTES = 16
MAX_TRANSFERS_PER_SENDER = 8

TransferKey = tuple[str, bytes]


class ChunkFields(Protocol):
    """The fields of a chunk, as in the ``Chunk`` protobuf message."""

    @property
    def sender(self) -> str: ...
    @property
    def transfer_id(self) -> bytes: ...
    @property
    def index(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def total_size(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def data(self) -> bytes | memoryview: ...


class ChunkError(ValueError):
    """A chunk is invalid or inconsistent with its transfer."""


class TransferTooLargeError(ChunkError):
    """A transfer announces more bytes than the receiver accepts."""


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    index: int


@dataclass
class _Transfer:
    total: int
    total_size: int
    last_seen: float
    # Holds leftover memory contents except where a chunk was copied.
    buffer: bytearray
    # Byte ranges of the received chunks, in arrival order.
    spans: list[_Span] = field(default_factory=list)
    indexes: set[int] = field(default_factory=set)
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
        """Bytes received so far by incomplete transfers."""
        with self._lock:
            return sum(t.received_bytes for t in self._transfers.values())

    @property
    def pending_transfers(self) -> int:
        """Number of incomplete transfers."""
        with self._lock:
            return len(self._transfers)

    def add(self, chunk: ChunkFields) -> bytearray | None:
        """Store one chunk; return the whole message when it was the last one.

        A chunk whose index was already received is ignored. The returned
        buffer belongs to the caller; the reassembler keeps no reference.

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
        return transfer.buffer

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
                len(transfer.indexes),
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
        buffer = unwritten_bytearray(chunk.total_size)
        transfer = _Transfer(chunk.total, chunk.total_size, now, buffer)
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
        size = len(chunk.data)
        if size == 0:
            raise ChunkError(f"chunk {chunk.index} is empty")

        if chunk.index in transfer.indexes:
            self.duplicates_ignored += 1
            return False
        span = _Span(chunk.offset, chunk.offset + size, chunk.index)
        if span.end > transfer.total_size:
            raise ChunkError(
                f"chunk {chunk.index} at offset {span.start} with {size} bytes "
                f"ends at byte {span.end}, more than the announced "
                f"{transfer.total_size} bytes"
            )
        if transfer.spans:
            _check_no_overlap(transfer.spans[-1], span)
        # Slice assignment to a bytearray first copies a source that is not
        # a bytearray into a temporary one (CPython 3.11), a memoryview does not.
        with memoryview(transfer.buffer) as view:
            view[span.start : span.end] = chunk.data
        transfer.spans.append(span)
        transfer.indexes.add(chunk.index)
        transfer.received_bytes += size
        transfer.last_seen = now

        if len(transfer.indexes) < transfer.total:
            return False
        ordered = sorted(transfer.spans, key=lambda s: s.start)
        for earlier, later in itertools.pairwise(ordered):
            _check_no_overlap(earlier, later)
        # The spans lie inside the message and do not overlap, so they cover
        # every byte exactly when their sizes add up to total_size.
        if transfer.received_bytes != transfer.total_size:
            raise ChunkError(
                f"chunks hold {transfer.received_bytes} bytes, but the transfer "
                f"announced {transfer.total_size} bytes"
            )
        return True


def _check_no_overlap(other: _Span, span: _Span) -> None:
    if other.start < span.end and span.start < other.end:
        raise ChunkError(
            f"chunk {span.index} (bytes {span.start} to {span.end}) overlaps "
            f"chunk {other.index} (bytes {other.start} to {other.end})"
        )
