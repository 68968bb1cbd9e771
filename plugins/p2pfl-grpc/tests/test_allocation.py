"""glibc malloc settings and buffers that are not zeroed."""

from __future__ import annotations

import platform

import pytest

from p2pfl_grpc import allocation
from p2pfl_grpc.allocation import unwritten_bytearray


def test_unwritten_bytearray_has_requested_size() -> None:
    """A buffer of 4096 bytes is a bytearray of length 4096 that can be written."""
    buffer = unwritten_bytearray(4096)
    buffer[4090:4096] = b"abcdef"
    assert type(buffer) is bytearray
    assert len(buffer) == 4096
    assert buffer[4090:] == bytearray(b"abcdef")


def test_unwritten_bytearray_of_zero_bytes_is_empty() -> None:
    """Size 0 gives an empty bytearray."""
    assert unwritten_bytearray(0) == bytearray()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("P2PFL_GRPC_TUNE_MALLOC", "0"),
        ("MALLOC_MMAP_THRESHOLD_", "65536"),
        ("MALLOC_TRIM_THRESHOLD_", "65536"),
        ("MALLOC_ARENA_MAX", "2"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=65536"),
    ],
)
def test_user_setting_leaves_malloc_alone(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """The switch, or a malloc setting of the user, keeps mallopt from being called."""
    calls: list[object] = []
    monkeypatch.setattr(allocation.ctypes, "CDLL", lambda *args: calls.append(args))
    monkeypatch.setenv(name, value)
    assert allocation._apply() is False
    assert calls == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc")
def test_thresholds_applied_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without user settings, glibc accepts the thresholds and the arena limit."""
    for name in (
        "P2PFL_GRPC_TUNE_MALLOC",
        "GLIBC_TUNABLES",
        *allocation._USER_SETTINGS,
    ):
        monkeypatch.delenv(name, raising=False)
    assert allocation._apply() is True
