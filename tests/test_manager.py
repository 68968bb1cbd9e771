"""Tests of plugin loading: statuses, environment switches and plugin mistakes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from p2pfl_core.errors import PluginError
from p2pfl_core.manager import PluginManager, get_plugin_manager
from p2pfl_core.plugin import AggregatorSpec, hookimpl

if TYPE_CHECKING:
    from plugin_fixtures import FakeSite

pytest_plugins = ["plugin_fixtures"]

LOAD, DISABLE = "P2PFL_LOAD_PLUGINS", "P2PFL_DISABLE_PLUGINS"
NO_AUTOLOAD, STRICT = "P2PFL_DISABLE_PLUGIN_AUTOLOAD", "P2PFL_STRICT_PLUGINS"


def manager_for(site: FakeSite, **env: str) -> PluginManager:
    """Return a manager that discovers only the fake site, with ``env`` as switches."""
    return PluginManager(env=env, search_path=[str(site.root)])


def test_builtins_registered_as_core() -> None:
    """Without autoload, only core's built-ins are registered, as an active plugin."""
    manager = PluginManager(env={}, autoload=False)
    core = manager.plugins["p2pfl-core"]
    assert list(manager.plugins) == ["p2pfl-core"]
    assert core.status == "active"
    assert core.builtin
    assert "fedavg" in core.provides["aggregator"]
    assert core.provides["protocol"] == ["memory"]


def test_active_plugin_registers_component(fake_site: FakeSite) -> None:
    """An installed plugin is active, with its version and what it provides."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site)
    info = manager.plugins["p2pfl-krum"]
    assert info.status == "active"
    assert info.version == "1.0"
    assert info.reason == ""
    assert info.provides == {"aggregator": ["krum"]}
    assert info.hooks == ["p2pfl_register_aggregators"]
    assert manager.get("aggregator", "krum").description == "krum of p2pfl-krum"


def test_disabled_plugin_never_imported(fake_site: FakeSite) -> None:
    """P2PFL_DISABLE_PLUGINS marks the plugin disabled from metadata, without importing it."""
    module = fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    info = manager_for(fake_site, **{DISABLE: "p2pfl-krum"}).plugins["p2pfl-krum"]
    assert info.status == "disabled"
    assert (
        info.reason
        == "disabled by P2PFL_DISABLE_PLUGINS; remove it from that list to load it"
    )
    assert info.version == "1.0"
    assert module not in sys.modules


def test_disable_matches_any_spelling(fake_site: FakeSite) -> None:
    """The disable list matches names in any case and with underscores."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{DISABLE: " P2PFL_Krum , other"})
    assert manager.plugins["p2pfl-krum"].status == "disabled"


def test_load_list_loads_only_listed(fake_site: FakeSite) -> None:
    """P2PFL_LOAD_PLUGINS loads the listed plugin and leaves the others unimported."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    median = fake_site.add_aggregator_plugin("p2pfl-median", "median")
    manager = manager_for(fake_site, **{LOAD: "p2pfl-krum"})
    assert manager.plugins["p2pfl-krum"].status == "active"
    assert manager.plugins["p2pfl-median"].status == "disabled"
    assert manager.plugins["p2pfl-median"].reason == (
        "not listed in P2PFL_LOAD_PLUGINS; add it to that list to load it"
    )
    assert median not in sys.modules


def test_load_list_unknown_name_is_error(fake_site: FakeSite) -> None:
    """A name in P2PFL_LOAD_PLUGINS that nothing declares is reported as an error."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    info = manager_for(fake_site, **{LOAD: "p2pfl-krun"}).plugins["p2pfl-krun"]
    assert info.status == "error"
    assert info.reason == (
        "listed in P2PFL_LOAD_PLUGINS, but no installed distribution declares this "
        "plugin; installed plugins: p2pfl-krum"
    )


def test_empty_load_list_is_unset(fake_site: FakeSite) -> None:
    """An empty P2PFL_LOAD_PLUGINS counts as unset, so every plugin loads."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{LOAD: " ", DISABLE: ""})
    assert manager.plugins["p2pfl-krum"].status == "active"


def test_empty_search_path_finds_nothing(fake_site: FakeSite) -> None:
    """A manager given no folders to search lists only core."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = PluginManager(env={}, search_path=[])
    assert list(manager.plugins) == ["p2pfl-core"]


def test_disable_wins_over_load(fake_site: FakeSite) -> None:
    """A plugin in both lists stays disabled."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{LOAD: "p2pfl-krum", DISABLE: "p2pfl-krum"})
    assert manager.plugins["p2pfl-krum"].status == "disabled"


def test_no_autoload_imports_nothing(fake_site: FakeSite) -> None:
    """P2PFL_DISABLE_PLUGIN_AUTOLOAD lists plugins as disabled without importing them."""
    module = fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    info = manager_for(fake_site, **{NO_AUTOLOAD: "1"}).plugins["p2pfl-krum"]
    assert info.status == "disabled"
    assert info.reason == (
        "P2PFL_DISABLE_PLUGIN_AUTOLOAD is set; list the plugin in P2PFL_LOAD_PLUGINS "
        "to load it"
    )
    assert module not in sys.modules


def test_no_autoload_with_load_list(fake_site: FakeSite) -> None:
    """With autoload off, P2PFL_LOAD_PLUGINS still loads the listed plugins."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{NO_AUTOLOAD: "1", LOAD: "p2pfl-krum"})
    assert manager.plugins["p2pfl-krum"].status == "active"


def test_load_plugin_after_no_autoload(fake_site: FakeSite) -> None:
    """load_plugin loads a plugin that autoload skipped; loading twice is harmless."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{NO_AUTOLOAD: "1"})
    assert manager.load_plugin("p2pfl-krum").status == "active"
    assert manager.load_plugin("p2pfl-krum").status == "active"
    assert manager.plugins["p2pfl-krum"].status == "active"
    assert manager.get("aggregator", "krum").name == "krum"


def test_load_plugin_rejects_disabled(fake_site: FakeSite) -> None:
    """load_plugin raises for a plugin named in P2PFL_DISABLE_PLUGINS."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, **{DISABLE: "p2pfl-krum"})
    with pytest.raises(PluginError, match="plugin p2pfl-krum is disabled: disabled by"):
        manager.load_plugin("p2pfl-krum")


def test_load_plugin_unknown_name(fake_site: FakeSite) -> None:
    """load_plugin raises for a plugin that is not installed, listing the installed ones."""
    with pytest.raises(
        PluginError, match="plugin p2pfl-nope is not installed; installed"
    ):
        manager_for(fake_site).load_plugin("p2pfl-nope")


def test_incompatible_plugin_not_registered(fake_site: FakeSite) -> None:
    """A plugin requiring another core is incompatible, not imported, and named on use."""
    module = fake_site.add_aggregator_plugin(
        "p2pfl-krum", "krum", requires=("numpy", "p2pfl-core>=0.2")
    )
    manager = manager_for(fake_site)
    info = manager.plugins["p2pfl-krum"]
    assert info.status == "incompatible"
    assert info.reason == (
        "requires p2pfl-core>=0.2 but 0.1.0 is installed; install a release of the "
        "plugin made for this core, or upgrade whichever of the two is older"
    )
    assert module not in sys.modules
    with pytest.raises(PluginError) as caught:
        manager.get("aggregator", "krum")
    assert str(caught.value) == (
        "aggregator 'krum' is unavailable: plugin p2pfl-krum is incompatible with "
        "the installed core: " + info.reason
    )


def test_core_requirement_under_extra_ignored(fake_site: FakeSite) -> None:
    """A p2pfl-core requirement that applies only to an extra does not count."""
    fake_site.add_aggregator_plugin(
        "p2pfl-krum", "krum", requires=('p2pfl-core>=9; extra == "test"',)
    )
    assert manager_for(fake_site).plugins["p2pfl-krum"].status == "active"


def test_broken_plugin_does_not_stop_others(fake_site: FakeSite) -> None:
    """A plugin raising on import is an error with its message; the others load."""
    fake_site.add_bomb_plugin("p2pfl-bomb", fake_site.root / "imported")
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site)
    assert manager.plugins["p2pfl-bomb"].status == "error"
    assert manager.plugins["p2pfl-bomb"].reason == "ImportError: boom"
    assert manager.plugins["p2pfl-krum"].status == "active"


def test_strict_mode_raises_on_broken(fake_site: FakeSite) -> None:
    """P2PFL_STRICT_PLUGINS=1 turns a broken plugin into a PluginError naming it."""
    fake_site.add_bomb_plugin("p2pfl-bomb", fake_site.root / "imported")
    with pytest.raises(PluginError) as caught:
        manager_for(fake_site, **{STRICT: "1"})
    assert str(caught.value) == (
        "plugins failed to load while P2PFL_STRICT_PLUGINS is set (unset it to skip "
        "broken plugins with a warning):\n  p2pfl-bomb (error): ImportError: boom"
    )


def test_strict_mode_accepts_healthy(fake_site: FakeSite) -> None:
    """P2PFL_STRICT_PLUGINS=1 does not mind disabled plugins."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    fake_site.add_aggregator_plugin("p2pfl-median", "median")
    manager = manager_for(fake_site, **{STRICT: "1", DISABLE: "p2pfl-median"})
    assert manager.plugins["p2pfl-krum"].status == "active"


def test_trace_prints_hook_calls(
    fake_site: FakeSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """P2PFL_TRACE_PLUGINS=1 prints registration and observer hook calls to stderr."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    manager = manager_for(fake_site, P2PFL_TRACE_PLUGINS="1")
    manager.hook.p2pfl_round_finished(node="n1", round=2, metrics={"accuracy": 0.5})
    lines = capsys.readouterr().err.splitlines()
    assert lines[-2:] == [
        "p2pfl trace: p2pfl_round_finished(node='n1', round=2, "
        "metrics={'accuracy': 0.5}) -> implemented by: none",
        "p2pfl trace: p2pfl_round_finished returned []",
    ]
    assert (
        "p2pfl trace: p2pfl_register_aggregators() of plugin p2pfl-krum returned "
        "[AggregatorSpec(name='krum', factory='p2pfl_core.aggregators.fedavg:FedAvg', "
        "description='krum of p2pfl-krum')]"
    ) in lines


def test_no_trace_by_default(
    fake_site: FakeSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the switch, hook calls print nothing."""
    manager = manager_for(fake_site)
    manager.hook.p2pfl_round_finished(node="n1", round=2, metrics={})
    assert capsys.readouterr().err == ""


BAD_MODULES = {
    "undecorated": (
        "def p2pfl_register_aggregators():\n    return []\n",
        "plugin p2pfl-bad: p2pfl_register_aggregators is not decorated with @hookimpl, "
        "so it would be ignored; add `from p2pfl_core.plugin import hookimpl` and "
        "`@hookimpl`",
    ),
    "misspelt": (
        "from p2pfl_core.plugin import hookimpl\n\n@hookimpl\n"
        "def p2pfl_register_aggregator():\n    return []\n",
        "plugin p2pfl-bad: p2pfl_register_aggregator is not a p2pfl hook; did you "
        "mean p2pfl_register_aggregators?",
    ),
    "wrong_spec": (
        "from p2pfl_core.plugin import LearnerSpec, hookimpl\n\n@hookimpl\n"
        "def p2pfl_register_aggregators():\n    return [LearnerSpec('x', 'a.b:C')]\n",
        "PluginError: plugin p2pfl-bad: p2pfl_register_aggregators returned "
        "LearnerSpec(name='x', factory='a.b:C', description='', model_builders=()); "
        "it must return AggregatorSpec records",
    ),
    "single_spec": (
        "from p2pfl_core.plugin import AggregatorSpec, hookimpl\n\n@hookimpl\n"
        "def p2pfl_register_aggregators():\n    return AggregatorSpec('x', 'a.b:C')\n",
        "PluginError: plugin p2pfl-bad: p2pfl_register_aggregators returned one "
        "AggregatorSpec; it must return a list of them",
    ),
    "bad_factory": (
        "from p2pfl_core.plugin import AggregatorSpec, hookimpl\n\n@hookimpl\n"
        "def p2pfl_register_aggregators():\n    return [AggregatorSpec('x', 'nocolon')]\n",
        "ValueError: aggregator 'x': factory 'nocolon' must look like "
        "'package.module:Attr'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MODULES))
def test_plugin_mistake_is_error(fake_site: FakeSite, case: str) -> None:
    """Each common mistake in a plugin module makes it an error with a precise reason."""
    source, expected = BAD_MODULES[case]
    module = fake_site.add_module(f"bad_{case}", source)
    fake_site.add_dist("p2pfl-bad", {"p2pfl-bad": module})
    info = manager_for(fake_site).plugins["p2pfl-bad"]
    assert info.status == "error"
    assert info.reason.removeprefix("PluginError: ") == expected.removeprefix(
        "PluginError: "
    )


def test_hookimpl_with_unknown_argument_is_error(fake_site: FakeSite) -> None:
    """An implementation asking for an argument the hook lacks is rejected by pluggy."""
    module = fake_site.add_module(
        "bad_argument",
        "from p2pfl_core.plugin import hookimpl\n\n@hookimpl\n"
        "def p2pfl_round_finished(node, round, metrics, color):\n    pass\n",
    )
    fake_site.add_dist("p2pfl-bad", {"p2pfl-bad": module})
    info = manager_for(fake_site).plugins["p2pfl-bad"]
    assert info.status == "error"
    assert "color" in info.reason


def test_register_name_taken_raises() -> None:
    """Registering a second plugin under a used name raises PluginError."""
    manager = PluginManager(env={}, autoload=False)
    with pytest.raises(PluginError, match="a plugin named 'p2pfl-core' is already"):
        manager.register(object(), "p2pfl-core")


class ExtraAggregator:
    """A plugin object offering the aggregator ``x``."""

    @staticmethod
    @hookimpl
    def p2pfl_register_aggregators() -> list[AggregatorSpec]:
        return [AggregatorSpec("x", "p2pfl_core.aggregators.fedavg:FedAvg")]


def test_register_object_adds_components() -> None:
    """register adds a plugin object's components under the given name."""
    manager = PluginManager(env={}, autoload=False)
    info = manager.register(ExtraAggregator(), "p2pfl-x", version="2.0")
    assert info.provides == {"aggregator": ["x"]}
    assert manager.get("aggregator", "p2pfl-x:x").name == "x"
    assert manager.plugins["p2pfl-x"].version == "2.0"


def test_unregister_removes_components() -> None:
    """unregister drops the plugin, its hooks and its components."""
    manager = PluginManager(env={}, autoload=False)
    manager.register(ExtraAggregator(), "p2pfl-x")
    manager.unregister("p2pfl-x")
    assert "x" not in manager.names("aggregator")
    assert "p2pfl-x" not in manager.plugins
    assert manager.hook_table()["p2pfl_register_aggregators"] == ["p2pfl-core"]


def test_plugin_manager_fixture_is_default(plugin_manager: PluginManager) -> None:
    """The pytest fixture installs a fresh core-only manager as the process default."""
    assert get_plugin_manager() is plugin_manager
    assert list(plugin_manager.plugins) == ["p2pfl-core"]
