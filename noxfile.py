"""Every way to install, test, lint and benchmark p2pfl.

Each session installs into its own fresh virtual environment with pip, so a
missing dependency of core or of one plugin shows up in its own session.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

# The nox command does not put this folder on the import path.
sys.path.insert(0, str(Path(__file__).parent))

from noxfile_plugins import (  # noqa: E402, F401
    check_discovery,
    discovery,
    run_plugin_tests,
    tests_plugin,
)

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False

ROOT = Path(__file__).parent
PLUGINS = sorted(
    p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists()
)
# torch from PyPI without a pin resolves to a multi-gigabyte CUDA build; this
# release installs a CPU build.
TORCH = "torch==2.13.0"
NO_TESTS = 5


def _install_core(session: nox.Session) -> None:
    session.install("-e", ".[test]")


@nox.session(tags=["tests"])
@nox.parametrize("package", ["p2pfl-core", *PLUGINS, "discovery", "integration"])
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in a fresh venv holding only core and that package.

    Core's tests run against an editable install. Each plugin's tests run
    against wheels of core and the plugin, so a file missing from a wheel
    or an undeclared dependency fails here. ``discovery`` installs every
    plugin wheel and checks ``p2pfl plugins list`` under each switch.
    ``integration`` runs tests that need several plugins together.
    """
    if package == "discovery":
        check_discovery(session)
    elif package == "integration":
        session.install("-e", ".[test]", TORCH)
        session.install("-e", "plugins/p2pfl-torch", "-e", "plugins/p2pfl-grpc")
        session.run("pytest", "tests_integration", *session.posargs)
    elif package == "p2pfl-core":
        session.install("-e", ".[test]")
        session.run("pytest", "tests", *session.posargs, success_codes=[0, NO_TESTS])
    else:
        run_plugin_tests(session, package)


@nox.session
def demo(session: nox.Session) -> None:
    """Run the digits federation of examples/digits.yaml with the torch learner."""
    _install_core(session)
    session.install(TORCH, "-e", "plugins/p2pfl-torch")
    session.run("p2pfl", "run", "examples/digits.yaml", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks; each prints ratios and writes JSON to benchmarks/results."""
    _install_core(session)
    session.install(TORCH)
    session.install(*(arg for name in PLUGINS for arg in ("-e", f"plugins/{name}")))
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check formatting, lint rules and types of core."""
    session.install("ruff", "mypy", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "p2pfl_core")
