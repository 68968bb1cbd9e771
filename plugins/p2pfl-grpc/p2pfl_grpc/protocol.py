"""The ``grpc`` transport: nodes in separate processes or on separate machines.

Each node runs a gRPC server and keeps one outbound channel per neighbour
(see :mod:`p2pfl_grpc.server` and :mod:`p2pfl_grpc.peer`). Neighbours,
heartbeats, flooding and dispatch come from
:class:`~p2pfl_core.communication.protocol.CommunicationProtocol`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, cast

import grpc
from p2pfl_core.communication.message import Message
from p2pfl_core.communication.protocol import CommunicationProtocol, ProtocolSettings
from p2pfl_core.errors import ConfigError, P2PFLError

from p2pfl_grpc.address import DEFAULT_HOST, is_loopback, join_address, split_address
from p2pfl_grpc.allocation import tune_malloc
from p2pfl_grpc.framing import EncodedMessage
from p2pfl_grpc.peer import Peer
from p2pfl_grpc.reassembly import Reassembler
from p2pfl_grpc.server import TransportServicer, build_server
from p2pfl_grpc.settings import GrpcSettings
from p2pfl_grpc.tls import channel_credentials, server_credentials

logger = logging.getLogger(__name__)

# Seconds that stop() and disconnect() give queued messages to go out.
CLOSE_FLUSH_SECONDS = 2.0
# Seconds in-flight calls get to finish when the server stops.
SERVER_GRACE_SECONDS = 0.5
_UNSPECIFIED_HOSTS = {"0.0.0.0", "::"}


class MessageTooLargeError(P2PFLError, ValueError):
    """An encoded message is larger than ``max_message_bytes``."""


class GrpcProtocol(CommunicationProtocol):
    """Transport over gRPC, with chunked streaming and optional (mutual) TLS.

    The server binds when the object is created, so with port 0 ``address``
    contains the port picked by the system from the start.

    Args:
        address: ``host:port`` that peers use to reach this node, which is
            also its id; ``127.0.0.1:0`` when None.
        settings: Heartbeat and TTL settings; their ``max_message_bytes`` is
            replaced by ``grpc_settings.max_message_bytes``.
        hooks: pluggy hook relay for observer hooks.
        grpc_settings: Limits, deadlines, TLS and the listening host.

    Raises:
        ConfigError: Plain text on a non-loopback host without
            ``insecure``, or an address that peers cannot reach.
        OSError: The port cannot be bound.

    Note:
        The first instance in a process sets glibc's malloc parameters for
        the whole process, so large messages reuse memory. Set
        ``P2PFL_GRPC_TUNE_MALLOC=0`` to prevent it, and see
        :func:`p2pfl_grpc.allocation.tune_malloc` for what is set.
    """

    name = "grpc"

    def __init__(
        self,
        address: str | None = None,
        settings: ProtocolSettings | None = None,
        hooks: Any = None,
        grpc_settings: GrpcSettings | None = None,
    ) -> None:
        config = grpc_settings or GrpcSettings()
        tune_malloc()
        host, port = _checked_host_port(address or f"{DEFAULT_HOST}:0")
        bind_host = config.bind_host or host
        _check_plain_text(config, host, bind_host)

        self.grpc_settings = config
        self._bind_host = bind_host
        self._server_credentials = (
            server_credentials(config.tls) if config.tls else None
        )
        self._channel_credentials = (
            channel_credentials(config.tls) if config.tls else None
        )
        self.reassembler = Reassembler(
            config.max_message_bytes, config.transfer_timeout
        )
        self.servicer = TransportServicer(
            self._on_receive,
            self.reassembler,
            config.max_message_bytes,
            self._mark_alive,
        )

        self._peers: dict[str, Peer] = {}
        self._retiring: list[Peer] = []
        self._peers_lock = threading.Lock()

        # Bind before the base class stores the address, so port 0 is
        # already replaced by the real port in everything derived from it.
        self._server: grpc.Server | None
        self._server, self._pool, port = build_server(
            self.servicer,
            join_address(bind_host, port),
            config,
            self._server_credentials,
        )
        settings = dataclasses.replace(
            settings or ProtocolSettings(), max_message_bytes=config.max_message_bytes
        )
        super().__init__(join_address(host, port), settings, hooks)

    @classmethod
    def from_settings(
        cls,
        address: str | None,
        settings: dict[str, Any] | None,
        protocol_settings: ProtocolSettings,
        hooks: Any = None,
    ) -> GrpcProtocol:
        """Build a node's transport from the ``protocol`` mapping of a file.

        ``max_message_bytes`` of the mapping wins; without it, the value of
        ``protocol_settings`` is used, and the default otherwise.

        Raises:
            ConfigError: A key is unknown or invalid; the message names it.
        """
        config = GrpcSettings.from_mapping(settings)
        limit = protocol_settings.max_message_bytes
        if "max_message_bytes" not in (settings or {}) and limit is not None:
            config = dataclasses.replace(config, max_message_bytes=limit)
        return cls(address, protocol_settings, hooks, grpc_settings=config)

    # -- server --------------------------------------------------------------

    def _start_transport(self) -> None:
        if self._server is None:
            _, port = split_address(self.address)
            self._server, self._pool, _ = build_server(
                self.servicer,
                join_address(self._bind_host, port),
                self.grpc_settings,
                self._server_credentials,
            )
        self._server.start()
        security = "plain text"
        if self.grpc_settings.tls is not None:
            security = "mutual TLS" if self.grpc_settings.tls.mutual else "TLS"
        logger.info("gRPC node %s listening with %s", self.address, security)

    def _stop_transport(self) -> None:
        self._close_peers()
        self._release_server(SERVER_GRACE_SECONDS)
        logger.info("gRPC node %s stopped", self.address)

    def stop(self, *, notify: bool = True) -> None:
        """Stop the node and free its port; a second call does nothing.

        Args:
            notify: Send ``disconnect`` to the neighbours first. False
                simulates a crash.
        """
        super().stop(notify=notify)
        self._close_peers()
        if self._server is not None:  # bound in __init__ but never started
            self._server.start()
            self._release_server(0)

    def _release_server(self, grace: float) -> None:
        server, pool = self._server, self._pool
        self._server = None
        if server is not None:
            server.stop(grace).wait()
            pool.shutdown(wait=True)

    def _on_receive(self, sender: str, data: bytes | bytearray) -> None:
        with self._peers_lock:
            peer = self._peers.get(sender)
        if peer is not None and peer.failed:
            peer.revive()
        # NOTE: a chunked message arrives as the bytearray it was reassembled
        # in, to save a copy. deliver() and decode_message() use only what
        # bytes and bytearray share, although deliver() is typed for bytes.
        self.deliver(sender, cast(bytes, data))

    def _mark_alive(self, address: str) -> None:
        # A stream delays the heartbeats queued behind it, so each chunk taken
        # or received proves the peer alive.
        self.mark_alive(address)

    # -- links to neighbours -------------------------------------------------

    def _open(self, address: str) -> None:
        host, _ = _checked_host_port(address, error=ConnectionError)
        with self._peers_lock:
            existing = self._peers.get(address)
        if existing is not None and not existing.failed:
            return
        if self._channel_credentials is None and not self.grpc_settings.insecure:
            if not is_loopback(host):
                raise ConnectionError(
                    f"plain-text gRPC to {address} is disabled because it is not a "
                    "loopback address; set protocol.tls, or protocol.insecure: true "
                    "on a trusted network"
                )
        peer = Peer(
            self.address,
            address,
            self.grpc_settings,
            self._channel_credentials,
            on_progress=self._mark_alive,
        )
        peer.connect()
        with self._peers_lock:
            replaced = self._peers.get(address)
            self._peers[address] = peer
        if replaced is not None:
            self._retire(replaced, 0.0)

    def _close(self, address: str) -> None:
        with self._peers_lock:
            peer = self._peers.pop(address, None)
        if peer is not None:
            self._retire(peer, CLOSE_FLUSH_SECONDS)

    def _retire(self, peer: Peer, flush_timeout: float) -> None:
        # Called from shared heartbeat and dispatch threads, so it only starts
        # the close; stop() waits for the retired peers' threads.
        with self._peers_lock:
            self._retiring = [p for p in self._retiring if p.running]
            self._retiring.append(peer)
        try:
            peer.close_soon(flush_timeout)
        except Exception:  # _close must not raise, whatever grpc does
            logger.exception(
                "%s: error while closing the link to %s", self.address, peer.address
            )

    def _close_peers(self) -> None:
        with self._peers_lock:
            peers = [*self._peers.values(), *self._retiring]
            self._peers.clear()
            self._retiring.clear()
        for peer in peers:
            peer.request_close()
        deadline = time.monotonic() + CLOSE_FLUSH_SECONDS
        for peer in peers:
            peer.close(max(0.0, deadline - time.monotonic()))

    def send(self, address: str, message: Message) -> bool:
        """Send a message to one neighbour; return False when it failed.

        The payload is not copied into one buffer with the header. The
        message waits in the queue as its two parts, and each chunk is cut
        from them when it is sent, so the payload must not change meanwhile.
        """
        encoded = EncodedMessage(message.encode_parts())
        # NOTE: the base class only takes len() of the data it passes on to
        # _transmit, which accepts an EncodedMessage as well as bytes.
        return self._send_raw(address, cast(bytes, encoded), message.cmd)

    def _transmit(self, address: str, data: bytes | EncodedMessage) -> None:
        limit = self.grpc_settings.max_message_bytes
        if len(data) > limit:
            raise MessageTooLargeError(
                f"message of {len(data)} bytes to {address} exceeds the limit of "
                f"{limit} bytes; raise protocol.max_message_bytes on every node, "
                "or send a smaller model"
            )
        with self._peers_lock:
            peer = self._peers.get(address)
        if peer is None:
            raise ConnectionError(f"{address} is not connected; call connect() first")
        if isinstance(data, bytes):
            data = EncodedMessage((data,))
        peer.enqueue(data)


def _checked_host_port(
    address: str, error: type[Exception] = ConfigError
) -> tuple[str, int]:
    try:
        host, port = split_address(address)
    except ValueError as exc:
        raise error(str(exc)) from None
    if host in _UNSPECIFIED_HOSTS:
        raise error(
            f"address {address} cannot be reached by peers; use this machine's "
            "address and set protocol.bind_host: 0.0.0.0 to listen on all interfaces"
        )
    return host, port


def _check_plain_text(config: GrpcSettings, host: str, bind_host: str) -> None:
    if config.tls is not None or config.insecure:
        return
    for name, value in (("address", host), ("bind_host", bind_host)):
        if not is_loopback(value):
            raise ConfigError(
                f"protocol: plain-text gRPC on {name} {value} is disabled because it "
                "is not a loopback address; set protocol.tls (see "
                "docs/multi-machine.md), or protocol.insecure: true on a trusted "
                "network"
            )
