"""Sending side: one channel, queue and sender thread per neighbour.

``enqueue`` returns at once; the sender thread sends the queued messages in
order, each call with a deadline. A call that fails with UNAVAILABLE or
DEADLINE_EXCEEDED is retried with exponential backoff. When the retries run
out the peer is marked failed, its queue is dropped, and the next ``enqueue``
raises :class:`ConnectionError`, so the protocol drops the neighbour.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from p2pfl_grpc.framing import EncodedMessage, encode_chunk, split_into_chunks
from p2pfl_grpc.proto import node_pb2, node_pb2_grpc
from p2pfl_grpc.ratelimit import RateLimitedLog
from p2pfl_grpc.reassembly import TRANSFER_ID_BYTES
from p2pfl_grpc.server import SERVICE, grpc_message_limit
from p2pfl_grpc.settings import MIB, GrpcSettings
from p2pfl_grpc.tls import channel_options

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# A stream's deadline grows by one second per this many bytes.
STREAM_BYTES_PER_SECOND = 8 * MIB
_STOP = None
_drops = RateLimitedLog(logger)


def open_channel(
    target: str, settings: GrpcSettings, credentials: grpc.ChannelCredentials | None
) -> grpc.Channel:
    """Create a channel to ``target`` with limits, keepalive and fast reconnects."""
    limit = grpc_message_limit(settings)
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        ("grpc.keepalive_time_ms", int(settings.keepalive_seconds * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # gRPC waits 1 s before the first reconnect and up to 120 s later on.
        # A node restarted on the same port should be reached within a second.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        # Nodes of one process must not share connections.
        ("grpc.use_local_subchannel_pool", 1),
        *channel_options(settings.tls),
    ]
    if credentials is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, credentials, options=options)


def _retryable(code: grpc.StatusCode, details: str | None) -> bool:
    # NOTE: a full server (maximum_concurrent_rpcs) and an oversize message both
    # return RESOURCE_EXHAUSTED. Only the status details of grpc distinguish them.
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "Concurrent RPC limit" in (details or "")
    return code in RETRYABLE


class Peer:
    """The outbound link from one node to one neighbour.

    Args:
        sender: Address of the local node, put in every message.
        address: Address of the neighbour.
        settings: Limits, deadlines and retry settings.
        credentials: TLS credentials, or None for plain text.
        on_progress: Called with ``address`` each time the peer takes
            another chunk of a stream. This proves the peer alive while the
            stream delays its heartbeats. Must not block.
    """

    def __init__(
        self,
        sender: str,
        address: str,
        settings: GrpcSettings,
        credentials: grpc.ChannelCredentials | None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.sender = sender
        self._on_progress = on_progress
        self.address = address
        self.settings = settings
        self.channel = open_channel(address, settings, credentials)
        self._stub = node_pb2_grpc.NodeTransportStub(self.channel)  # type: ignore[no-untyped-call]
        # Chunks are serialized by encode_chunk, so gRPC gets them as bytes.
        self._send_chunks = self.channel.stream_unary(
            f"/{SERVICE}/SendChunks",
            request_serializer=None,
            response_deserializer=node_pb2.Ack.FromString,
        )
        self._queue: queue.Queue[EncodedMessage | None] = queue.Queue(
            settings.queue_size
        )
        self._error: ConnectionError | None = None
        self._closing = threading.Event()
        self._draining = threading.Event()
        self._timer: threading.Timer | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"grpc-send-{sender}-{address}", daemon=True
        )

    @property
    def running(self) -> bool:
        """True while the sender thread runs."""
        return self._thread.is_alive()

    @property
    def failed(self) -> bool:
        """True after the retries to this peer ran out."""
        return self._error is not None

    def connect(self) -> None:
        """Ping the peer, then start the sender thread.

        Raises:
            ConnectionError: The peer refused the connection, the TLS
                handshake failed, or no response came within ``connect_timeout``.
        """
        timeout = self.settings.connect_timeout
        request = node_pb2.PingRequest(sender=self.sender)
        try:
            self._stub.Ping(request, timeout=timeout)
        except grpc.RpcError as exc:
            self.channel.close()
            code = exc.code()
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ConnectionError(
                    f"no response from {self.address} within {timeout} s"
                ) from None
            raise ConnectionError(
                f"cannot reach {self.address} (is the node running, and do both "
                f"ends use the same TLS settings?): {code.name} {exc.details()}"
            ) from None
        self._thread.start()

    def enqueue(self, data: EncodedMessage) -> None:
        """Queue one encoded message for sending; never blocks.

        Raises:
            ConnectionError: The peer failed, the link is closing, or
                ``queue_size`` messages are already waiting.
        """
        if self._error is not None:
            raise ConnectionError(str(self._error))
        if self._draining.is_set():
            raise ConnectionError(f"the link to {self.address} is closed")
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            raise ConnectionError(
                f"{self.settings.queue_size} messages to {self.address} are still "
                "waiting; the peer does not keep up"
            ) from None

    def revive(self) -> None:
        """Clear a failure, because the peer was heard from again."""
        if self._error is not None:
            logger.info("%s is reachable again", self.address)
            self._error = None

    def request_close(self) -> None:
        """Ask the sender thread to stop after the messages already queued.

        From now on each queued message gets one attempt, without retries.
        """
        self._draining.set()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            self._abort()

    def close_soon(self, flush_timeout: float) -> None:
        """Like :meth:`close`, but return at once; a timer ends what is left."""
        self.request_close()
        if not self._thread.is_alive():
            self._abort()
            return
        self._timer = threading.Timer(flush_timeout, self._abort)
        self._timer.daemon = True
        self._timer.start()

    def close(self, flush_timeout: float) -> None:
        """Send what is queued for up to ``flush_timeout`` seconds, then stop.

        When this returns, the sender thread has ended, unless a call is
        stuck in gRPC for longer than ``rpc_timeout`` more seconds.
        """
        self.request_close()
        if self._thread.is_alive():
            self._thread.join(flush_timeout)
        self._abort()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.settings.rpc_timeout)

    def _abort(self) -> None:
        self._draining.set()
        self._closing.set()
        self.channel.close()

    def _run(self) -> None:
        try:
            while True:
                data = self._queue.get()
                if data is _STOP or self._closing.is_set():
                    return
                if self._error is None:
                    self._send_with_retries(data)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.channel.close()

    def _send_with_retries(self, data: EncodedMessage) -> None:
        backoff = self.settings.retry_backoff
        for attempt in range(self.settings.retries + 1):
            try:
                self._call(data)
                return
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details()
            except ValueError:  # the channel was closed by close()
                return
            if self._closing.is_set():
                return
            if not _retryable(code, details):
                _drops.warning(
                    f"rejected-{code.name}",
                    "%s rejected a message of %d bytes from %s: %s %s",
                    self.address,
                    len(data),
                    self.sender,
                    code.name,
                    details,
                )
                return
            if self._draining.is_set():
                logger.debug(
                    "%s: message to %s dropped while closing", self.sender, self.address
                )
                return
            if attempt == self.settings.retries:
                break
            if self._draining.wait(backoff * 2**attempt):
                return
        self._fail(f"{code.name} {details}")

    def _call(self, data: EncodedMessage) -> None:
        timeout = self.settings.rpc_timeout
        if len(data) <= self.settings.chunk_bytes:
            envelope = node_pb2.Envelope(sender=self.sender, data=data.join())
            self._stub.Send(envelope, timeout=timeout)
        else:
            timeout += len(data) / STREAM_BYTES_PER_SECOND
            self._send_chunks(self._chunks(data), timeout=timeout)

    def _chunks(self, data: EncodedMessage) -> Iterator[bytes]:
        size = self.settings.chunk_bytes
        total = -(-len(data) // size)
        transfer_id = os.urandom(TRANSFER_ID_BYTES)
        runs = split_into_chunks(data.pieces, size)
        for index, (offset, views) in enumerate(runs):
            if index and self._on_progress is not None:
                self._on_progress(self.address)
            header = node_pb2.Chunk(
                sender=self.sender,
                transfer_id=transfer_id,
                index=index,
                total=total,
                total_size=len(data),
                offset=offset,
            )
            yield encode_chunk(header, views)

    def _fail(self, reason: str) -> None:
        attempts = self.settings.retries + 1
        self._error = ConnectionError(
            f"{self.address} unreachable after {attempts} attempts: {reason}"
        )
        dropped = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            dropped += 1
        logger.warning("%s; dropped %d queued messages", self._error, dropped + 1)
