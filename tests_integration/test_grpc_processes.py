"""Cross-plugin runs: torch nodes as separate processes talking gRPC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from p2pfl_core.experiment import run_experiment

EXPERIMENT: dict[str, Any] = {
    "name": "digits-grpc-torch",
    "seed": 42,
    "nodes": 4,
    "rounds": 3,
    "epochs": 2,
    "topology": "ring",
    "data": {"dataset": "digits", "partition": "dirichlet", "alpha": 0.5},
    "learner": {
        "name": "torch",
        "model": "mlp",
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.9,
    },
    "timeouts": {"heartbeat_period": 0.5, "start": 60},
}


@pytest.mark.slow
def test_four_grpc_processes_match_memory(tmp_path: Path) -> None:
    """4 OS processes over gRPC reach the in-process accuracy within 0.01."""
    memory = run_experiment({**EXPERIMENT, "protocol": "memory"})
    processes = run_experiment(
        {**EXPERIMENT, "protocol": "grpc", "launch": "processes"}, tmp_path / "out"
    )
    assert processes.errors == {}
    assert processes.rounds_completed == 3
    assert len(processes.metrics) == 12
    addresses = {m["node"] for m in processes.metrics}
    assert all(a.startswith("127.0.0.1:") for a in addresses)
    assert len(addresses) == 4
    assert abs(processes.final_mean_accuracy - memory.final_mean_accuracy) <= 0.01
    assert (tmp_path / "out" / "nodes" / "node-3.log").exists()
