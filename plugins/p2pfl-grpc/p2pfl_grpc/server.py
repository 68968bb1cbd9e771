"""Receiving side: the gRPC handlers and the server that hosts them.

Handlers check what arrives, hand complete messages to a callback that only
queues them, and return. They never call another node, so even a pool of one
thread cannot deadlock when nodes send to each other at the same time.
Malformed or oversize input is answered with an error status, logged at a
limited rate, and dropped; the server keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from p2pfl_grpc.address import check_sender
from p2pfl_grpc.framing import MalformedChunkError, ReceivedChunk, parse_chunk
from p2pfl_grpc.proto import node_pb2
from p2pfl_grpc.ratelimit import RateLimitedLog
from p2pfl_grpc.reassembly import (
    ChunkError,
    Reassembler,
    TransferKey,
    TransferTooLargeError,
)
from p2pfl_grpc.settings import GrpcSettings

logger = logging.getLogger(__name__)

SERVICE = node_pb2.DESCRIPTOR.services_by_name["NodeTransport"].full_name
# Room for the protobuf fields around the payload bytes.
PROTOBUF_OVERHEAD = 64 * 1024
GRPC_MAX_MESSAGE = 2**31 - 1
_INVALID = object()
_ACK = node_pb2.Ack()


def grpc_message_limit(settings: GrpcSettings) -> int:
    """Return the gRPC send and receive limit derived from ``max_message_bytes``."""
    return min(settings.max_message_bytes + PROTOBUF_OVERHEAD, GRPC_MAX_MESSAGE)


def _parser(message_type: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return _INVALID

    return parse


def _parse_chunk(data: bytes) -> ReceivedChunk | object:
    try:
        return parse_chunk(data)
    except MalformedChunkError:
        return _INVALID


@dataclass
class _Stream:
    sender: str | None = None
    started: set[TransferKey] = field(default_factory=set)


class _IdleWatch:
    """Cancel a stream that sends no chunk for ``timeout`` seconds.

    One timer thread per open stream; it is re-armed only when it fires.
    """

    def __init__(self, context: grpc.ServicerContext, timeout: float) -> None:
        self._context = context
        self._timeout = timeout
        self._last = time.monotonic()
        self._stopped = False
        self.expired = False
        self._arm(timeout)

    def touch(self) -> None:
        """Record that a chunk arrived."""
        self._last = time.monotonic()

    def stop(self) -> None:
        """Stop watching; the stream has ended."""
        self._stopped = True
        self._timer.cancel()

    def _arm(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._check)
        self._timer.daemon = True
        self._timer.start()

    def _check(self) -> None:
        if self._stopped:
            return
        idle = time.monotonic() - self._last
        if idle < self._timeout:
            self._arm(self._timeout - idle)
            return
        self.expired = True
        self._context.cancel()


class TransportServicer:
    """Handlers of the ``NodeTransport`` service.

    Args:
        receive: Called with (sender, data) for every complete message; must
            not block. ``data`` is a ``bytearray`` for a message that came in
            chunks, and ``bytes`` otherwise.
        reassembler: Where chunks are put back together.
        max_message_bytes: Largest message accepted.
        alive: Called with the sender of every valid chunk, so a long transfer
            keeps its sender from being evicted as silent; must not block.
    """

    def __init__(
        self,
        receive: Callable[[str, bytes | bytearray], None],
        reassembler: Reassembler,
        max_message_bytes: int,
        alive: Callable[[str], None] | None = None,
    ) -> None:
        self._receive = receive
        self._alive = alive
        self.reassembler = reassembler
        self._max_message_bytes = max_message_bytes
        self._drops = RateLimitedLog(logger)
        self.dropped = 0

    def generic_handler(self) -> grpc.GenericRpcHandler:
        """Return the handler to register on a ``grpc.Server``."""
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Ping": grpc.unary_unary_rpc_method_handler(
                    self.ping,
                    request_deserializer=_parser(node_pb2.PingRequest),
                    response_serializer=node_pb2.Ack.SerializeToString,
                ),
                "Send": grpc.unary_unary_rpc_method_handler(
                    self.send,
                    request_deserializer=_parser(node_pb2.Envelope),
                    response_serializer=node_pb2.Ack.SerializeToString,
                ),
                "SendChunks": grpc.stream_unary_rpc_method_handler(
                    self.send_chunks,
                    request_deserializer=_parse_chunk,
                    response_serializer=node_pb2.Ack.SerializeToString,
                ),
            },
        )

    def ping(self, request: Any, context: grpc.ServicerContext) -> node_pb2.Ack:
        """Return an empty reply to a connection check."""
        if request is _INVALID:
            return self._reject(context, "malformed PingRequest protobuf")
        return _ACK

    def send(self, request: Any, context: grpc.ServicerContext) -> node_pb2.Ack:
        """Accept one whole message."""
        if request is _INVALID:
            return self._reject(context, "malformed Envelope protobuf")
        problem = check_sender(request.sender)
        if problem is None and not request.data:
            problem = "empty message"
        if problem is None and len(request.data) > self._max_message_bytes:
            return self._reject(
                context,
                f"message of {len(request.data)} bytes exceeds the limit of "
                f"{self._max_message_bytes} bytes (max_message_bytes)",
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
        if problem is not None:
            return self._reject(context, problem)
        self._receive(request.sender, request.data)
        return _ACK

    def send_chunks(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> node_pb2.Ack:
        """Accept a stream of chunks; deliver each message once it is complete.

        Transfers of this stream still incomplete when it ends are discarded,
        also when no chunk arrives for the reassembler's timeout.
        """
        stream = _Stream()
        watch = _IdleWatch(context, self.reassembler.timeout)
        try:
            for chunk in request_iterator:
                watch.touch()
                problem = self._take_chunk(chunk, stream)
                if problem is not None:
                    return self._reject(context, *problem)
        except grpc.RpcError:
            reason = "the sender disconnected"
            if watch.expired:
                reason = f"no chunk for {self.reassembler.timeout:.0f} s"
            self._drops.warning(
                "stream-broken",
                "Discarded a partial message from %s: %s",
                stream.sender,
                reason,
            )
        finally:
            watch.stop()
            self.reassembler.discard(stream.started)
        return _ACK

    def _take_chunk(
        self, chunk: Any, stream: _Stream
    ) -> tuple[str, grpc.StatusCode] | None:
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        if chunk is _INVALID:
            return "malformed Chunk protobuf", invalid
        if stream.sender is None:
            problem = check_sender(chunk.sender)
            if problem is not None:
                return problem, invalid
            stream.sender = chunk.sender
        elif chunk.sender != stream.sender:
            return "chunks of one stream from two senders", invalid
        stream.started.add((stream.sender, bytes(chunk.transfer_id)))
        try:
            data = self.reassembler.add(chunk)
        except TransferTooLargeError as exc:
            return str(exc), grpc.StatusCode.RESOURCE_EXHAUSTED
        except ChunkError as exc:
            return str(exc), invalid
        if data is not None:
            self._receive(stream.sender, data)
        elif self._alive is not None:
            self._alive(stream.sender)
        return None

    def _reject(
        self,
        context: grpc.ServicerContext,
        reason: str,
        code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> node_pb2.Ack:
        self.dropped += 1
        self._drops.warning(
            f"reject-{code.name}",
            "Dropped a message from %s: %s",
            context.peer(),
            reason,
        )
        context.set_code(code)
        context.set_details(reason)
        return _ACK


def build_server(
    servicer: TransportServicer,
    bind_target: str,
    settings: GrpcSettings,
    credentials: grpc.ServerCredentials | None,
) -> tuple[grpc.Server, ThreadPoolExecutor, int]:
    """Create a server bound to ``bind_target`` (not yet started).

    Returns:
        The server, its thread pool (shut it down after ``server.stop``) and
        the bound port.

    Raises:
        OSError: The address cannot be bound, for example a port in use.
    """
    limit = grpc_message_limit(settings)
    options = [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        # Two live servers on one port would split the traffic between them.
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 4000),
        ("grpc.http2.max_ping_strikes", 0),
    ]
    pool = ThreadPoolExecutor(
        settings.max_workers, thread_name_prefix=f"grpc-{bind_target}"
    )
    server = grpc.server(
        pool,
        handlers=[servicer.generic_handler()],
        options=options,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(bind_target)
        else:
            port = server.add_secure_port(bind_target, credentials)
    except RuntimeError as exc:
        pool.shutdown(wait=False)
        raise OSError(f"cannot listen on {bind_target}: {exc}") from None
    if port == 0:
        pool.shutdown(wait=False)
        raise OSError(f"cannot listen on {bind_target}: address in use or invalid")
    return server, pool, port
