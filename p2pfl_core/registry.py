"""Records of plugins and their components, with the lookup errors users see."""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from p2pfl_core.errors import PluginError
from p2pfl_core.plugin import ComponentSpec

ACTIVE, DISABLED, INCOMPATIBLE, ERROR = "active", "disabled", "incompatible", "error"
STATUSES = (ACTIVE, DISABLED, INCOMPATIBLE, ERROR)
"""Plugin statuses: loaded, skipped by a switch, wrong core version, failed."""


def canonical_name(name: str) -> str:
    """Return a distribution or plugin name in the normalized form of PEP 503.

    ``P2PFL_Krum``, ``p2pfl.krum`` and ``p2pfl-krum`` all become ``p2pfl-krum``.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


#: Components of this repository's plugins, named in the error for a missing one.
KNOWN_PROVIDERS: dict[tuple[str, str], str] = {
    ("learner", "torch"): "p2pfl-torch",
    ("learner", "tensorflow"): "p2pfl-tensorflow",
    ("learner", "flax"): "p2pfl-flax",
    ("protocol", "grpc"): "p2pfl-grpc",
    ("aggregator", "krum"): "p2pfl-krum",
    ("aggregator", "multikrum"): "p2pfl-krum",
    ("aggregator", "bulyan"): "p2pfl-krum",
}


@dataclass
class PluginInfo:
    """Record of one installed plugin: its version, status and components.

    Args:
        name: Entry point name, which by convention is the distribution name.
        version: Version of the distribution, or "" when unknown.
        status: One of ``active``, ``disabled``, ``incompatible``, ``error``.
        reason: Why the plugin is not active, with the way to change it.
        provides: Kind to the names of the components it registered.
        builtin: True for core's own components.
        module: The entry point's target, such as ``p2pfl_krum.plugin``.
        distribution: The distribution that declares the entry point.
        hooks: Names of the hooks the plugin implements.
    """

    name: str
    version: str
    status: str
    reason: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)
    builtin: bool = False
    module: str = ""
    distribution: str = ""
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "provides": self.provides,
            "builtin": self.builtin,
            "module": self.module,
            "distribution": self.distribution,
            "hooks": self.hooks,
        }


@dataclass(frozen=True)
class Conflict:
    """Two or more plugins offering the same kind and name.

    Args:
        kind: Component kind, such as ``aggregator``.
        name: The component name they share.
        plugins: The plugins offering it, in registration order.
    """

    kind: str
    name: str
    plugins: tuple[str, ...]

    def message(self) -> str:
        """Return the error text: who clashes and the two ways to choose."""
        qualified = " or ".join(f"'{plugin}:{self.name}'" for plugin in self.plugins)
        return (
            f"{self.kind} '{self.name}' is offered by {len(self.plugins)} plugins: "
            f"{', '.join(self.plugins)}. Choose one: qualify the name ({qualified}), "
            f"or disable the others with P2PFL_DISABLE_PLUGINS=<plugin>"
        )


class Registry:
    """Components offered by plugins, looked up by kind and name.

    A name may be qualified with the plugin that offers it
    (``p2pfl-krum:krum``), which is how a user chooses between two plugins
    that offer the same name. An unqualified name offered by two plugins is
    an error, so discovery order never decides.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[tuple[str, ComponentSpec]]] = (
            defaultdict(list)
        )
        self._unavailable: dict[str, str] = {}

    def add(self, plugin: str, spec: ComponentSpec) -> Conflict | None:
        """Record that ``plugin`` offers ``spec``.

        Returns:
            The conflict this creates with other plugins, or None.
        """
        offers = self._entries[(spec.kind, spec.name)]
        offers.append((plugin, spec))
        if len(offers) < 2:
            return None
        return Conflict(spec.kind, spec.name, tuple(owner for owner, _ in offers))

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component of ``plugin``."""
        for key in list(self._entries):
            remaining = [(o, s) for o, s in self._entries[key] if o != plugin]
            if remaining:
                self._entries[key] = remaining
            else:
                del self._entries[key]

    def note_unavailable(self, plugin: str, reason: str) -> None:
        """Record a plugin that is installed but not loaded, for lookup errors.

        Args:
            plugin: The plugin name.
            reason: Its status and why, such as ``error: ImportError: boom``.
        """
        self._unavailable[plugin] = reason

    def forget_unavailable(self, plugin: str) -> None:
        """Drop the note about ``plugin``, once it is loaded after all."""
        self._unavailable.pop(plugin, None)

    def names(self, kind: str) -> list[str]:
        """Return the sorted names registered for ``kind``, each once."""
        return sorted(name for (k, name) in self._entries if k == kind)

    def offers(self, kind: str, name: str) -> list[tuple[str, ComponentSpec]]:
        """Return every (plugin, spec) pair registered under ``kind`` and ``name``."""
        return list(self._entries.get((kind, name), []))

    def specs(self, kind: str) -> list[tuple[str, ComponentSpec]]:
        """Return every (plugin, spec) pair of ``kind``, sorted by name."""
        return [
            offer
            for (k, _), offers in sorted(self._entries.items())
            if k == kind
            for offer in offers
        ]

    def conflicts(self) -> list[Conflict]:
        """Return every kind and name offered by more than one plugin."""
        return [
            Conflict(kind, name, tuple(owner for owner, _ in offers))
            for (kind, name), offers in sorted(self._entries.items())
            if len(offers) > 1
        ]

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Return the spec registered as ``name`` for ``kind``.

        Args:
            kind: Component kind, such as ``aggregator``.
            name: A plain name (``krum``) or one qualified with its plugin
                (``p2pfl-krum:krum``).

        Raises:
            PluginError: The name is unknown, offered by two plugins, or
                belongs to a plugin that is not loaded. The message names the
                plugins involved and how to fix it.
        """
        plugin, _, plain = name.rpartition(":")
        offers = self._entries.get((kind, plain), [])
        if plugin:
            target = canonical_name(plugin)
            offers = [(p, s) for p, s in offers if canonical_name(p) == target]
        if len(offers) == 1:
            return offers[0][1]
        if len(offers) > 1:
            raise PluginError(
                Conflict(kind, plain, tuple(p for p, _ in offers)).message()
            )
        if plugin:
            raise PluginError(self._unknown_qualified_message(kind, plugin, plain))
        raise PluginError(self._unknown_message(kind, plain))

    def load(self, kind: str, name: str) -> Any:
        """Return the imported factory of the component ``name``."""
        return self.get(kind, name).load()

    def _unknown_qualified_message(self, kind: str, plugin: str, plain: str) -> str:
        reason = self._unavailable_reason(plugin)
        if reason:
            return f"{kind} '{plugin}:{plain}' is unavailable: plugin {plugin} {reason}"
        owners = [p for p, _ in self._entries.get((kind, plain), [])]
        if owners:
            return (
                f"{kind} '{plugin}:{plain}' not found: plugin {plugin} does not offer "
                f"it; it is offered by: {', '.join(owners)}"
            )
        return f"{kind} '{plugin}:{plain}' not found; " + self._choices(kind, plain)

    def _unknown_message(self, kind: str, plain: str) -> str:
        for plugin in self._unavailable:
            if _plugin_matches(plugin, plain):
                return (
                    f"{kind} '{plain}' is unavailable: plugin {plugin} "
                    f"{self._unavailable[plugin]}"
                )
        message = f"unknown {kind} '{plain}'; " + self._choices(kind, plain)
        provider = KNOWN_PROVIDERS.get((kind, plain))
        if provider is not None:
            message += f"; '{plain}' comes with {provider}: pip install {provider}"
        if self._unavailable:
            not_loaded = "; ".join(
                f"{plugin} {reason}"
                for plugin, reason in sorted(self._unavailable.items())
            )
            message += f" (installed but not loaded: {not_loaded})"
        return message

    def _unavailable_reason(self, plugin: str) -> str:
        target = canonical_name(plugin)
        for name, reason in self._unavailable.items():
            if canonical_name(name) == target:
                return reason
        return ""

    def _choices(self, kind: str, plain: str) -> str:
        names = self.names(kind)
        if not names:
            return f"no {kind} is installed"
        close = difflib.get_close_matches(plain, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}choose one of: {', '.join(names)}"


def _plugin_matches(plugin: str, component: str) -> bool:
    """Return True when a plugin's name suggests it offers ``component``.

    ``p2pfl-krum`` and ``krum`` both match ``krum``; a plugin that is not
    loaded cannot report what it offers, so its name is the only clue.
    """
    plugin_name = canonical_name(plugin)
    target = canonical_name(component)
    return plugin_name == target or plugin_name.endswith("-" + target)
