"""A process-wide bound on concurrent training and evaluation.

With hundreds of nodes in one process, letting every node train at once
starves the threads that keep nodes alive and slows every step. Nodes take a
slot from this pool around ``fit`` and ``evaluate``; heartbeats and message
dispatch never do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
_size = max(1, os.cpu_count() or 1)


def set_training_slots(size: int) -> None:
    """Set how many nodes of this process may train or evaluate at once.

    Raises:
        ValueError: ``size`` is below 1.
    """
    global _slots, _size
    if size < 1:
        raise ValueError(f"training slots must be >= 1, got {size}")
    with _lock:
        _slots = threading.BoundedSemaphore(size)
        _size = size


def training_slots() -> int:
    """Return the number of concurrent training slots."""
    return _size


@contextmanager
def training_slot() -> Iterator[None]:
    """Hold one training slot for the duration of the block."""
    slots = _slots
    with slots:
        yield
