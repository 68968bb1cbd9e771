"""Final accuracy of FedAvg, FedProx and SCAFFOLD on a non-IID digits split.

Every variant runs the same federation with ``run_experiment``: 8 fully
connected memory nodes for 10 rounds, all with the same seed. A
Dirichlet(0.1) draw over classes splits scikit-learn's digits across the
nodes. With seed 42, seven of the eight nodes have 10 or more samples of at
most four digits. Each node keeps 20% of its share as its test split. The
learner is core's numpy softmax regression, trained by SGD with learning rate
0.5, batch 32 and 2 local epochs. Only the learner algorithm and the
aggregator change:

- ``fedavg``: plain local SGD, ``fedavg`` aggregator;
- ``fedprox mu=...``: the ``fedprox`` learner algorithm with that ``mu``,
  ``fedavg`` aggregator;
- ``scaffold``: the ``scaffold`` learner algorithm and the ``scaffold``
  aggregator with ``learning_rate: 1.0``, as docs/aggregators.md shows.

Reported per variant: the mean test accuracy over all nodes after the last
round, its difference to FedAvg, the mean accuracy after every round and the
run's wall seconds. Results go to ``benchmarks/results/algorithms.json``.

Usage: ``python benchmarks/bench_algorithms.py [--seed 42] [--rounds 10] [--epochs 2]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_json  # noqa: E402

FEDPROX_MUS = (0.001, 0.01, 0.1)

FEDERATION: dict[str, Any] = {
    "name": "bench-algorithms",
    "nodes": 8,
    "topology": "full",
    "protocol": "memory",
    "data": {
        "dataset": "digits",
        "partition": "dirichlet",
        "alpha": 0.1,
        "test_fraction": 0.2,
    },
    "learner": {
        "name": "numpy",
        "model": "softmax",
        "learning_rate": 0.5,
        "batch_size": 32,
    },
    "aggregator": "fedavg",
}


def variants() -> dict[str, dict[str, Any]]:
    """Return the learner and aggregator entries that differ between variants."""
    runs: dict[str, dict[str, Any]] = {"fedavg": {}}
    for mu in FEDPROX_MUS:
        runs[f"fedprox mu={mu:g}"] = {
            "algorithm": {"name": "fedprox", "mu": mu},
        }
    runs["scaffold"] = {
        "algorithm": "scaffold",
        "aggregator": {"name": "scaffold", "learning_rate": 1.0},
    }
    return runs


def experiment(
    change: dict[str, Any], seed: int, rounds: int, epochs: int
) -> dict[str, Any]:
    """Return the federation with one variant's algorithm and aggregator."""
    learner = dict(FEDERATION["learner"])
    if "algorithm" in change:
        learner["algorithm"] = change["algorithm"]
    return {
        **FEDERATION,
        "seed": seed,
        "rounds": rounds,
        "epochs": epochs,
        "learner": learner,
        "aggregator": change.get("aggregator", FEDERATION["aggregator"]),
    }


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """Run one variant with core's components only and return its numbers.

    Raises:
        RuntimeError: A node failed, so the accuracy would not be comparable.
    """
    from p2pfl_core.experiment import run_experiment
    from p2pfl_core.manager import PluginManager

    result = run_experiment(config, manager=PluginManager(env={}, autoload=False))
    if result.errors or result.rounds_completed != config["rounds"]:
        raise RuntimeError(
            f"the run with learner {config['learner']} and aggregator "
            f"{config['aggregator']} completed {result.rounds_completed} of "
            f"{config['rounds']} rounds; node errors: {result.errors or 'none'}"
        )
    rounds = range(result.rounds_completed)
    return {
        "learner": config["learner"],
        "aggregator": config["aggregator"],
        "final_mean_accuracy": round(result.final_mean_accuracy, 4),
        "mean_accuracy_per_round": [
            round(result.round_mean("accuracy", r), 4) for r in rounds
        ],
        "wall_seconds": round(result.wall_seconds, 2),
    }


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    """Print each variant's final accuracy and its difference to FedAvg."""
    reference = rows["fedavg"]["final_mean_accuracy"]
    print(f"{'variant':<18} {'final accuracy':>14} {'vs fedavg':>10} {'wall s':>7}")
    for name, row in rows.items():
        accuracy = row["final_mean_accuracy"]
        print(
            f"{name:<18} {accuracy:>14.4f} {accuracy - reference:>+10.4f} "
            f"{row['wall_seconds']:>7.2f}"
        )


def main() -> None:
    """Run every variant, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2, help="local epochs per round")
    args = parser.parse_args()
    rows = {
        name: measure(experiment(change, args.seed, args.rounds, args.epochs))
        for name, change in variants().items()
    }
    print(
        f"digits, 8 nodes, Dirichlet alpha 0.1, {args.rounds} rounds, "
        f"{args.epochs} local epochs, seed {args.seed}"
    )
    print_table(rows)
    reference = rows["fedavg"]["final_mean_accuracy"]
    for row in rows.values():
        row["difference_to_fedavg"] = round(row["final_mean_accuracy"] - reference, 4)
    federation = {key: value for key, value in FEDERATION.items() if key != "name"}
    write_json(
        "algorithms",
        {
            "seed": args.seed,
            "rounds": args.rounds,
            "epochs": args.epochs,
            "federation": federation,
            "variants": rows,
        },
    )


if __name__ == "__main__":
    main()
