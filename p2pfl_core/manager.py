"""Plugin manager: registers the built-ins, then each entry point on its own."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from p2pfl_core import __version__, hookspecs
from p2pfl_core.errors import PluginError
from p2pfl_core.plugin import ENTRY_POINT_GROUP, PROJECT_NAME, ComponentSpec
from p2pfl_core.registry import Registry

logger = logging.getLogger(__name__)

CORE_NAME = "p2pfl-core"
_REGISTER_HOOKS = {
    "protocol": "p2pfl_register_protocols",
    "learner": "p2pfl_register_learners",
    "aggregator": "p2pfl_register_aggregators",
    "compressor": "p2pfl_register_compressors",
    "stage": "p2pfl_register_stages",
    "dataset": "p2pfl_register_datasets",
    "partitioner": "p2pfl_register_partitioners",
    "topology": "p2pfl_register_topologies",
}
ACTIVE, DISABLED, INCOMPATIBLE, ERROR = "active", "disabled", "incompatible", "error"


@dataclass
class PluginInfo:
    """What is known about one plugin.

    Args:
        name: Entry point name, which is the distribution name.
        version: Version of the distribution, or "" when unknown.
        status: One of ``active``, ``disabled``, ``incompatible``, ``error``.
        reason: Why the plugin is not active.
        provides: Kind to the names of the components it registered.
        builtin: True for core's own components.
        module: The entry point's module.
    """

    name: str
    version: str
    status: str
    reason: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)
    builtin: bool = False
    module: str = ""

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
        }


def _env_list(env: Mapping[str, str], key: str) -> set[str] | None:
    value = env.get(key)
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def _env_flag(env: Mapping[str, str], key: str) -> bool:
    return env.get(key, "").strip().lower() in {"1", "true", "yes", "on"}


def core_version() -> str:
    """Return the installed version of p2pfl-core."""
    try:
        return metadata.version(CORE_NAME)
    except metadata.PackageNotFoundError:
        return __version__


class PluginManager:
    """Loads plugins and resolves components by kind and name.

    Args:
        env: Environment to read the ``P2PFL_*`` switches from.
        autoload: Load entry points of group ``p2pfl``; False registers the
            built-ins only.
    """

    def __init__(
        self, env: Mapping[str, str] | None = None, *, autoload: bool = True
    ) -> None:
        self.env = os.environ if env is None else env
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        if _env_flag(self.env, "P2PFL_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(lambda text: logger.warning("%s", text.rstrip()))
            self.pm.enable_tracing()
        self.plugins: dict[str, PluginInfo] = {}
        self.registry = Registry()
        self._register_builtins()
        if autoload:
            self._load_entry_points()

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, for calling observer hooks."""
        return self.pm.hook

    def register(self, plugin: object, name: str, *, version: str = "") -> PluginInfo:
        """Register a plugin object (a module or class with hook functions).

        Args:
            plugin: Object whose ``p2pfl_*`` attributes implement hooks.
            name: Plugin name shown in listings and used in qualified names.
            version: Version shown in listings.

        Returns:
            The plugin's record.
        """
        info = PluginInfo(name, version, ACTIVE, module=getattr(plugin, "__name__", ""))
        self.pm.register(plugin, name=name)
        self._collect_specs(name, plugin, info)
        self.plugins[name] = info
        return info

    def _register_builtins(self) -> None:
        from p2pfl_core import builtins

        info = self.register(builtins, CORE_NAME, version=core_version())
        info.builtin = True

    def _collect_specs(self, name: str, plugin: object, info: PluginInfo) -> None:
        for kind, hook_name in _REGISTER_HOOKS.items():
            impl = getattr(plugin, hook_name, None)
            if impl is None:
                continue
            specs: list[ComponentSpec] = list(impl() or [])
            for spec in specs:
                if spec.kind != kind:
                    raise PluginError(
                        f"plugin {name}: {hook_name} returned a {spec.kind} spec "
                        f"{spec.name!r}"
                    )
                self.registry.add(name, spec)
                info.provides.setdefault(kind, []).append(spec.name)

    def _load_entry_points(self) -> None:
        only = _env_list(self.env, "P2PFL_LOAD_PLUGINS")
        disabled = _env_list(self.env, "P2PFL_DISABLE_PLUGINS") or set()
        no_autoload = _env_flag(self.env, "P2PFL_DISABLE_PLUGIN_AUTOLOAD")
        for entry_point in sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            dist = entry_point.dist
            name = entry_point.name
            version = dist.version if dist is not None else ""
            info = PluginInfo(name, version, DISABLED, module=entry_point.value)
            if name in self.plugins:
                other = self.plugins[name]
                info.status = ERROR
                info.reason = (
                    f"plugin name {name!r} is already used by {other.module}; "
                    f"uninstall one of them"
                )
                self._record(info)
                continue
            if name in disabled:
                info.reason = "disabled by P2PFL_DISABLE_PLUGINS"
            elif only is not None and name not in only:
                info.reason = "not listed in P2PFL_LOAD_PLUGINS"
            elif no_autoload and only is None:
                info.reason = "P2PFL_DISABLE_PLUGIN_AUTOLOAD is set"
            else:
                self._load_one(entry_point, info, dist)
            self._record(info)

    def _load_one(
        self,
        entry_point: metadata.EntryPoint,
        info: PluginInfo,
        dist: metadata.Distribution | None,
    ) -> None:
        problem = _incompatibility(dist)
        if problem:
            info.status, info.reason = INCOMPATIBLE, problem
            return
        try:
            module = importlib.import_module(entry_point.value.partition(":")[0])
            self.pm.register(module, name=info.name)
            self._collect_specs(info.name, module, info)
        except Exception as exc:  # a broken plugin must not take the others down
            if self.pm.has_plugin(info.name):
                self.pm.unregister(name=info.name)
            info.status = ERROR
            info.reason = f"{type(exc).__name__}: {exc}"
            info.provides = {}
            return
        info.status = ACTIVE

    def _record(self, info: PluginInfo) -> None:
        key = info.name if info.name not in self.plugins else f"{info.name}#{len(self.plugins)}"
        self.plugins[key] = info
        if info.status in (ERROR, INCOMPATIBLE):
            self.registry.note_failed(info.name, info.reason)
            logger.warning("plugin %s not loaded (%s): %s", info.name, info.status, info.reason)
            if _env_flag(self.env, "P2PFL_STRICT_PLUGINS"):
                raise PluginError(
                    f"plugin {info.name} is {info.status}: {info.reason} "
                    "(P2PFL_STRICT_PLUGINS is set; unset it to skip broken plugins)"
                )

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Return the spec of component ``name`` of ``kind``."""
        return self.registry.get(kind, name)

    def load(self, kind: str, name: str) -> Any:
        """Import and return the factory of component ``name`` of ``kind``."""
        return self.registry.load(kind, name)

    def names(self, kind: str) -> list[str]:
        """Return the names available for ``kind``."""
        return self.registry.names(kind)

    def learner_for_model(self, model: Any) -> str:
        """Name the learner for a model object.

        Raises:
            PluginError: No plugin recognises the model.
        """
        name = self.pm.hook.p2pfl_learner_for_model(model=model)
        if name is None:
            raise PluginError(
                f"no learner recognises a model of type {type(model).__module__}."
                f"{type(model).__qualname__}; install the plugin for its framework "
                f"(available learners: {', '.join(self.names('learner'))})"
            )
        return str(name)


def _incompatibility(dist: metadata.Distribution | None) -> str:
    if dist is None:
        return ""
    installed = core_version()
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower().replace("_", "-") != CORE_NAME:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            ok = requirement.specifier.contains(Version(installed), prereleases=True)
        except InvalidVersion:
            return ""
        if not ok:
            return (
                f"requires {CORE_NAME}{requirement.specifier}, installed {installed}; "
                "upgrade whichever side is older"
            )
    return ""


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """Return the process-wide plugin manager, creating it on first use."""
    global _default
    if _default is None:
        _default = PluginManager()
    return _default


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide plugin manager (None resets it)."""
    global _default
    _default = manager
