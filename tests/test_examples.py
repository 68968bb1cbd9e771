"""The example experiments that need only core run to the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_numpy_digits_example_runs_with_core_alone(tmp_path: Path) -> None:
    """examples/digits-numpy.yaml reaches 0.93 and imports no ML framework."""
    script = (
        "import json, sys\n"
        "from p2pfl_core.experiment import run_experiment\n"
        f"r = run_experiment({str(ROOT / 'examples' / 'digits-numpy.yaml')!r})\n"
        "frameworks = [m for m in ('torch', 'tensorflow', 'jax') if m in sys.modules]\n"
        "print(json.dumps({'accuracy': r.final_mean_accuracy, 'rounds': r.rounds_completed,"
        " 'frameworks': frameworks, 'metrics': [[m['accuracy'], m['loss']] for m in r.metrics]}))\n"
    )
    runs = []
    for _ in range(2):
        output = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        runs.append(json.loads(output.splitlines()[-1]))
    assert runs[0]["rounds"] == 10
    assert runs[0]["accuracy"] >= 0.93
    assert runs[0]["frameworks"] == []
    assert runs[0]["metrics"] == runs[1]["metrics"]
