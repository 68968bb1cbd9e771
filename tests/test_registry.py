"""Tests of component lookup: plain and qualified names, clashes, and the errors users see."""

from __future__ import annotations

import pytest

from p2pfl_core.errors import PluginError
from p2pfl_core.plugin import AggregatorSpec, CompressorSpec
from p2pfl_core.registry import Conflict, Registry, canonical_name

FEDAVG = AggregatorSpec("fedavg", "p2pfl_core.aggregators.fedavg:FedAvg", "core")
KRUM = AggregatorSpec("krum", "p2pfl_krum.krum:Krum", "from p2pfl-krum")
ROBUST_KRUM = AggregatorSpec("krum", "p2pfl_robust.krum:Krum", "from p2pfl-robust")


def make_registry() -> Registry:
    """Return a registry with core's fedavg and p2pfl-krum's krum."""
    registry = Registry()
    registry.add("p2pfl-core", FEDAVG)
    registry.add("p2pfl-krum", KRUM)
    return registry


def error_of(registry: Registry, kind: str, name: str) -> str:
    """Return the message of the PluginError that looking up ``name`` raises."""
    with pytest.raises(PluginError) as caught:
        registry.get(kind, name)
    return str(caught.value)


def test_canonical_name_spellings() -> None:
    """Case, dots and underscores all normalize to dashes in lowercase."""
    assert canonical_name("P2PFL_Krum") == "p2pfl-krum"
    assert canonical_name("p2pfl.krum") == "p2pfl-krum"
    assert canonical_name("p2pfl--krum") == "p2pfl-krum"


def test_get_plain_name() -> None:
    """A name offered by one plugin resolves to its spec."""
    assert make_registry().get("aggregator", "krum") is KRUM


def test_get_qualified_name_any_spelling() -> None:
    """A name qualified with its plugin resolves, whatever the plugin's spelling."""
    registry = make_registry()
    assert registry.get("aggregator", "p2pfl-krum:krum") is KRUM
    assert registry.get("aggregator", "P2PFL_Krum:krum") is KRUM


def test_names_sorted_once_each() -> None:
    """names lists each name once, sorted, even when two plugins offer it."""
    registry = make_registry()
    registry.add("p2pfl-robust", ROBUST_KRUM)
    assert registry.names("aggregator") == ["fedavg", "krum"]
    assert registry.names("protocol") == []


def test_add_reports_conflict() -> None:
    """Adding a second offer of a name returns the conflict naming both plugins."""
    registry = make_registry()
    conflict = registry.add("p2pfl-robust", ROBUST_KRUM)
    assert conflict == Conflict("aggregator", "krum", ("p2pfl-krum", "p2pfl-robust"))
    assert registry.conflicts() == [conflict]


def test_clash_error_names_both_and_the_ways_out() -> None:
    """An ambiguous name fails, naming both plugins, qualified names and the switch."""
    registry = make_registry()
    registry.add("p2pfl-robust", ROBUST_KRUM)
    assert error_of(registry, "aggregator", "krum") == (
        "aggregator 'krum' is offered by 2 plugins: p2pfl-krum, p2pfl-robust. "
        "Choose one: qualify the name ('p2pfl-krum:krum' or 'p2pfl-robust:krum'), "
        "or disable the others with P2PFL_DISABLE_PLUGINS=<plugin>"
    )


def test_clash_resolved_by_qualified_name() -> None:
    """Qualifying an ambiguous name picks that plugin's spec."""
    registry = make_registry()
    registry.add("p2pfl-robust", ROBUST_KRUM)
    assert registry.get("aggregator", "p2pfl-robust:krum") is ROBUST_KRUM
    assert registry.get("aggregator", "p2pfl-krum:krum") is KRUM


def test_remove_plugin_ends_clash() -> None:
    """Removing one of two offering plugins makes the plain name work again."""
    registry = make_registry()
    registry.add("p2pfl-robust", ROBUST_KRUM)
    registry.remove_plugin("p2pfl-robust")
    assert registry.get("aggregator", "krum") is KRUM
    assert registry.conflicts() == []


def test_unknown_name_suggests_close_match() -> None:
    """A misspelt name suggests the closest one and lists the choices."""
    assert error_of(make_registry(), "aggregator", "krumm") == (
        "unknown aggregator 'krumm'; did you mean 'krum'? choose one of: fedavg, krum"
    )


def test_unknown_name_without_close_match() -> None:
    """A name like no other lists the choices only."""
    assert error_of(make_registry(), "aggregator", "zzz") == (
        "unknown aggregator 'zzz'; choose one of: fedavg, krum"
    )


def test_unknown_kind_with_nothing_installed() -> None:
    """A kind that no plugin offers reports that none is installed."""
    assert error_of(make_registry(), "compressor", "zlib") == (
        "unknown compressor 'zlib'; no compressor is installed"
    )


def test_name_of_failed_plugin_says_which_and_why() -> None:
    """A name matching a plugin that failed to load names the plugin and its error."""
    registry = Registry()
    registry.add("p2pfl-core", FEDAVG)
    registry.note_unavailable("p2pfl-krum", "failed to load: ImportError: boom")
    assert error_of(registry, "aggregator", "krum") == (
        "aggregator 'krum' is unavailable: plugin p2pfl-krum failed to load: "
        "ImportError: boom"
    )


def test_unknown_name_lists_plugins_not_loaded() -> None:
    """An unknown name mentions installed plugins that are not loaded."""
    registry = Registry()
    registry.add("p2pfl-core", FEDAVG)
    registry.note_unavailable("p2pfl-krum", "failed to load: ImportError: boom")
    assert error_of(registry, "aggregator", "median") == (
        "unknown aggregator 'median'; choose one of: fedavg "
        "(installed but not loaded: p2pfl-krum failed to load: ImportError: boom)"
    )


def test_qualified_name_of_failed_plugin() -> None:
    """A name qualified with a plugin that failed to load gives that plugin's error."""
    registry = make_registry()
    registry.note_unavailable(
        "p2pfl-robust", "is disabled: disabled by P2PFL_DISABLE_PLUGINS"
    )
    assert error_of(registry, "aggregator", "p2pfl-robust:krum") == (
        "aggregator 'p2pfl-robust:krum' is unavailable: plugin p2pfl-robust is "
        "disabled: disabled by P2PFL_DISABLE_PLUGINS"
    )


def test_qualified_name_of_other_plugin() -> None:
    """A name qualified with the wrong plugin names the plugins offering it."""
    assert error_of(make_registry(), "aggregator", "p2pfl-core:krum") == (
        "aggregator 'p2pfl-core:krum' not found: plugin p2pfl-core does not offer it; "
        "it is offered by: p2pfl-krum"
    )


def test_forget_unavailable_restores_plain_error() -> None:
    """Once a plugin loads after all, its old failure is no longer reported."""
    registry = make_registry()
    registry.note_unavailable("p2pfl-zlib", "failed to load: ImportError: boom")
    registry.forget_unavailable("p2pfl-zlib")
    registry.add("p2pfl-zlib", CompressorSpec("zlib", "p2pfl_zlib.zlib:Zlib"))
    assert registry.get("compressor", "zlib").factory == "p2pfl_zlib.zlib:Zlib"


def test_load_imports_factory() -> None:
    """load imports the factory named by the spec."""
    from p2pfl_core.aggregators.fedavg import FedAvg

    assert make_registry().load("aggregator", "fedavg") is FedAvg
