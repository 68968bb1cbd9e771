"""Waiting helpers for tests of nodes and transports: no fixed sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from p2pfl_core.communication.message import Message
    from p2pfl_core.communication.protocol import CommunicationProtocol


def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, *, interval: float = 0.002
) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass.

    Use it only for state that has no event to wait on, such as a neighbour
    list after a ``disconnect`` message; prefer :class:`Mailbox` for messages.

    Returns:
        True when the predicate became true in time.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        pause.wait(min(interval, left))
    return True


class Mailbox:
    """Records the messages of some commands that reach one protocol.

    It registers itself as the handler of each command, replacing any
    handler set before.

    Args:
        protocol: The receiving protocol.
        commands: Commands to record, such as ``connect`` or ``ping``.
    """

    def __init__(
        self, protocol: CommunicationProtocol, commands: Iterable[str]
    ) -> None:
        self.protocol = protocol
        self.received: list[tuple[str, str, Message]] = []
        self._condition = threading.Condition()
        for cmd in commands:
            protocol.add_handler(cmd, self._record)

    def _record(self, message: Message, sender: str) -> None:
        with self._condition:
            self.received.append((message.cmd, sender, message))
            self._condition.notify_all()

    def count(self, cmd: str, sender: str | None = None) -> int:
        """Return how many ``cmd`` messages arrived, from ``sender`` if given."""
        with self._condition:
            return self._count(cmd, sender)

    def _count(self, cmd: str, sender: str | None) -> int:
        return sum(
            1
            for got, origin, _ in self.received
            if got == cmd and (sender is None or origin == sender)
        )

    def wait_for(
        self,
        cmd: str,
        count: int = 1,
        *,
        sender: str | None = None,
        timeout: float = 5.0,
    ) -> bool:
        """Wait until ``count`` messages of ``cmd`` arrived.

        Returns:
            True when they arrived within ``timeout`` seconds.
        """
        with self._condition:
            return self._condition.wait_for(
                lambda: self._count(cmd, sender) >= count, timeout
            )


def connect_and_wait(
    first: CommunicationProtocol, second: CommunicationProtocol, timeout: float = 5.0
) -> bool:
    """Connect two started protocols and wait until each lists the other.

    Returns:
        True when both ends became neighbours within ``timeout`` seconds.
    """
    if not first.connect(second.address):
        return False
    return wait_until(lambda: first.address in second.neighbors(), timeout)
