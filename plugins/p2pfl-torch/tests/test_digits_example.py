"""The README's demo: examples/digits.yaml with the torch learner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from p2pfl_core.cli.main import _add_builtin_commands, cli

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "digits.yaml"
COMPARED = ("round", "node", "accuracy", "loss", "train_loss", "contributors")


@pytest.mark.slow
def test_digits_example_reaches_093_and_repeats(tmp_path: Path) -> None:
    """Two runs of the demo reach mean accuracy 0.93 with identical metrics."""
    _add_builtin_commands()
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        result = CliRunner().invoke(cli, ["run", str(EXAMPLE), "-o", str(folder)])
        assert result.exit_code == 0, result.output
        assert "round  10/10" in result.output
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["rounds_completed"] == 10
        assert summary["final_mean_accuracy"] >= 0.93
        metrics = json.loads((folder / "metrics.json").read_text())
        assert len(metrics) == 80
        runs.append([[m[k] for k in COMPARED] for m in metrics])
    assert runs[0] == runs[1]
