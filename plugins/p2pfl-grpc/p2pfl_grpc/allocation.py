"""Memory for large messages: glibc malloc settings and unwritten buffers.

With glibc's default settings, malloc maps every block above a threshold
(128 KiB at first, then adapted to the program) from the kernel when it is
allocated and unmaps it when it is freed (GNU C Library manual, "Malloc
Tunable Parameters"). Each 40 MB message then touches about 10,000 new pages.
On a 2-core virtual machine with glibc 2.36 and CPython 3.11, the page faults
made a 40 MB copy take 13 ms, against 1.3 ms for the same copy into reused
memory. :func:`tune_malloc` raises the mapping and trimming thresholds, so
freed blocks stay in the process and the next message reuses them.

It also limits malloc to one arena. With the thresholds alone, some runs of
``benchmarks/bench_grpc.py`` still took about 10,000 page faults per message,
because the receive buffer, allocated by a gRPC thread, came from a per-thread
arena that gave its memory back to the kernel after each message. With one
arena no run did, and the benchmark's peak resident memory fell from 340-390
MB to 260 MB.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# Blocks up to this size come from the heap and are reused after free.
MMAP_THRESHOLD = 128 * 1024 * 1024
# Free memory at the top of a heap is returned to the kernel only above this.
TRIM_THRESHOLD = 512 * 1024 * 1024
# "0" leaves malloc alone.
TUNE_MALLOC_ENV = "P2PFL_GRPC_TUNE_MALLOC"
# All threads allocate from the main arena.
ARENA_MAX = 1
# Parameters of glibc's mallopt(3), from malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Environment variables through which a user sets the same parameters.
_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_ARENA_MAX",
)

_tuned: bool | None = None
_tune_lock = threading.Lock()


def tune_malloc() -> bool:
    """Keep freed memory for reuse under glibc, once per process.

    It sets ``M_MMAP_THRESHOLD`` to 128 MiB, ``M_TRIM_THRESHOLD`` to
    512 MiB and ``M_ARENA_MAX`` to 1 with ``mallopt``. Blocks above 128 MiB
    are still mapped and unmapped each time. The process returns less freed
    memory to the kernel, and its threads share one malloc lock. Threads that
    allocated before this call may keep their own arenas. Nothing is changed
    when the C library is not glibc, when ``P2PFL_GRPC_TUNE_MALLOC=0`` is
    set, or when ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
    ``MALLOC_ARENA_MAX`` or a ``glibc.malloc`` entry of ``GLIBC_TUNABLES`` is
    set, because those are the user's own settings.

    Returns:
        True when the settings are applied by this call or an earlier one.
    """
    global _tuned
    with _tune_lock:
        if _tuned is None:
            _tuned = _apply()
        return _tuned


def _apply() -> bool:
    if os.environ.get(TUNE_MALLOC_ENV) == "0":
        logger.debug("malloc settings left alone: %s=0", TUNE_MALLOC_ENV)
        return False
    user_set = [name for name in _USER_SETTINGS if name in os.environ]
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        user_set.append("GLIBC_TUNABLES")
    if user_set:
        logger.debug("malloc settings left alone: %s set", ", ".join(user_set))
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        and mallopt(_M_ARENA_MAX, ARENA_MAX)
    ):
        logger.warning("glibc mallopt rejected the settings for large messages")
        return False
    logger.debug(
        "malloc keeps freed blocks up to %d bytes for reuse in %d arena "
        "(%s=0 disables this)",
        MMAP_THRESHOLD,
        ARENA_MAX,
        TUNE_MALLOC_ENV,
    )
    return True


def _bytearray_constructor() -> Callable[[Any, int], Any] | None:
    try:
        function = ctypes.pythonapi.PyByteArray_FromStringAndSize
    except AttributeError:  # not CPython
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
    function.restype = ctypes.py_object
    return function


_new_bytearray = _bytearray_constructor()


def unwritten_bytearray(size: int) -> bytearray:
    """Return a ``bytearray`` of ``size`` bytes whose contents are not set.

    ``bytearray(size)`` writes zeros to every byte at once, so a transfer
    that announces 1 GiB would take 1 GiB of RAM after its first chunk.
    Pages that were never written take no RAM, so with this a transfer
    takes about what has arrived. Python implementations other than CPython
    get ``bytearray(size)``.

    Note:
        The contents are left over from earlier use of the memory. The
        caller must overwrite every byte before anyone else reads it.
    """
    if _new_bytearray is None or size == 0:
        return bytearray(size)
    buffer = _new_bytearray(None, size)
    assert isinstance(buffer, bytearray)
    return buffer
