"""nox sessions for the plugin system, imported by noxfile.py.

- ``discovery``: builds wheels of core and of every plugin in plugins/,
  installs them in a fresh environment (plugins without their frameworks,
  which listing must not need) and checks ``p2pfl plugins list --json``
  with and without the ``P2PFL_*`` switches.
- ``tests_plugin``: runs one plugin's tests in a fresh environment holding
  only the wheels of core and that plugin.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGIN_NAMES = sorted(
    folder.name
    for folder in (ROOT / "plugins").glob("*")
    if (folder / "pyproject.toml").is_file()
)
# torch from PyPI without a pin resolves to a multi-gigabyte CUDA build; this
# release installs a CPU build.
TORCH = "torch==2.13.0"
NO_TESTS_COLLECTED = 5

# Runs in the session's environment: lists plugins in a new process under the
# given switches and compares each plugin's status with the expected one.
CHECK_LISTING = """
import json, os, subprocess, sys

expected, switches = json.loads(sys.argv[1]), json.loads(sys.argv[2])
environment = {k: v for k, v in os.environ.items() if not k.startswith("P2PFL_")}
environment.update(switches)
listing = subprocess.run(
    [sys.executable, "-c", "from p2pfl_core.cli.main import main; main()",
     "plugins", "list", "--json"],
    capture_output=True, text=True, env=environment, check=True,
)
statuses = {row["name"]: row["status"] for row in json.loads(listing.stdout)["plugins"]}
wrong = {name: statuses.get(name, "missing") for name in expected
         if statuses.get(name) != expected[name]}
if wrong:
    sys.exit(f"switches {switches}: expected {expected}, got {wrong}")
print(f"switches {switches}: {statuses}")
"""

# Runs in the session's environment: lists plugins in this process and fails
# if an ML framework was imported on the way.
CHECK_NO_FRAMEWORK = """
import sys

sys.argv = ["p2pfl", "plugins", "list", "--all"]
from p2pfl_core.cli.main import main

try:
    main()
except SystemExit:
    pass
loaded = sorted({"torch", "tensorflow", "jax", "flax", "keras"} & set(sys.modules))
if loaded:
    sys.exit(f"p2pfl plugins list imported {loaded}")
"""


def build_wheels(session: nox.Session, folders: list[Path]) -> dict[str, Path]:
    """Build wheels of core and ``folders`` without dependencies.

    Returns:
        Distribution name (such as ``p2pfl-torch``) to wheel file.
    """
    wheelhouse = Path(session.create_tmp()) / "wheels"
    shutil.rmtree(wheelhouse, ignore_errors=True)
    session.run(
        "python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheelhouse),
        str(ROOT), *(str(folder) for folder in folders),
    )  # fmt: skip
    return {
        wheel.name.split("-")[0].replace("_", "-"): wheel
        for wheel in wheelhouse.glob("*.whl")
    }


def check_listing(
    session: nox.Session, expected: dict[str, str], **switches: str
) -> None:
    """Fail the session unless every plugin in ``expected`` has its status."""
    session.run(
        "python", "-c", CHECK_LISTING, json.dumps(expected), json.dumps(switches)
    )


@nox.session
def discovery(session: nox.Session) -> None:
    """Check that installed plugin wheels list, load and obey the switches."""
    check_discovery(session)


def check_discovery(session: nox.Session) -> None:
    """Install every plugin wheel and check listing with each switch."""
    wheels = build_wheels(session, [ROOT / "plugins" / name for name in PLUGIN_NAMES])
    session.install(str(wheels["p2pfl-core"]))
    if PLUGIN_NAMES:
        # Without their frameworks: an entry module imports only p2pfl_core.plugin.
        session.install("--no-deps", *(str(wheels[name]) for name in PLUGIN_NAMES))
    session.run("p2pfl", "plugins", "list", "--all", "--hooks")
    session.run("p2pfl", "plugins", "list", "--strict")
    session.run("python", "-c", CHECK_NO_FRAMEWORK)

    every = ",".join(PLUGIN_NAMES)
    check_listing(session, dict.fromkeys(PLUGIN_NAMES, "active"))
    check_listing(
        session, dict.fromkeys(PLUGIN_NAMES, "disabled"), P2PFL_DISABLE_PLUGINS=every
    )
    check_listing(
        session,
        dict.fromkeys(PLUGIN_NAMES, "disabled"),
        P2PFL_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    if PLUGIN_NAMES:
        first, *others = PLUGIN_NAMES
        check_listing(
            session,
            {first: "active", **dict.fromkeys(others, "disabled")},
            P2PFL_LOAD_PLUGINS=first,
        )


@nox.session
@nox.parametrize("plugin", PLUGIN_NAMES)
def tests_plugin(session: nox.Session, plugin: str) -> None:
    """Run one plugin's tests with only the wheels of core and that plugin."""
    run_plugin_tests(session, plugin)


def run_plugin_tests(session: nox.Session, plugin: str) -> None:
    """Install the wheels of core and ``plugin`` and run the plugin's tests."""
    folder = ROOT / "plugins" / plugin
    wheels = build_wheels(session, [folder])
    if plugin == "p2pfl-torch":
        session.install(TORCH)
    session.install(f"{wheels['p2pfl-core']}[test]", f"{wheels[plugin]}[test]")
    # Run from an empty folder, so the tests import the installed wheel and
    # not the source tree.
    session.chdir(session.create_tmp())
    session.run(
        "pytest", str(folder / "tests"), "-p", "no:cacheprovider", *session.posargs,
        success_codes=[0, NO_TESTS_COLLECTED],
    )  # fmt: skip
