"""End to end: a plugin made by `p2pfl plugins new` installs, passes its tests and lists itself.

It builds a fresh virtual environment and installs p2pfl-core from this
checkout, so pip downloads core's dependencies and pytest (a few minutes on
a cold cache, and it needs access to the package index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(
    *command: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command with no P2PFL_* switches; fail the test with its output if it fails."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("P2PFL_")}
    environment.pop("PYTHONPATH", None)
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    return result


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_new_plugin_in_fresh_venv(tmp_path: Path) -> None:
    """myagg installs with pip -e, its tests pass, and it lists as active."""
    cli = "from p2pfl_core.cli.main import main; main()"
    run(sys.executable, "-c", cli, "plugins", "new", "myagg", "--kind", "aggregator",
        "--output", tmp_path)  # fmt: skip
    project = tmp_path / "p2pfl-myagg"
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "-e", ROOT, "-e", f"{project}[test]")

    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    listing = run(venv / "bin" / "p2pfl", "plugins", "list", "--json")

    assert " passed" in tests.stdout.splitlines()[-1]
    rows = {row["name"]: row for row in json.loads(listing.stdout)["plugins"]}
    assert rows["p2pfl-myagg"]["status"] == "active"
    assert rows["p2pfl-myagg"]["provides"] == {"aggregator": ["myagg"]}
