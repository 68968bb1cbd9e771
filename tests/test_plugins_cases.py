"""Known failures of plugin systems, each with the exact outcome p2pfl gives.

- Two distributions declaring the same entry point name must not stop the
  plugins discovered after them, and must not be resolved by discovery order.
- A disabled plugin must never be imported.
- The configure hook must reach plugins registered after it was called,
  exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from p2pfl_core.config import check_components, load_experiment
from p2pfl_core.errors import ConfigError, PluginError
from p2pfl_core.manager import PluginManager
from p2pfl_core.plugin import hookimpl

if TYPE_CHECKING:
    from plugin_fixtures import FakeSite

pytest_plugins = ["plugin_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
CLI = "from p2pfl_core.cli.main import main; main()"


def run_cli(site: FakeSite, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``p2pfl ARGS`` in a new process with the fake site on its path."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("P2PFL_")}
    path = [str(site.root), environment.get("PYTHONPATH", "")]
    environment.update(env, PYTHONPATH=os.pathsep.join(p for p in path if p))
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def duplicate_entry_site(site: FakeSite) -> None:
    """dist-a and dist-b both declare entry point ``krum``; dist-c declares ``median``."""
    site.add_aggregator_plugin("dist-a", "krum", entry="krum")
    site.add_aggregator_plugin("dist-b", "krum", entry="krum")
    site.add_aggregator_plugin("dist-c", "median", entry="median")


def test_duplicate_entry_point_keeps_others(fake_site: FakeSite) -> None:
    """`plugins list --json` exits 0, lists median, and one krum naming both distributions."""
    duplicate_entry_site(fake_site)
    result = run_cli(fake_site, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["plugins"]
    krum = [row for row in rows if row["name"] == "krum"]
    median = [row for row in rows if row["name"] == "median"]
    assert len(krum) == 1
    assert krum[0]["status"] == "error"
    assert "dist-a 1.0" in krum[0]["reason"]
    assert "dist-b 1.0" in krum[0]["reason"]
    assert median[0]["status"] == "active"
    assert "dist-a" in result.stderr
    assert "dist-b" in result.stderr


def test_duplicate_entry_point_blocks_use(
    fake_site: FakeSite,
) -> None:
    """An experiment using `aggregator: krum` fails with an error naming both distributions."""
    duplicate_entry_site(fake_site)
    manager = PluginManager(env={}, search_path=[str(fake_site.root)])
    experiment = load_experiment(
        {"nodes": 2, "rounds": 1, "aggregator": "krum", "learner": {"name": "numpy"}}
    )
    with pytest.raises(ConfigError) as caught:
        check_components(experiment, manager)
    message = str(caught.value)
    assert message.startswith(
        "experiment: aggregator: aggregator 'krum' is unavailable: plugin krum "
        "failed to load: the entry point name 'krum' is declared by 2 distributions: "
        "dist-a 1.0"
    )
    assert "dist-b 1.0" in message
    assert manager.get("aggregator", "median").name == "median"


def test_duplicate_entry_point_resolved_by_disabling_one(fake_site: FakeSite) -> None:
    """Disabling dist-b by its distribution name leaves dist-a's krum active."""
    duplicate_entry_site(fake_site)
    manager = PluginManager(
        env={"P2PFL_DISABLE_PLUGINS": "dist-b"}, search_path=[str(fake_site.root)]
    )
    assert manager.plugins["krum"].status == "active"
    assert manager.plugins["krum"].distribution == "dist-a"
    assert manager.plugins["krum (dist-b)"].status == "disabled"
    assert manager.get("aggregator", "krum").description == "krum of dist-a"


def test_same_component_from_two_plugins(fake_site: FakeSite) -> None:
    """Two plugins offering aggregator krum: plain name fails naming both, qualified works."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    fake_site.add_aggregator_plugin("p2pfl-robust", "krum")
    manager = PluginManager(env={}, search_path=[str(fake_site.root)])
    with pytest.raises(PluginError) as caught:
        manager.get("aggregator", "krum")
    assert str(caught.value) == (
        "aggregator 'krum' is offered by 2 plugins: p2pfl-krum, p2pfl-robust. "
        "Choose one: qualify the name ('p2pfl-krum:krum' or 'p2pfl-robust:krum'), "
        "or disable the others with P2PFL_DISABLE_PLUGINS=<plugin>"
    )
    assert manager.get("aggregator", "p2pfl-robust:krum").description == (
        "krum of p2pfl-robust"
    )


def test_same_component_resolved_by_disabling_one(fake_site: FakeSite) -> None:
    """Disabling one of two plugins offering krum makes the plain name work."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    fake_site.add_aggregator_plugin("p2pfl-robust", "krum")
    manager = PluginManager(
        env={"P2PFL_DISABLE_PLUGINS": "p2pfl-robust"}, search_path=[str(fake_site.root)]
    )
    assert manager.get("aggregator", "krum").description == "krum of p2pfl-krum"


def bomb_site(site: FakeSite) -> Path:
    """Add p2pfl-bomb (writes a marker, raises ImportError("boom")) and p2pfl-krum."""
    marker = site.root.parent / "imported"
    site.add_bomb_plugin("p2pfl-bomb", marker)
    site.add_aggregator_plugin("p2pfl-krum", "krum")
    return marker


def test_disabled_plugin_not_imported_by_list(fake_site: FakeSite) -> None:
    """`plugins list` with p2pfl-bomb disabled exits 0, lists it disabled, never imports it."""
    marker = bomb_site(fake_site)
    result = run_cli(
        fake_site, "plugins", "list", "--json", P2PFL_DISABLE_PLUGINS="p2pfl-bomb"
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["plugins"]}
    assert rows["p2pfl-bomb"]["status"] == "disabled"
    assert rows["p2pfl-bomb"]["version"] == "1.0"
    assert rows["p2pfl-krum"]["status"] == "active"
    assert not marker.exists()


@pytest.mark.slow
def test_disabled_plugin_not_imported_by_run(
    fake_site: FakeSite, tmp_path: Path
) -> None:
    """`p2pfl run` of a built-ins-only experiment with p2pfl-bomb disabled exits 0."""
    marker = bomb_site(fake_site)
    result = run_cli(
        fake_site,
        "run",
        str(ROOT / "examples" / "digits-numpy.yaml"),
        "--set",
        "rounds=1",
        "--set",
        "nodes=2",
        "--output",
        str(tmp_path / "results"),
        P2PFL_DISABLE_PLUGINS="p2pfl-bomb",
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_enabled_bomb_fails_alone(fake_site: FakeSite) -> None:
    """Re-enabled, p2pfl-bomb is listed as error with `boom`; the others still list."""
    marker = bomb_site(fake_site)
    result = run_cli(fake_site, "plugins", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    bomb = next(i for i, line in enumerate(lines) if line.startswith("p2pfl-bomb "))
    assert lines[bomb].split()[1:3] == ["1.0", "error"]
    assert lines[bomb + 1] == "    ImportError: boom"
    assert any(line.split()[:3] == ["p2pfl-krum", "1.0", "active"] for line in lines)
    assert marker.exists()


class Recorder:
    """A plugin that records the seed of every configuration it receives."""

    def __init__(self, name: str, calls: list[tuple[str, int]]) -> None:
        self.name = name
        self.calls = calls

    @hookimpl
    def p2pfl_configure(self, config: Any) -> None:
        self.calls.append((self.name, config.seed))


def test_configure_reaches_late_plugin_once() -> None:
    """Early and Late each get one configure call with seed 7, in that order."""
    manager = PluginManager(env={}, autoload=False)
    calls: list[tuple[str, int]] = []
    manager.register(Recorder("early", calls), "early")
    manager.configure(SimpleNamespace(seed=7))
    manager.register(Recorder("late", calls), "late")
    assert calls == [("early", 7), ("late", 7)]


def test_configure_subset_caller_reaches_late_plugin_once() -> None:
    """Through a subset caller excluding Early, only Late gets a call, once."""
    manager = PluginManager(env={}, autoload=False)
    calls: list[tuple[str, int]] = []
    early = Recorder("early", calls)
    manager.register(early, "early")
    caller = manager.pm.subset_hook_caller("p2pfl_configure", remove_plugins=[early])
    caller.call_historic(kwargs={"config": SimpleNamespace(seed=7)})
    manager.register(Recorder("late", calls), "late")
    assert calls == [("late", 7)]


CONFIGURE_MODULE = """
from p2pfl_core.plugin import hookimpl

SEEDS = []


@hookimpl
def p2pfl_configure(config):
    SEEDS.append(config.seed)
"""


def test_configure_reaches_lazily_loaded_plugin(fake_site: FakeSite) -> None:
    """An installed plugin loaded after configure (autoload off) gets seed 7 once."""
    module = fake_site.add_module("late_plugin", CONFIGURE_MODULE)
    fake_site.add_dist("p2pfl-late", {"p2pfl-late": module})
    manager = PluginManager(
        env={"P2PFL_DISABLE_PLUGIN_AUTOLOAD": "1"}, search_path=[str(fake_site.root)]
    )
    manager.configure(SimpleNamespace(seed=7))
    manager.load_plugin("p2pfl-late")
    manager.load_plugin("p2pfl-late")
    assert sys.modules[module].SEEDS == [7]
