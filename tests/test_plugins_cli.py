"""Tests of `p2pfl plugins list` and `p2pfl plugins new`."""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from p2pfl_core.cli.plugins import KINDS, plugins
from p2pfl_core.manager import PluginManager, set_plugin_manager

if TYPE_CHECKING:
    from plugin_fixtures import FakeSite

pytest_plugins = ["plugin_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "tensorflow", "jax", "flax", "keras")


@pytest.fixture
def listed(fake_site: FakeSite) -> Iterator[FakeSite]:
    """A fake site with a broken p2pfl-bomb and an active p2pfl-krum, as the default manager."""
    fake_site.add_bomb_plugin("p2pfl-bomb", fake_site.root / "imported")
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    set_plugin_manager(PluginManager(env={}, search_path=[str(fake_site.root)]))
    yield fake_site
    set_plugin_manager(None)


def invoke(*args: str) -> Result:
    """Run ``p2pfl plugins ARGS`` in this process."""
    return CliRunner().invoke(plugins, list(args), catch_exceptions=False)


def test_list_table(listed: FakeSite) -> None:
    """The table shows name, version, status and provides, reasons on their own line."""
    result = invoke("list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Name        Version  Status  Provides",
        "p2pfl-bomb  1.0      error",
        "    ImportError: boom",
        "p2pfl-krum  1.0      active  aggregator: krum",
    ]


def test_list_all_includes_core(listed: FakeSite) -> None:
    """--all adds core's built-ins as the first row."""
    lines = invoke("list", "--all").stdout.splitlines()
    assert lines[1].split()[:3] == ["p2pfl-core", "0.1.0", "active"]
    assert "aggregator: fedavg" in lines[1]


def test_list_json(listed: FakeSite) -> None:
    """--json prints only JSON: core version, plugin records and conflicts."""
    data = json.loads(invoke("list", "--json").stdout)
    assert data["core_version"] == "0.1.0"
    assert [row["name"] for row in data["plugins"]] == ["p2pfl-bomb", "p2pfl-krum"]
    assert data["plugins"][0]["status"] == "error"
    assert data["plugins"][0]["reason"] == "ImportError: boom"
    assert data["plugins"][1]["provides"] == {"aggregator": ["krum"]}
    assert data["conflicts"] == []
    assert "hooks" not in data


def test_list_json_hooks(listed: FakeSite) -> None:
    """--json --hooks maps each hook to the listed plugins implementing it."""
    hooks = json.loads(invoke("list", "--json", "--hooks").stdout)["hooks"]
    assert hooks["p2pfl_register_aggregators"] == ["p2pfl-krum"]
    assert hooks["p2pfl_configure"] == []
    all_hooks = json.loads(invoke("list", "--json", "--hooks", "--all").stdout)["hooks"]
    assert all_hooks["p2pfl_register_aggregators"] == ["p2pfl-core", "p2pfl-krum"]


def test_list_hooks_table(listed: FakeSite) -> None:
    """--hooks adds a table of hooks and the plugins that implement them."""
    lines = invoke("list", "--hooks").stdout.splitlines()
    assert "Hook                         Implemented by" in lines
    assert "p2pfl_register_aggregators   p2pfl-krum" in lines
    assert "p2pfl_round_finished         -" in lines


def test_list_strict_exit_code(listed: FakeSite) -> None:
    """--strict exits 1 while p2pfl-bomb is broken, and 0 once it is disabled."""
    assert invoke("list", "--strict").exit_code == 1
    set_plugin_manager(
        PluginManager(
            env={"P2PFL_DISABLE_PLUGINS": "p2pfl-bomb"}, search_path=[str(listed.root)]
        )
    )
    assert invoke("list", "--strict").exit_code == 0


def test_list_shows_conflicts(fake_site: FakeSite) -> None:
    """Two plugins offering krum appear under Conflicts, and --strict fails."""
    fake_site.add_aggregator_plugin("p2pfl-krum", "krum")
    fake_site.add_aggregator_plugin("p2pfl-robust", "krum")
    set_plugin_manager(PluginManager(env={}, search_path=[str(fake_site.root)]))
    result = invoke("list", "--strict")
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[-2] == "Conflicts:"
    assert lines[-1].startswith(
        "  aggregator 'krum' is offered by 2 plugins: p2pfl-krum"
    )


def test_list_strict_environment_error(fake_site: FakeSite) -> None:
    """With P2PFL_STRICT_PLUGINS=1 and a broken plugin, list prints the error and exits 1."""
    fake_site.add_bomb_plugin("p2pfl-bomb", fake_site.root / "imported")
    environment = {
        **os.environ,
        "P2PFL_STRICT_PLUGINS": "1",
        "PYTHONPATH": str(fake_site.root),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from p2pfl_core.cli.plugins import plugins; plugins()",
            "list",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: plugins failed to load while P2PFL_STRICT_PLUGINS is set"
    )
    assert "p2pfl-bomb (error): ImportError: boom" in result.stderr


def test_list_without_plugins(fake_site: FakeSite) -> None:
    """With no plugin installed, list prints how to show the built-ins."""
    set_plugin_manager(PluginManager(env={}, search_path=[str(fake_site.root)]))
    assert invoke("list").stdout == (
        "No plugins installed. Use --all to list core's built-ins.\n"
    )


def test_list_imports_no_framework() -> None:
    """`p2pfl plugins list` with p2pfl-torch installed imports no ML framework."""
    if importlib.util.find_spec("p2pfl_torch") is None:
        pytest.skip("p2pfl-torch is not installed")
    code = (
        "import sys\n"
        "sys.argv = ['p2pfl', 'plugins', 'list', '--all']\n"
        "from p2pfl_core.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('loaded:', ','.join(sorted(set(sys.modules) & set(sys.argv[1].split(',')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, ",".join(FRAMEWORKS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert any(line.split()[:3] == ["p2pfl-torch", "0.1.0", "active"] for line in lines)
    assert lines[-1] == "loaded: "


def test_plugins_group_imports_no_numpy() -> None:
    """The plugins command group lists without importing numpy."""
    code = (
        "import sys\n"
        "from p2pfl_core.cli.plugins import plugins\n"
        "try:\n    plugins(['list', '--all', '--json'])\nexcept SystemExit:\n    pass\n"
        "print('numpy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.splitlines()[-1] == "False"


def test_new_writes_project(tmp_path: Path) -> None:
    """`plugins new myagg --kind aggregator` writes a project whose Python compiles."""
    result = invoke("new", "myagg", "--kind", "aggregator", "--output", str(tmp_path))
    project = tmp_path / "p2pfl-myagg"
    assert result.exit_code == 0
    assert sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()
    ) == [
        "README.md",
        "p2pfl_myagg/__init__.py",
        "p2pfl_myagg/aggregator.py",
        "p2pfl_myagg/plugin.py",
        "pyproject.toml",
        "tests/test_aggregator.py",
        "tests/test_plugin.py",
    ]
    pyproject = (project / "pyproject.toml").read_text()
    assert 'dependencies = ["p2pfl-core>=0.1,<0.2"]' in pyproject
    assert 'p2pfl-myagg = "p2pfl_myagg.plugin"' in pyproject
    for path in project.rglob("*.py"):
        py_compile.compile(str(path), doraise=True)


def test_new_rejects_existing_folder(tmp_path: Path) -> None:
    """A second `new` into the same place fails with the way out, and changes nothing."""
    invoke("new", "myagg", "--kind", "aggregator", "--output", str(tmp_path))
    result = CliRunner().invoke(
        plugins, ["new", "myagg", "--kind", "learner", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert (
        "already exists and is not empty; choose another --output folder"
        in result.output
    )
    assert not (tmp_path / "p2pfl-myagg" / "p2pfl_myagg" / "learner.py").exists()


def test_new_rejects_invalid_name(tmp_path: Path) -> None:
    """A name with spaces or capitals is rejected with an example of a valid one."""
    result = CliRunner().invoke(
        plugins, ["new", "My Agg", "--kind", "aggregator", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "invalid plugin name 'My Agg'" in result.output


def install_as_fake_dist(site: FakeSite, distribution: str) -> None:
    """Make a generated project look installed: its dist-info on the fake site.

    The project folder itself goes on ``PYTHONPATH``, as an editable install would.
    """
    package = distribution.replace("-", "_")
    site.add_dist(distribution, {distribution: f"{package}.plugin"}, version="0.1.0")


@pytest.mark.slow
def test_new_projects_pass_their_tests(fake_site: FakeSite, tmp_path: Path) -> None:
    """The project of every kind passes its own tests and registers as active."""
    projects = []
    for kind in KINDS:
        name = f"my{kind}"
        assert (
            invoke("new", name, "--kind", kind, "--output", str(tmp_path)).exit_code
            == 0
        )
        project = tmp_path / f"p2pfl-{name}"
        install_as_fake_dist(fake_site, f"p2pfl-{name}")
        projects.append(project)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("P2PFL_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(fake_site.root), *map(str, projects)]
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--import-mode=importlib", *(str(p / "tests") for p in projects)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
