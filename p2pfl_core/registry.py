"""Registry of components keyed by kind and name."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from p2pfl_core.errors import PluginError
from p2pfl_core.plugin import ComponentSpec


class Registry:
    """Components offered by plugins, looked up by kind and name.

    A name may be qualified with the plugin that offers it
    (``p2pfl-krum:krum``) to choose between two plugins that offer the same
    name.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[tuple[str, ComponentSpec]]] = (
            defaultdict(list)
        )
        self._failed: dict[str, str] = {}

    def add(self, plugin: str, spec: ComponentSpec) -> None:
        """Record that ``plugin`` offers ``spec``."""
        self._entries[(spec.kind, spec.name)].append((plugin, spec))

    def note_failed(self, plugin: str, reason: str) -> None:
        """Record a plugin that could not be loaded, for better error messages."""
        self._failed[plugin] = reason

    def names(self, kind: str) -> list[str]:
        """Return the sorted names registered for ``kind``."""
        return sorted(name for (k, name) in self._entries if k == kind)

    def offers(self, kind: str, name: str) -> list[tuple[str, ComponentSpec]]:
        """Return every (plugin, spec) pair registered under ``kind`` and ``name``."""
        return list(self._entries.get((kind, name), []))

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Return the spec registered as ``name`` for ``kind``.

        Raises:
            PluginError: The name is unknown, offered by two plugins, or
                belongs to a plugin that failed to load.
        """
        plugin, _, plain = name.rpartition(":")
        offers = self._entries.get((kind, plain), [])
        if plugin:
            offers = [(p, s) for p, s in offers if p == plugin]
        if len(offers) == 1:
            return offers[0][1]
        if len(offers) > 1:
            owners = [p for p, _ in offers]
            choices = ", ".join(f"'{p}:{plain}'" for p in owners)
            raise PluginError(
                f"{kind} '{plain}' is offered by {len(owners)} plugins: "
                f"{', '.join(owners)}; disable one (P2PFL_DISABLE_PLUGINS) or "
                f"qualify the name, e.g. {choices}"
            )
        raise PluginError(self._unknown_message(kind, name, plain))

    def load(self, kind: str, name: str) -> Any:
        """Return the imported factory of the component ``name``."""
        return self.get(kind, name).load()

    def _unknown_message(self, kind: str, name: str, plain: str) -> str:
        for plugin, reason in self._failed.items():
            if plugin.split("-", 1)[-1] == plain or plugin == plain:
                return (
                    f"{kind} '{name}' is unavailable: plugin {plugin} failed to "
                    f"load: {reason}"
                )
        choices = ", ".join(self.names(kind)) or "(none installed)"
        message = f"unknown {kind} '{name}'; choose one of: {choices}"
        if self._failed:
            failed = "; ".join(f"{p}: {r}" for p, r in sorted(self._failed.items()))
            message += f" (plugins that failed to load: {failed})"
        return message
