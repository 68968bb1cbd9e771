"""Tests of plugin requirements: an experiment's required_plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from p2pfl_core.errors import PluginError
from p2pfl_core.manager import PluginManager, check_required_plugins, set_plugin_manager

if TYPE_CHECKING:
    from plugin_fixtures import FakeSite

pytest_plugins = ["plugin_fixtures"]


def manager_for(site: FakeSite, **env: str) -> PluginManager:
    """Return a manager that discovers only the fake site, with ``env`` as switches."""
    return PluginManager(env=env, search_path=[str(site.root)])


def problems(requirements: list[str], manager: PluginManager) -> str:
    """Return the message check_required_plugins raises."""
    with pytest.raises(PluginError) as caught:
        check_required_plugins(requirements, manager)
    return str(caught.value)


def test_required_plugins_met(fake_site: FakeSite) -> None:
    """Installed plugins in range, and core itself, pass the check."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum", version="0.1.3")
    manager = manager_for(fake_site)
    check_required_plugins(
        ["p2pfl-krum>=0.1,<0.2", "P2PFL_Krum", "p2pfl-core>=0.1"], manager
    )


def test_required_plugin_not_installed(fake_site: FakeSite) -> None:
    """A missing plugin fails with the pip command that installs it."""
    assert problems(["p2pfl-krum>=0.1"], manager_for(fake_site)) == (
        "required plugins are not available:\n"
        "  p2pfl-krum>=0.1: plugin p2pfl-krum is not installed; "
        "run: pip install 'p2pfl-krum>=0.1'"
    )


def test_required_plugin_wrong_version(fake_site: FakeSite) -> None:
    """An installed plugin outside the range names the installed version."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum", version="0.1.3")
    assert problems(["p2pfl-krum>=0.2"], manager_for(fake_site)) == (
        "required plugins are not available:\n"
        "  p2pfl-krum>=0.2: plugin p2pfl-krum 0.1.3 is installed; "
        "run: pip install 'p2pfl-krum>=0.2'"
    )


def test_required_plugin_disabled(fake_site: FakeSite) -> None:
    """A plugin in P2PFL_DISABLE_PLUGINS fails with the switch in the reason."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, P2PFL_DISABLE_PLUGINS="p2pfl-krum")
    assert problems(["p2pfl-krum"], manager) == (
        "required plugins are not available:\n"
        "  p2pfl-krum: plugin p2pfl-krum is disabled: disabled by "
        "P2PFL_DISABLE_PLUGINS; remove it from that list to load it"
    )


def test_required_plugin_broken(fake_site: FakeSite) -> None:
    """A plugin that failed to load fails with its error."""
    fake_site.add_bomb_plugin("p2pfl-bomb", fake_site.root / "imported")
    assert problems(["p2pfl-bomb"], manager_for(fake_site)) == (
        "required plugins are not available:\n"
        "  p2pfl-bomb: plugin p2pfl-bomb failed to load: ImportError: boom"
    )


def test_required_plugin_loaded_on_request(fake_site: FakeSite) -> None:
    """With autoload off, a required plugin is loaded by the check."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, P2PFL_DISABLE_PLUGIN_AUTOLOAD="1")
    check_required_plugins(["p2pfl-krum"], manager)
    assert manager.plugins["p2pfl-krum"].status == "active"
    assert manager.get("aggregator", "krum").name == "krum"


def test_required_plugins_invalid_and_several(fake_site: FakeSite) -> None:
    """Every problem is listed, an invalid requirement with an example."""
    message = problems(["krum >>> 1", "p2pfl-x"], manager_for(fake_site))
    lines = message.splitlines()
    assert lines[0] == "required plugins are not available:"
    assert lines[1].startswith("  'krum >>> 1' is not a valid requirement (")
    assert lines[1].endswith("); write it like 'p2pfl-krum>=0.1'")
    assert lines[2] == (
        "  p2pfl-x: plugin p2pfl-x is not installed; run: pip install 'p2pfl-x'"
    )


def test_required_plugins_default_manager(fake_site: FakeSite) -> None:
    """Without a manager argument, the process-wide manager is checked."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    set_plugin_manager(manager_for(fake_site))
    check_required_plugins(["p2pfl-krum>=1.0"])
    set_plugin_manager(None)
