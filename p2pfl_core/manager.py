"""Plugin manager: registers the built-ins, then each installed plugin on its own.

Plugins are found through entry points of group ``p2pfl``. Environment
switches, read once when the manager is built:

- ``P2PFL_DISABLE_PLUGINS=a,b``: never import these plugins.
- ``P2PFL_LOAD_PLUGINS=a,b``: import only these plugins.
- ``P2PFL_DISABLE_PLUGIN_AUTOLOAD=1``: import no plugin unless it is listed in
  ``P2PFL_LOAD_PLUGINS`` or requested later (:meth:`PluginManager.load_plugin`,
  :func:`check_required_plugins`).
- ``P2PFL_STRICT_PLUGINS=1``: a plugin that fails to load or is incompatible
  raises :class:`~p2pfl_core.errors.PluginError` instead of a warning.
- ``P2PFL_TRACE_PLUGINS=1``: print every hook call to standard error.

Names in the lists are entry point or distribution names, in any case and
with ``-``, ``_`` or ``.``. A plugin in both lists stays disabled. Whether a
plugin is disabled is decided from its metadata alone, so a disabled plugin
is never imported.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from p2pfl_core import __version__, hookspecs
from p2pfl_core.errors import PluginError
from p2pfl_core.hookspecs import (
    HOOK_NAMES,
    collect_specs,
    find_hook_problems,
    install_tracer,
)
from p2pfl_core.plugin import ENTRY_POINT_GROUP, PROJECT_NAME, ComponentSpec
from p2pfl_core.registry import (
    ACTIVE,
    DISABLED,
    ERROR,
    INCOMPATIBLE,
    PluginInfo,
    Registry,
    canonical_name,
)

logger = logging.getLogger(__name__)

CORE_NAME = "p2pfl-core"

_UNAVAILABLE = {
    DISABLED: "is disabled",
    INCOMPATIBLE: "is incompatible with the installed core",
    ERROR: "failed to load",
}


@dataclass(frozen=True)
class _Candidate:
    """An entry point found in the metadata of an installed distribution."""

    entry_point: metadata.EntryPoint
    distribution: str
    version: str
    requires: tuple[str, ...]

    def info(self, status: str, reason: str = "") -> PluginInfo:
        return PluginInfo(
            self.entry_point.name,
            self.version,
            status,
            reason,
            module=self.entry_point.value,
            distribution=self.distribution,
        )


class _Switches:
    """The ``P2PFL_*`` environment switches, parsed once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.only = _env_names(env, "P2PFL_LOAD_PLUGINS")
        self.disabled = _env_names(env, "P2PFL_DISABLE_PLUGINS") or set()
        self.no_autoload = _env_flag(env, "P2PFL_DISABLE_PLUGIN_AUTOLOAD")
        self.strict = _env_flag(env, "P2PFL_STRICT_PLUGINS")
        self.trace = _env_flag(env, "P2PFL_TRACE_PLUGINS")

    def disabled_reason(self, candidate: _Candidate) -> str:
        """Return why ``candidate`` must not be imported, or "" to load it."""
        names = _names_of(candidate)
        if names & self.disabled:
            return (
                "disabled by P2PFL_DISABLE_PLUGINS; remove it from that list to load it"
            )
        if self.only is not None and not names & self.only:
            return "not listed in P2PFL_LOAD_PLUGINS; add it to that list to load it"
        if self.no_autoload and self.only is None:
            return (
                "P2PFL_DISABLE_PLUGIN_AUTOLOAD is set; list the plugin in "
                "P2PFL_LOAD_PLUGINS to load it"
            )
        return ""

    def explicitly_disabled(self, candidate: _Candidate) -> bool:
        """Return True when ``P2PFL_DISABLE_PLUGINS`` names ``candidate``."""
        return bool(_names_of(candidate) & self.disabled)


def _names_of(candidate: _Candidate) -> set[str]:
    """Return the entry point and distribution names of ``candidate``, normalized."""
    return {
        canonical_name(candidate.entry_point.name),
        canonical_name(candidate.distribution),
    }


def _env_names(env: Mapping[str, str], key: str) -> set[str] | None:
    """Return the names listed in ``env[key]``, or None when it is unset or empty."""
    value = env.get(key, "")
    if not value.strip():
        return None
    return {canonical_name(item.strip()) for item in value.split(",") if item.strip()}


def _env_flag(env: Mapping[str, str], key: str) -> bool:
    return env.get(key, "").strip().lower() in {"1", "true", "yes", "on"}


def core_version() -> str:
    """Return the installed version of p2pfl-core."""
    try:
        return metadata.version(CORE_NAME)
    except metadata.PackageNotFoundError:
        return __version__


def _discover(search_path: Sequence[str] | None) -> dict[str, list[_Candidate]]:
    """Return the entry points of group ``p2pfl``, grouped by entry point name.

    Only the first distribution of each name on the path counts, as for
    imports; nothing is imported.
    """
    seen: set[str] = set()
    groups: dict[str, list[_Candidate]] = defaultdict(list)
    if search_path is None:
        distributions = metadata.distributions()
    else:
        distributions = metadata.distributions(path=list(search_path))
    for dist in distributions:
        try:
            name = dist.metadata["Name"] or ""
            key = canonical_name(name)
            if not name or key in seen:
                continue
            seen.add(key)
            candidates = [
                _Candidate(ep, name, dist.version or "", tuple(dist.requires or ()))
                for ep in dist.entry_points
                if ep.group == ENTRY_POINT_GROUP
            ]
        except Exception as exc:  # unreadable metadata of one distribution
            logger.warning("skipped a distribution with invalid metadata: %s", exc)
            continue
        for candidate in candidates:
            groups[candidate.entry_point.name].append(candidate)
    return {
        name: sorted(candidates, key=lambda c: canonical_name(c.distribution))
        for name, candidates in sorted(groups.items())
    }


def _incompatibility(requires: Sequence[str]) -> str:
    """Return why a plugin's ``p2pfl-core`` requirement excludes this core, or ""."""
    installed = core_version()
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonical_name(requirement.name) != CORE_NAME:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            matches = requirement.specifier.contains(
                Version(installed), prereleases=True
            )
        except InvalidVersion:
            return ""
        if not matches:
            return (
                f"requires {CORE_NAME}{requirement.specifier} but {installed} is "
                "installed; install a release of the plugin made for this core, or "
                "upgrade whichever of the two is older"
            )
    return ""


class PluginManager:
    """Loads plugins and resolves components by kind and name.

    Args:
        env: Environment to read the ``P2PFL_*`` switches from; the process
            environment when None.
        autoload: Look for installed plugins; False registers the built-ins
            only and reads no metadata.
        search_path: Folders to look for installed distributions in, instead
            of ``sys.path``. Their modules must still be importable.

    Raises:
        PluginError: ``P2PFL_STRICT_PLUGINS`` is set and a plugin failed to
            load or is incompatible; the message lists every such plugin.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        autoload: bool = True,
        search_path: Sequence[str] | None = None,
    ) -> None:
        self.env = os.environ if env is None else env
        self.switches = _Switches(self.env)
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        if self.switches.trace:
            install_tracer(self.pm)
        self.plugins: dict[str, PluginInfo] = {}
        self.registry = Registry()
        self._deferred: dict[str, list[_Candidate]] = {}
        from p2pfl_core import builtins

        info = self.register(builtins, CORE_NAME, version=core_version())
        info.builtin = True
        info.distribution = CORE_NAME
        if autoload:
            self._load_entry_points(_discover(search_path))
            self._raise_if_strict()

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, for calling observer hooks."""
        return self.pm.hook

    # -- registering ---------------------------------------------------------

    def register(self, plugin: object, name: str, *, version: str = "") -> PluginInfo:
        """Register a plugin object (a module or class with hook functions).

        Args:
            plugin: Object whose ``p2pfl_*`` attributes implement hooks.
            name: Plugin name shown in listings and used in qualified names.
            version: Version shown in listings.

        Returns:
            The plugin's record.

        Raises:
            PluginError: The name is taken, or the plugin's hooks are invalid.
        """
        info = PluginInfo(name, version, ACTIVE, module=getattr(plugin, "__name__", ""))
        self._register(plugin, info)
        self._record(info)
        return info

    def unregister(self, name: str) -> None:
        """Remove a registered plugin and its components."""
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self.registry.remove_plugin(name)
        self.plugins.pop(name, None)

    def _register(self, plugin: object, info: PluginInfo) -> None:
        if self.pm.has_plugin(info.name) or self.pm.is_registered(plugin):
            raise PluginError(f"a plugin named {info.name!r} is already registered")
        problems = find_hook_problems(plugin, info.name)
        if problems:
            raise PluginError("; ".join(problems))
        try:
            self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {info.name}: {exc}") from exc
        try:
            specs = collect_specs(self.pm, info.name, tracing=self.switches.trace)
        except Exception:
            self.pm.unregister(name=info.name)
            raise
        for spec in specs:
            conflict = self.registry.add(info.name, spec)
            if conflict is not None:
                logger.warning("%s", conflict.message())
            info.provides.setdefault(spec.kind, []).append(spec.name)
        info.hooks = sorted(
            caller.name for caller in self.pm.get_hookcallers(plugin) or []
        )

    def _record(self, info: PluginInfo) -> None:
        key = info.name
        if key in self.plugins and self.plugins[key] is not info:
            key = f"{info.name} ({info.distribution})"
        self.plugins[key] = info
        if info.status == ACTIVE:
            self.registry.forget_unavailable(info.name)
            return
        self.registry.note_unavailable(
            info.name, f"{_UNAVAILABLE[info.status]}: {info.reason}"
        )
        # In strict mode the PluginError raised after loading reports it instead.
        if info.status != DISABLED and not self.switches.strict:
            logger.warning(
                "plugin %s %s: %s", info.name, _UNAVAILABLE[info.status], info.reason
            )

    # -- loading installed plugins -------------------------------------------

    def _load_entry_points(self, groups: dict[str, list[_Candidate]]) -> None:
        for name, candidates in groups.items():
            enabled = [c for c in candidates if not self.switches.disabled_reason(c)]
            if len(enabled) > 1:
                self._record(_clash_info(name, enabled))
            elif enabled:
                self._record(self._load_candidate(enabled[0]))
            # Disabled duplicates come after the loaded one, which keeps the plain key.
            for candidate in candidates:
                reason = self.switches.disabled_reason(candidate)
                if not reason:
                    continue
                self._record(candidate.info(DISABLED, reason))
                if not self.switches.explicitly_disabled(candidate):
                    self._deferred.setdefault(canonical_name(name), []).append(
                        candidate
                    )
        self._record_unknown_requests(groups)

    def _load_candidate(self, candidate: _Candidate) -> PluginInfo:
        """Import and register one entry point; failures become its status."""
        problem = _incompatibility(candidate.requires)
        if problem:
            return candidate.info(INCOMPATIBLE, problem)
        info = candidate.info(ACTIVE)
        try:
            self._register(candidate.entry_point.load(), info)
        except Exception as exc:  # one broken plugin must not take the others down
            info.status = ERROR
            info.reason = f"{type(exc).__name__}: {exc}"
            info.provides = {}
            info.hooks = []
        return info

    def _record_unknown_requests(self, groups: dict[str, list[_Candidate]]) -> None:
        if not self.switches.only:
            return
        known = {canonical_name(name) for name in groups}
        known |= {canonical_name(c.distribution) for cs in groups.values() for c in cs}
        installed = ", ".join(groups) or "none"
        for name in sorted(self.switches.only - known - {CORE_NAME}):
            reason = (
                "listed in P2PFL_LOAD_PLUGINS, but no installed distribution "
                f"declares this plugin; installed plugins: {installed}"
            )
            self._record(PluginInfo(name, "", ERROR, reason))

    def load_plugin(self, name: str) -> PluginInfo:
        """Load an installed plugin that autoload skipped.

        A plugin is skipped when ``P2PFL_DISABLE_PLUGIN_AUTOLOAD`` is set or
        ``P2PFL_LOAD_PLUGINS`` does not list it; a plugin named in
        ``P2PFL_DISABLE_PLUGINS`` is never loaded.

        Args:
            name: Entry point or distribution name.

        Returns:
            The plugin's record; loading it again returns the same record.

        Raises:
            PluginError: The plugin is unknown, explicitly disabled, or fails
                to load while ``P2PFL_STRICT_PLUGINS`` is set.
        """
        info = self.find_plugin(name)
        if info is None:
            raise PluginError(
                f"plugin {name} is not installed; installed plugins: "
                f"{', '.join(sorted(self.plugins))}"
            )
        if info.status != DISABLED:
            return info
        candidates = self._deferred.pop(canonical_name(info.name), [])
        if not candidates:
            raise PluginError(
                f"plugin {info.name} {_UNAVAILABLE[DISABLED]}: {info.reason}"
            )
        if len(candidates) > 1:
            loaded = _clash_info(info.name, candidates)
        else:
            loaded = self._load_candidate(candidates[0])
        self.plugins = {
            key: loaded if value is info else value
            for key, value in self.plugins.items()
        }
        self._record(loaded)
        if loaded.status != ACTIVE and self.switches.strict:
            raise PluginError(_strict_message([loaded]))
        return loaded

    def _raise_if_strict(self) -> None:
        broken = [i for i in self.plugins.values() if i.status in (ERROR, INCOMPATIBLE)]
        if broken and self.switches.strict:
            raise PluginError(_strict_message(broken))

    def find_plugin(self, name: str) -> PluginInfo | None:
        """Return the record of a plugin by entry point or distribution name."""
        target = canonical_name(name)
        for info in self.plugins.values():
            if target in (canonical_name(info.name), canonical_name(info.distribution)):
                return info
        return None

    # -- hooks ---------------------------------------------------------------

    def configure(self, config: Any) -> None:
        """Show the parsed experiment to every plugin, now and registered later.

        ``p2pfl_configure`` is historic: a plugin registered after this call
        receives it on registration, exactly once per call.
        """
        self.pm.hook.p2pfl_configure.call_historic(kwargs={"config": config})

    def hook_table(self) -> dict[str, list[str]]:
        """Return each hook's name mapped to the plugins that implement it."""
        return {
            name: [
                impl.plugin_name for impl in getattr(self.pm.hook, name).get_hookimpls()
            ]
            for name in sorted(HOOK_NAMES)
        }

    # -- components ----------------------------------------------------------

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Return the spec of component ``name`` (plain or qualified) of ``kind``."""
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


def _clash_info(name: str, candidates: list[_Candidate]) -> PluginInfo:
    """Return the error record of an entry point name declared more than once."""
    declared = ", ".join(
        f"{c.distribution} {c.version} ({c.entry_point.value})" for c in candidates
    )
    reason = (
        f"the entry point name {name!r} is declared by {len(candidates)} "
        f"distributions: {declared}; none of them is loaded. Uninstall one, or "
        f"disable one with P2PFL_DISABLE_PLUGINS={candidates[-1].distribution}"
    )
    return PluginInfo(
        name,
        "",
        ERROR,
        reason,
        module=", ".join(c.entry_point.value for c in candidates),
        distribution=", ".join(c.distribution for c in candidates),
    )


def _strict_message(broken: list[PluginInfo]) -> str:
    lines = [f"{info.name} ({info.status}): {info.reason}" for info in broken]
    return (
        "plugins failed to load while P2PFL_STRICT_PLUGINS is set (unset it to "
        "skip broken plugins with a warning):\n  " + "\n  ".join(lines)
    )


def check_required_plugins(
    requirements: Sequence[str], manager: PluginManager | None = None
) -> None:
    """Check that the plugins an experiment needs are installed and loaded.

    A required plugin that autoload skipped is loaded now. ``p2pfl-core``
    itself may be required too.

    Args:
        requirements: Requirement strings such as ``"p2pfl-krum>=0.1"``.
        manager: The manager to check; the process-wide one when None.

    Raises:
        PluginError: A requirement is invalid, not installed, disabled, broken
            or of the wrong version. The message lists every such problem with
            the command or switch that fixes it.
    """
    manager = manager or get_plugin_manager()
    problems = [_requirement_problem(text, manager) for text in requirements]
    found = [problem for problem in problems if problem]
    if found:
        raise PluginError(
            "required plugins are not available:\n  " + "\n  ".join(found)
        )


def _requirement_problem(text: str, manager: PluginManager) -> str:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        return (
            f"{text!r} is not a valid requirement ({detail}); "
            "write it like 'p2pfl-krum>=0.1'"
        )
    info = manager.find_plugin(requirement.name)
    if info is None:
        return (
            f"{text}: plugin {requirement.name} is not installed; "
            f"run: pip install '{text}'"
        )
    if info.status == DISABLED:
        try:
            info = manager.load_plugin(info.name)
        except PluginError as exc:
            return f"{text}: {exc}"
    if info.status != ACTIVE:
        return f"{text}: plugin {info.name} {_UNAVAILABLE[info.status]}: {info.reason}"
    if not requirement.specifier:
        return ""
    try:
        matches = requirement.specifier.contains(
            Version(info.version), prereleases=True
        )
    except InvalidVersion:
        matches = False
    if matches:
        return ""
    return (
        f"{text}: plugin {info.name} {info.version or '(unknown version)'} is "
        f"installed; run: pip install '{text}'"
    )


_default: PluginManager | None = None
_default_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """Return the process-wide plugin manager, creating it on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PluginManager()
        return _default


def peek_plugin_manager() -> PluginManager | None:
    """Return the process-wide plugin manager, or None when none was created."""
    return _default


def set_plugin_manager(manager: PluginManager | None) -> None:
    """Replace the process-wide plugin manager (None resets it)."""
    global _default
    with _default_lock:
        _default = manager
