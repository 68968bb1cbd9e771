"""Fake installed plugins for tests: ``*.dist-info`` folders on a temporary path.

A :class:`FakeSite` writes a distribution's ``METADATA`` and
``entry_points.txt`` and its modules into one folder that is put first on
``sys.path``, which is all ``importlib.metadata`` and the import system read.
Each site gives its modules a unique prefix, so tests never share a module
through ``sys.modules``.
"""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

_sites = itertools.count(1)

AGGREGATOR_MODULE = """
from p2pfl_core.plugin import AggregatorSpec, hookimpl


@hookimpl
def p2pfl_register_aggregators():
    return [AggregatorSpec("{component}", "p2pfl_core.aggregators.fedavg:FedAvg", "{description}")]
"""

BOMB_MODULE = """
import pathlib

pathlib.Path({marker!r}).write_text("imported")
raise ImportError("boom")
"""


class FakeSite:
    """A folder of fake installed distributions, first on ``sys.path``.

    Args:
        root: The folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"fake{next(_sites)}_"
        self.modules: list[str] = []

    def module_name(self, name: str) -> str:
        """Return the unique import name of module ``name`` on this site."""
        return self.prefix + name

    def add_module(self, name: str, source: str) -> str:
        """Write module ``name`` (unique per site) and return its import name."""
        full_name = self.module_name(name)
        (self.root / f"{full_name}.py").write_text(dedent(source).lstrip())
        self.modules.append(full_name)
        importlib.invalidate_caches()
        return full_name

    def add_dist(
        self,
        name: str,
        entry_points: dict[str, str],
        *,
        version: str = "1.0",
        requires: tuple[str, ...] = ("p2pfl-core>=0.1,<0.2",),
    ) -> None:
        """Write the metadata of a distribution whose entry points are in group p2pfl.

        Args:
            name: Distribution name, such as ``p2pfl-krum``.
            entry_points: Entry point name to target module (already written).
            version: Distribution version.
            requires: ``Requires-Dist`` lines.
        """
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {requirement}" for requirement in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        targets = "".join(
            f"{entry} = {module}\n" for entry, module in entry_points.items()
        )
        (info / "entry_points.txt").write_text(f"[p2pfl]\n{targets}")
        importlib.invalidate_caches()

    def add_aggregator_plugin(
        self,
        dist: str,
        component: str,
        *,
        entry: str | None = None,
        version: str = "1.0",
        requires: tuple[str, ...] = ("p2pfl-core>=0.1,<0.2",),
    ) -> str:
        """Add a distribution whose plugin offers an aggregator; return its module.

        The aggregator's description is ``"<component> of <dist>"``, so tests
        can tell two plugins offering the same name apart.
        """
        source = AGGREGATOR_MODULE.format(
            component=component, description=f"{component} of {dist}"
        )
        module = self.add_module(f"{dist.replace('-', '_')}_plugin", source)
        self.add_dist(dist, {entry or dist: module}, version=version, requires=requires)
        return module

    def add_bomb_plugin(self, dist: str, marker: Path) -> str:
        """Add a distribution whose module writes ``marker`` and raises ImportError("boom")."""
        module = self.add_module(
            f"{dist.replace('-', '_')}_plugin", BOMB_MODULE.format(marker=str(marker))
        )
        self.add_dist(dist, {dist: module})
        return module

    def forget_modules(self) -> None:
        """Remove this site's modules from ``sys.modules``."""
        for name in self.modules:
            sys.modules.pop(name, None)


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSite]:
    """Provide an empty fake site on ``sys.path`` and no ``P2PFL_*`` switches."""
    for key in (
        "P2PFL_LOAD_PLUGINS",
        "P2PFL_DISABLE_PLUGINS",
        "P2PFL_DISABLE_PLUGIN_AUTOLOAD",
        "P2PFL_STRICT_PLUGINS",
        "P2PFL_TRACE_PLUGINS",
    ):
        monkeypatch.delenv(key, raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    site = FakeSite(root)
    yield site
    site.forget_modules()
