"""Shared fixtures of core's tests."""

from __future__ import annotations

import pytest

from p2pfl_core.manager import set_plugin_manager


@pytest.fixture(autouse=True)
def _fresh_default_manager() -> None:
    """Give each test a process-wide plugin manager of its own."""
    set_plugin_manager(None)
    yield
    set_plugin_manager(None)
