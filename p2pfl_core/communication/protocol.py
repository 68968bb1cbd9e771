"""The transport interface, with neighbours, heartbeats and flooding on top.

A transport plugin implements four methods (:meth:`_open`, :meth:`_close`,
:meth:`_transmit`, plus :meth:`start`/:meth:`stop` around its server) and
hands every received message to :meth:`CommunicationProtocol.deliver`. The
base class does the rest the same way for every transport:

- neighbours: ``connect`` sends a ``connect`` message, and the receiver adds
  the sender as a neighbour too;
- liveness: a process-wide heartbeat thread, separate from training, sends
  ``beat`` to every neighbour each period. Any message from a neighbour
  refreshes its deadline. A neighbour silent for ``heartbeat_timeout``
  seconds is evicted;
- flooding: a message with a TTL is forwarded once to every other
  neighbour, and a time-based seen cache drops duplicates before decoding;
- dispatch: shared workers decode each node's messages in arrival order,
  one worker per node at a time, and call the handler registered for the
  command.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from p2pfl_core.communication.message import (
    MAX_TTL,
    PREFIX_SIZE,
    Message,
    decode_message,
    peek_id_and_ttl,
    with_ttl,
)
from p2pfl_core.communication.scheduler import dispatch_pool, heartbeat_scheduler
from p2pfl_core.errors import DecodeError

logger = logging.getLogger(__name__)

Handler = Callable[[Message, str], None]
CONNECT, DISCONNECT, BEAT = "connect", "disconnect", "beat"
# Start of the JSON header of a heartbeat as Message.encode writes it; a
# heartbeat with this header is recognised without decoding.
_BEAT_HEADER = b'{"cmd":"beat"'
_DRAIN_BATCH = 64


@dataclass
class ProtocolSettings:
    """Timing and size settings shared by every transport.

    Args:
        heartbeat_period: Seconds between heartbeats to each neighbour.
        heartbeat_timeout: Seconds of silence after which a neighbour is
            evicted.
        ttl: Hops a flooded command may travel; at least the network diameter.
        seen_seconds: How long a message id is remembered to drop duplicates.
        max_message_bytes: Largest message accepted, or None for no limit.
    """

    heartbeat_period: float = 1.0
    heartbeat_timeout: float = 5.0
    ttl: int = 64
    seen_seconds: float = 120.0
    max_message_bytes: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_period < self.heartbeat_timeout:
            raise ValueError(
                "heartbeat_period must be positive and below heartbeat_timeout, got "
                f"{self.heartbeat_period} and {self.heartbeat_timeout}"
            )
        if not 1 <= self.ttl <= MAX_TTL:
            raise ValueError(f"ttl must be between 1 and {MAX_TTL}, got {self.ttl}")


class SeenCache:
    """Message ids seen recently; entries expire after a time, not a count."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ids: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, msg_id: bytes) -> bool:
        """Remember ``msg_id``; return False when it was already known."""
        now = time.monotonic()
        with self._lock:
            while self._ids:
                oldest, seen_at = next(iter(self._ids.items()))
                if now - seen_at < self.seconds:
                    break
                del self._ids[oldest]
            if msg_id in self._ids:
                return False
            self._ids[msg_id] = now
            return True


class CommunicationProtocol(ABC):
    """One node's endpoint on the network.

    Args:
        address: The node's address, which is also its id.
        settings: Heartbeat, TTL and size settings.
        hooks: pluggy hook relay for the message observer hooks, or None.
    """

    name = "protocol"

    def __init__(
        self,
        address: str,
        settings: ProtocolSettings | None = None,
        hooks: Any = None,
    ) -> None:
        self.address = address
        self.settings = settings or ProtocolSettings()
        self._hooks = hooks
        self._observe = bool(
            hooks is not None
            and (
                hooks.p2pfl_message_sent.get_hookimpls()
                or hooks.p2pfl_message_received.get_hookimpls()
            )
        )
        self._handlers: dict[str, Handler] = {}
        self._neighbors: dict[str, float] = {}
        self._neighbors_lock = threading.Lock()
        self._connecting: set[str] = set()
        self._lost_callbacks: list[Callable[[str], None]] = []
        self._seen = SeenCache(self.settings.seen_seconds)
        self._inbox: queue.SimpleQueue[tuple[str, bytes | bytearray]] = (
            queue.SimpleQueue()
        )
        self._scheduled = False
        self._idle_callbacks: list[Callable[[], None]] = []
        self._beat = Message(BEAT, address).encode()
        self._beat_handle = -1
        self._pending = 0
        self._idle = threading.Condition()
        self._running = threading.Event()
        self._stopping = threading.Event()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_sent: dict[str, int] = defaultdict(int)
        self.messages_received: dict[str, int] = defaultdict(int)
        self.duplicates_dropped = 0
        self.invalid_dropped = 0

    # -- transport part, implemented by each plugin -------------------------

    @abstractmethod
    def _open(self, address: str) -> None:
        """Prepare a link to ``address`` (create a channel, look up a peer).

        Raises:
            ConnectionError: The peer cannot be reached.
        """

    @abstractmethod
    def _close(self, address: str) -> None:
        """Release the link to ``address``; must not raise."""

    @abstractmethod
    def _transmit(self, address: str, data: bytes) -> None:
        """Send encoded bytes to ``address``.

        Called from workflow, dispatcher and heartbeat threads; it must be
        thread safe and should not block for long.

        Raises:
            ConnectionError: The bytes could not be handed to the peer.
        """

    def _start_transport(self) -> None:
        """Start the transport's server, if it has one."""

    def _stop_transport(self) -> None:
        """Stop the transport's server, if it has one."""

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the transport and register with the shared dispatch and heartbeat threads."""
        if self._running.is_set():
            return
        self._stopping.clear()
        self._running.set()
        self._start_transport()
        self._beat_handle = heartbeat_scheduler().add(
            self._heartbeat_tick, self.settings.heartbeat_period
        )

    def stop(self, *, notify: bool = True) -> None:
        """Stop the transport; a second call does nothing.

        Args:
            notify: Send ``disconnect`` to the neighbours first. False
                simulates a crash.
        """
        if not self._running.is_set():
            return
        if notify:
            for neighbor in self.neighbors():
                self._send_raw(
                    neighbor, Message(DISCONNECT, self.address).encode(), DISCONNECT
                )
        self._running.clear()
        self._stopping.set()
        heartbeat_scheduler().remove(self._beat_handle)
        self._stop_transport()
        for neighbor in self.neighbors():
            self._close(neighbor)
        with self._neighbors_lock:
            self._neighbors.clear()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running.is_set()

    # -- neighbours ----------------------------------------------------------

    def connect(self, address: str) -> bool:
        """Connect to ``address``; both ends become neighbours.

        Returns:
            True when the peer was reached.
        """
        if address == self.address:
            return False
        try:
            self._open(address)
        except ConnectionError as exc:
            logger.warning("%s: cannot connect to %s: %s", self.address, address, exc)
            return False
        # The peer must see CONNECT before anything else from us, so the
        # neighbour is listed (and gossiped to) only after CONNECT is sent.
        # Until then its replies are accepted through _connecting.
        with self._neighbors_lock:
            self._connecting.add(address)
        try:
            sent = self._send_raw(
                address, Message(CONNECT, self.address).encode(), CONNECT
            )
            if sent:
                self._add_neighbor(address)
        finally:
            with self._neighbors_lock:
                self._connecting.discard(address)
        return sent

    def disconnect(self, address: str) -> None:
        """Tell ``address`` we leave, and forget it."""
        if address in self.neighbors():
            self._send_raw(
                address, Message(DISCONNECT, self.address).encode(), DISCONNECT
            )
        self._remove_neighbor(address, lost=False)

    def neighbors(self) -> list[str]:
        """Return the current neighbours, sorted."""
        with self._neighbors_lock:
            return sorted(self._neighbors)

    def on_neighbor_lost(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(address)`` when a neighbour is evicted or fails."""
        self._lost_callbacks.append(callback)

    def _add_neighbor(self, address: str) -> None:
        with self._neighbors_lock:
            self._neighbors[address] = time.monotonic()

    def _remove_neighbor(self, address: str, *, lost: bool) -> None:
        with self._neighbors_lock:
            known = self._neighbors.pop(address, None) is not None
        if not known:
            return
        self._close(address)
        if lost:
            logger.info("%s: lost neighbour %s", self.address, address)
            for callback in self._lost_callbacks:
                callback(address)

    # -- sending -------------------------------------------------------------

    def add_handler(self, cmd: str, handler: Handler) -> None:
        """Call ``handler(message, sender)`` for every message of ``cmd``."""
        self._handlers[cmd] = handler

    def send(self, address: str, message: Message) -> bool:
        """Send a message to one neighbour; return False when it failed."""
        return self._send_raw(address, message.encode(), message.cmd)

    def broadcast(self, message: Message) -> None:
        """Flood a command to every node, with the configured TTL.

        The message is also marked as seen, so it is not delivered back here.
        """
        if message.ttl == 0:
            message = Message(
                message.cmd,
                message.origin,
                message.round,
                message.args,
                message.payload,
                self.settings.ttl,
                message.msg_id,
            )
        self._seen.add(message.msg_id)
        data = message.encode()
        for neighbor in self.neighbors():
            self._send_raw(neighbor, data, message.cmd)

    def _send_raw(self, address: str, data: bytes, cmd: str) -> bool:
        if not self._running.is_set():
            return False
        try:
            self._transmit(address, data)
        except ConnectionError as exc:
            if self._running.is_set():
                logger.info("%s: send to %s failed: %s", self.address, address, exc)
                self._remove_neighbor(address, lost=True)
            return False
        self.bytes_sent += len(data)
        self.messages_sent[cmd] += 1
        if self._observe:
            self._hooks.p2pfl_message_sent(
                node=self.address, peer=address, cmd=cmd, nbytes=len(data)
            )
        return True

    # -- receiving -----------------------------------------------------------

    def mark_alive(self, address: str) -> None:
        """Refresh a neighbour's deadline without delivering a message.

        A transport calls this when it receives other proof of life, such as a
        chunk of a long stream that delays the heartbeats queued behind it.
        """
        with self._neighbors_lock:
            if address in self._neighbors:
                self._neighbors[address] = time.monotonic()

    def deliver(self, sender: str, data: bytes | bytearray) -> None:
        """Accept bytes from ``sender``; called by the transport's threads.

        The sender's deadline is refreshed here, before queueing, so a busy
        dispatcher never makes a live neighbour look dead. A heartbeat from a
        neighbour ends here and is never queued.
        """
        if not self._running.is_set():
            return
        with self._neighbors_lock:
            known = sender in self._neighbors
            if known:
                self._neighbors[sender] = time.monotonic()
        if known and data.startswith(_BEAT_HEADER, PREFIX_SIZE):
            self.bytes_received += len(data)
            self.messages_received[BEAT] += 1
            return
        with self._idle:
            self._pending += 1
            schedule = not self._scheduled
            self._scheduled = True
            self._inbox.put((sender, data))
        if schedule:
            dispatch_pool().submit(self._drain)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every received message has been handled.

        Returns:
            False when messages were still pending after ``timeout`` seconds.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def on_idle(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` each time the inbox has been emptied."""
        self._idle_callbacks.append(callback)

    def _drain(self) -> None:
        """Handle queued messages in order; runs on one shared worker at a time."""
        for _ in range(_DRAIN_BATCH):
            try:
                sender, data = self._inbox.get_nowait()
            except queue.Empty:
                break
            try:
                if self._running.is_set():
                    self._dispatch(sender, data)
            except Exception:  # a handler bug must not stop the node's dispatch
                logger.exception(
                    "%s: error while handling a message from %s", self.address, sender
                )
            finally:
                with self._idle:
                    self._pending -= 1
        with self._idle:
            if not self._inbox.empty():
                dispatch_pool().submit(self._drain)
                return
            self._scheduled = False
            self._idle.notify_all()
        for callback in self._idle_callbacks:
            callback()

    def _dispatch(self, sender: str, data: bytes | bytearray) -> None:
        try:
            msg_id, ttl = peek_id_and_ttl(data)
        except DecodeError as exc:
            self._drop_invalid(sender, exc)
            return
        if ttl > 0 and not self._seen.add(msg_id):
            self.duplicates_dropped += 1
            return
        try:
            message = decode_message(data, max_bytes=self.settings.max_message_bytes)
        except DecodeError as exc:
            self._drop_invalid(sender, exc)
            return
        with self._neighbors_lock:
            known = sender in self._neighbors or sender in self._connecting
        if message.cmd == CONNECT:
            if not known:
                try:
                    self._open(sender)
                except ConnectionError as exc:
                    logger.warning(
                        "%s: cannot connect back to %s: %s", self.address, sender, exc
                    )
                    return
            self._add_neighbor(sender)
        elif message.cmd == DISCONNECT:
            self._remove_neighbor(sender, lost=False)
            return
        elif not known:
            self._drop_invalid(sender, DecodeError(f"{message.cmd} from unknown peer"))
            return
        self.bytes_received += len(data)
        self.messages_received[message.cmd] += 1
        if self._observe:
            self._hooks.p2pfl_message_received(
                node=self.address, peer=sender, cmd=message.cmd, nbytes=len(data)
            )
        if ttl > 1:
            forwarded = with_ttl(data, ttl - 1)
            for neighbor in self.neighbors():
                if neighbor != sender and neighbor != message.origin:
                    self._send_raw(neighbor, forwarded, message.cmd)
        handler = self._handlers.get(message.cmd)
        if handler is not None:
            handler(message, sender)

    def _drop_invalid(self, sender: str, error: Exception) -> None:
        self.invalid_dropped += 1
        if self.invalid_dropped <= 10 or self.invalid_dropped % 1000 == 0:
            logger.warning(
                "%s: dropped an invalid message from %s (%d so far): %s",
                self.address,
                sender,
                self.invalid_dropped,
                error,
            )

    # -- heartbeats ----------------------------------------------------------

    def _heartbeat_tick(self) -> None:
        """Send one heartbeat to every neighbour and evict the silent ones."""
        if not self._running.is_set() or self._stopping.is_set():
            return
        for neighbor in self.neighbors():
            self._send_raw(neighbor, self._beat, BEAT)
        now = time.monotonic()
        with self._neighbors_lock:
            silent = [
                address
                for address, last in self._neighbors.items()
                if now - last > self.settings.heartbeat_timeout
            ]
        for address in silent:
            logger.warning(
                "%s: no message from %s for %.1f s; evicting it",
                self.address,
                address,
                self.settings.heartbeat_timeout,
            )
            self._remove_neighbor(address, lost=True)
