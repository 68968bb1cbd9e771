"""Whole federations of gRPC nodes in one process, with core's numpy learner."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from p2pfl_core.experiment import (
    build_federation,
    connect_topology,
    load_experiment,
    run_experiment,
    shutdown,
)
from p2pfl_core.manager import get_plugin_manager


def _experiment(rounds: int, **protocol: Any) -> dict[str, Any]:
    return {
        "seed": 1,
        "nodes": 4,
        "rounds": rounds,
        "topology": "full",
        "protocol": {"name": "grpc", **protocol},
        "data": {"dataset": "digits", "partition": "iid", "test_fraction": 0.2},
        "learner": {"name": "numpy", "model": "softmax", "learning_rate": 0.5},
        "aggregator": "fedavg",
        "timeouts": {"start": 30, "vote": 30, "aggregation": 30, "gossip": 30},
    }


@pytest.mark.slow
def test_four_grpc_nodes_run_two_rounds() -> None:
    """4 gRPC nodes train 2 rounds of digits and each reports both rounds."""
    result = run_experiment(_experiment(rounds=2))
    assert result.errors == {}
    assert result.rounds_completed == 2
    assert len(result.metrics) == 8
    assert all(m["node"].startswith("127.0.0.1:") for m in result.metrics)
    assert result.round_mean("accuracy", 1) > 0.5


@pytest.mark.slow
def test_server_pool_of_one_thread_does_not_deadlock() -> None:
    """With one server thread per node, a round on a full mesh of 4 ends quickly."""
    manager = get_plugin_manager()
    experiment = load_experiment(_experiment(rounds=1, max_workers=1))
    nodes = build_federation(experiment, manager)
    try:
        for node in nodes:
            node.start()
        connect_topology(experiment, nodes, manager)
        started = time.monotonic()
        nodes[0].set_start_learning(rounds=1, epochs=1)
        for node in nodes:
            assert node.wait_finished(30.0)
        assert time.monotonic() - started < 15.0
        final = [node.learner.get_weights() for node in nodes]
    finally:
        shutdown(nodes)
    for weights in final[1:]:
        assert list(weights) == list(final[0])
        for name in weights:
            assert np.array_equal(weights[name], final[0][name])


@pytest.mark.slow
def test_p2pfl_run_one_process_per_node(tmp_path: Path) -> None:
    """p2pfl run with launch: processes runs 3 gRPC nodes, one process each."""
    experiment = {**_experiment(rounds=2), "nodes": 3, "launch": "processes"}
    experiment["protocol"] = "grpc"
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment))
    output = tmp_path / "results"
    command = [sys.executable, "-m", "p2pfl_core", "run", str(path), "-o", str(output)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-2000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert len(metrics) == 6
    assert {m["round"] for m in metrics} == {0, 1}
    assert all(m["node"].startswith("127.0.0.1:") for m in metrics)
