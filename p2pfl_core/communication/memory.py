"""In-process transport: nodes of one process that exchange encoded bytes.

Nodes never share Python objects: every message is encoded to bytes by the
sender and decoded by the receiver, exactly as over a network, so byte
counts are real and the codec is exercised on every message.
"""

from __future__ import annotations

import threading
from typing import Any

from p2pfl_core.communication.protocol import CommunicationProtocol, ProtocolSettings


class MemoryNetwork:
    """The address book of the memory nodes of one simulation."""

    def __init__(self) -> None:
        self._nodes: dict[str, MemoryProtocol] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def new_address(self) -> str:
        """Return an address not yet used on this network."""
        with self._lock:
            self._counter += 1
            return f"node-{self._counter}"

    def join(self, protocol: MemoryProtocol) -> None:
        """Make ``protocol`` reachable at its address.

        Raises:
            ValueError: Another running node already uses the address.
        """
        with self._lock:
            if protocol.address in self._nodes:
                raise ValueError(f"address {protocol.address!r} is already in use")
            self._nodes[protocol.address] = protocol

    def leave(self, protocol: MemoryProtocol) -> None:
        """Make ``protocol`` unreachable."""
        with self._lock:
            if self._nodes.get(protocol.address) is protocol:
                del self._nodes[protocol.address]

    def lookup(self, address: str) -> MemoryProtocol:
        """Return the node at ``address``.

        Raises:
            ConnectionError: No running node has this address.
        """
        node = self._nodes.get(address)
        if node is None:
            raise ConnectionError(f"no memory node at {address!r}")
        return node


DEFAULT_NETWORK = MemoryNetwork()


class MemoryProtocol(CommunicationProtocol):
    """Transport between nodes of one process.

    Args:
        address: Node address; a fresh ``node-N`` when None.
        settings: Heartbeat, TTL and size settings.
        hooks: pluggy hook relay for observer hooks.
        network: The address book to join; a process-wide one by default.
    """

    name = "memory"

    def __init__(
        self,
        address: str | None = None,
        settings: ProtocolSettings | None = None,
        hooks: Any = None,
        network: MemoryNetwork | None = None,
    ) -> None:
        self.network = network or DEFAULT_NETWORK
        super().__init__(address or self.network.new_address(), settings, hooks)

    def _start_transport(self) -> None:
        self.network.join(self)

    def _stop_transport(self) -> None:
        self.network.leave(self)

    def _open(self, address: str) -> None:
        self.network.lookup(address)

    def _close(self, address: str) -> None:
        pass

    def _transmit(self, address: str, data: bytes) -> None:
        peer = self.network.lookup(address)
        if not peer.running:
            raise ConnectionError(f"memory node {address!r} is stopped")
        peer.deliver(self.address, data)
