"""Model gossip: send each neighbour the encoded models it still lacks.

Models are identified by a key such as ``("model", round, contributor)`` or
``("aggregate", round, "")``. A node remembers which keys each neighbour has
(because it sent them, received them from it, or was notified), and sends a
key to a neighbour at most once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

ModelKey = tuple[str, int, str]


class ModelGossip:
    """Encoded models of recent rounds and who has them.

    Args:
        send: ``send(neighbor, key, payload) -> bool`` transmits one model.
    """

    def __init__(
        self, send: Callable[[str, ModelKey, bytes | memoryview], bool]
    ) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._payloads: dict[ModelKey, bytes | memoryview] = {}
        self._has: dict[str, set[ModelKey]] = defaultdict(set)

    def has(self, key: ModelKey) -> bool:
        """Return True when this node has ``key``."""
        return key in self._payloads

    def add(
        self, key: ModelKey, payload: bytes | memoryview, *, sender: str | None = None
    ) -> bool:
        """Store a model; return False when it was already held."""
        with self._lock:
            if sender is not None:
                self._has[sender].add(key)
            if key in self._payloads:
                return False
            self._payloads[key] = payload
            return True

    def mark(self, neighbor: str, keys: Iterable[ModelKey]) -> None:
        """Record that ``neighbor`` has ``keys``."""
        with self._lock:
            self._has[neighbor].update(keys)

    def neighbor_has(self, neighbor: str, key: ModelKey) -> bool:
        """Return True when ``neighbor`` is known to hold ``key``."""
        with self._lock:
            return key in self._has.get(neighbor, ())

    def push(self, key: ModelKey, neighbors: Iterable[str]) -> int:
        """Send ``key`` to each of ``neighbors`` that lacks it; return the count."""
        payload = self._payloads.get(key)
        if payload is None:
            return 0
        sent = 0
        for neighbor in neighbors:
            with self._lock:
                if key in self._has[neighbor]:
                    continue
                self._has[neighbor].add(key)
            if self._send(neighbor, key, payload):
                sent += 1
            else:
                with self._lock:
                    self._has[neighbor].discard(key)
        return sent

    def forget_before(self, round: int) -> None:
        """Drop the models of rounds before ``round``."""
        with self._lock:
            self._payloads = {k: v for k, v in self._payloads.items() if k[1] >= round}
            for keys in self._has.values():
                stale = [k for k in keys if k[1] < round]
                keys.difference_update(stale)

    def clear(self) -> None:
        """Forget every model and what neighbours hold, for a new learning run."""
        with self._lock:
            self._payloads.clear()
            self._has.clear()

    def forget_neighbor(self, neighbor: str) -> None:
        """Drop what is known about a neighbour that left."""
        with self._lock:
            self._has.pop(neighbor, None)
