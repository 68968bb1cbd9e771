"""Process-wide threads shared by every node of a process.

With hundreds of nodes in one process, a dispatcher and a heartbeat thread
per node would mean thousands of runnable threads. CPython's GIL gives each
runnable thread a slice in turn, so a heartbeat could wait seconds.
Instead, a few daemon workers drain the nodes' inboxes (each node's
messages stay in order, handled by one worker at a time), and one daemon
thread sends every node's heartbeats.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class WorkerPool:
    """A fixed set of daemon threads running submitted callables in order.

    Args:
        size: Number of worker threads.
    """

    def __init__(self, size: int) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"p2pfl-dispatch-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the next free worker."""
        self._tasks.put(task)

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task()
            except Exception:  # one failing task must not stop the worker
                logger.exception("dispatch task failed")


class HeartbeatScheduler:
    """One daemon thread that calls each registered ``beat()`` on its period."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, float, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        thread = threading.Thread(
            target=self._run, name="p2pfl-heartbeats", daemon=True
        )
        thread.start()

    def add(self, beat: Callable[[], None], period: float) -> int:
        """Call ``beat`` now and then every ``period`` seconds; return a handle."""
        handle = next(self._ids)
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic(), handle, period, beat))
            self._condition.notify()
        return handle

    def remove(self, handle: int) -> None:
        """Stop calling the beat registered under ``handle``."""
        with self._condition:
            self._cancelled.add(handle)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    timeout = (
                        self._queue[0][0] - time.monotonic() if self._queue else None
                    )
                    self._condition.wait(timeout)
                due, handle, period, beat = heapq.heappop(self._queue)
                if handle in self._cancelled:
                    self._cancelled.discard(handle)
                    continue
                heapq.heappush(
                    self._queue,
                    (max(due + period, time.monotonic()), handle, period, beat),
                )
            try:
                beat()
            except Exception:  # a failing beat must not stop the others
                logger.exception("heartbeat failed")


_lock = threading.Lock()
_workers: WorkerPool | None = None
_heartbeats: HeartbeatScheduler | None = None


def dispatch_pool() -> WorkerPool:
    """Return the process-wide dispatch workers, started on first use.

    The size is ``P2PFL_DISPATCH_THREADS`` or 4.
    """
    global _workers
    with _lock:
        if _workers is None:
            _workers = WorkerPool(int(os.environ.get("P2PFL_DISPATCH_THREADS", "4")))
        return _workers


def heartbeat_scheduler() -> HeartbeatScheduler:
    """Return the process-wide heartbeat thread, started on first use."""
    global _heartbeats
    with _lock:
        if _heartbeats is None:
            _heartbeats = HeartbeatScheduler()
        return _heartbeats
