"""Two sign-flipping nodes break FedAvg in examples/digits-byzantine.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from p2pfl_core.experiment import ExperimentResult, load_experiment, run_experiment
from p2pfl_core.manager import PluginManager

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits-byzantine.yaml"
# The example runs 30 rounds. Ten rounds keep the test short and show the same
# effect.
SHORT_RUN = ("rounds=10",)


def run(*overrides: str) -> ExperimentResult:
    """Run the shortened example with core's components only."""
    experiment = load_experiment(EXAMPLE, (*SHORT_RUN, *overrides))
    return run_experiment(experiment, manager=PluginManager(env={}, autoload=False))


def honest_final_accuracy(result: ExperimentResult) -> float:
    """Return the mean last-round accuracy of the records with byzantine false."""
    last = max(m["round"] for m in result.metrics)
    return float(
        np.mean(
            [
                m["accuracy"]
                for m in result.metrics
                if m["round"] == last and not m["byzantine"]
            ]
        )
    )


def byzantine_flags(result: ExperimentResult, round: int) -> dict[str, bool]:
    """Return each node's ``byzantine`` flag in ``round``."""
    return {m["node"]: m["byzantine"] for m in result.metrics if m["round"] == round}


@pytest.mark.slow
def test_sign_flip_collapses_fedavg() -> None:
    """FedAvg's honest nodes end below 0.5 accuracy with two sign flippers."""
    result = run()

    assert result.errors == {}
    assert result.rounds_completed == 10
    # Measured 0.1042 (the run without attackers: 0.9194), numpy 2.4.6.
    assert honest_final_accuracy(result) < 0.5


@pytest.mark.slow
def test_records_mark_byzantine_nodes() -> None:
    """Every record of nodes 0 and 1 has byzantine true, the others false."""
    result = run("rounds=2")

    expected = {f"node-{i}": i in (0, 1) for i in range(10)}
    assert byzantine_flags(result, 0) == expected
    assert byzantine_flags(result, 1) == expected


@pytest.mark.slow
def test_attacked_run_repeats_exactly() -> None:
    """Two runs with seed 42 give identical accuracies and losses."""
    first = run("rounds=3")
    second = run("rounds=3")

    def records(result: ExperimentResult) -> list[tuple[int, str, float, float]]:
        return [
            (m["round"], m["node"], m["accuracy"], m["loss"]) for m in result.metrics
        ]

    assert len(first.metrics) == 30
    assert records(first) == records(second)
