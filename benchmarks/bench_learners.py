"""Time of one local epoch and framework time per round of each installed learner.

The epoch is timed on node 0's data of ``examples/digits.yaml``: a
Dirichlet(0.5) share of scikit-learn's digits over 8 nodes with seed 42,
split 80/20. The round is timed on a small federation run with
``run_experiment``: 4 memory nodes in a ring, an IID split of digits, one
epoch per round and ``training_slots: 1``, so fit and evaluate never overlap.
A round's wall time is the last ``finished_at`` minus the first ``started_at``
over its metric records. Its framework time is that wall time minus the sum of
the records' fit and evaluate seconds: messages, weight encoding,
``get_weights``/``set_weights`` and waits. ``bench_rounds.py`` computes the
same number for the numpy learner at 8 and 64 nodes.

Each learner runs in its own subprocess, so import time and peak memory belong
to one framework. A learner whose plugin or framework is not installed is
skipped with a message.

Reported per learner: import seconds, build seconds, the first epoch (which
includes tracing or compiling), the median of the following epochs, the first
evaluation and the median of five more, peak resident memory before the
federation, the framework versions, and the federation's median round wall
time and framework time per round.
Results are merged into ``benchmarks/results/learners.json``, so runs in
separate virtual environments add up.

Usage:
``python benchmarks/bench_learners.py [--epochs 20] [--rounds 3] [LEARNER ...]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import RESULTS, round_timings, write_json  # noqa: E402

FEDERATION: dict[str, Any] = {
    "nodes": 4,
    "topology": "ring",
    "training_slots": 1,
    "partition": "iid",
}

LEARNERS: dict[str, dict[str, Any]] = {
    "numpy": {
        "modules": ["p2pfl_core"],
        "factory": "p2pfl_core.learning.numpy_learner:NumpyLearner",
        "settings": {"model": "mlp", "learning_rate": 0.1},
        "versions": ["numpy"],
    },
    "torch": {
        "modules": ["p2pfl_torch", "torch"],
        "factory": "p2pfl_torch.learner:TorchLearner",
        "settings": {"model": "mlp", "learning_rate": 0.1, "momentum": 0.9},
        "versions": ["torch"],
    },
    "tensorflow": {
        "modules": ["p2pfl_tensorflow", "tensorflow"],
        "factory": "p2pfl_tensorflow.learner:KerasLearner",
        "settings": {"model": "mlp", "learning_rate": 0.1, "momentum": 0.9},
        "versions": ["tensorflow-cpu", "tensorflow", "keras"],
    },
    "flax": {
        "modules": ["p2pfl_flax", "jax", "flax", "optax"],
        "factory": "p2pfl_flax.learner:FlaxLearner",
        "settings": {"model": "mlp", "learning_rate": 0.1, "momentum": 0.9},
        "versions": ["jax", "jaxlib", "flax", "optax"],
    },
}


def node_data() -> Any:
    """Return node 0's data of the digits example (8 nodes, seed 42)."""
    from p2pfl_core.data.partition import dirichlet, train_test_split
    from p2pfl_core.data.sources import load_digits
    from p2pfl_core.experiment import node_seed

    dataset = load_digits()
    parts = dirichlet(dataset.y, 8, seed=42, alpha=0.5)
    return train_test_split(dataset, parts[0], test_fraction=0.2, seed=node_seed(42, 0))


def measure(name: str, epochs: int) -> dict[str, Any]:
    """Time one learner in this process and return the numbers."""
    spec = LEARNERS[name]
    data = node_data()
    module_name, _, attr = spec["factory"].partition(":")

    started = time.perf_counter()
    learner_class = getattr(importlib.import_module(module_name), attr)
    imported = time.perf_counter()
    learner = learner_class.from_settings(spec["settings"], data, seed=0)
    built = time.perf_counter()
    learner.fit(0)
    first = time.perf_counter() - built

    times = []
    for training_round in range(1, epochs + 1):
        begin = time.perf_counter()
        learner.fit(training_round)
        times.append(time.perf_counter() - begin)

    evaluations = []
    for _ in range(6):
        begin = time.perf_counter()
        metrics = learner.evaluate()
        evaluations.append(time.perf_counter() - begin)

    return {
        "train_samples": int(data.num_samples),
        "batch_size": int(learner.batch_size),
        "import_s": round(imported - started, 4),
        "build_s": round(built - imported, 4),
        "first_epoch_s": round(first, 4),
        "epoch_ms_median": round(statistics.median(times) * 1000, 3),
        "epoch_ms_min": round(min(times) * 1000, 3),
        "first_evaluate_ms": round(evaluations[0] * 1000, 3),
        "evaluate_ms_median": round(statistics.median(evaluations[1:]) * 1000, 3),
        "accuracy_after": round(metrics["accuracy"], 4),
        "peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "versions": _versions(spec["versions"]),
    }


def measure_rounds(name: str, rounds: int) -> dict[str, Any]:
    """Run the small federation with one learner and time its rounds."""
    from p2pfl_core.experiment import run_experiment

    settings = {"name": name, **LEARNERS[name]["settings"]}
    result = run_experiment(
        {
            "name": f"bench-learner-{name}",
            "seed": 1,
            "nodes": FEDERATION["nodes"],
            "rounds": rounds,
            "epochs": 1,
            "topology": FEDERATION["topology"],
            "training_slots": FEDERATION["training_slots"],
            "data": {"dataset": "digits", "partition": FEDERATION["partition"]},
            "learner": settings,
        }
    )
    if result.errors:
        node, error = next(iter(result.errors.items()))
        raise RuntimeError(f"{name} federation failed on {node}: {error}")
    timings = round_timings(result.metrics)
    return {
        "rounds": result.rounds_completed,
        **{key: round(value, 3) for key, value in timings.items()},
        "federation_accuracy": round(result.final_mean_accuracy, 4),
        "federation_wall_s": round(result.wall_seconds, 3),
    }


def _versions(distributions: list[str]) -> dict[str, str]:
    found = {}
    for distribution in distributions:
        try:
            found[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return found


def _missing(name: str) -> list[str]:
    return [m for m in LEARNERS[name]["modules"] if importlib.util.find_spec(m) is None]


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    """Print the epoch time next to the framework time per round."""
    print(
        f"{'learner':<11} {'epoch ms':>9} {'framework ms/round':>19} "
        f"{'round wall ms':>14} {'first epoch s':>14} {'import s':>9} {'peak MiB':>9}"
    )
    for name, numbers in rows.items():
        framework = numbers.get("framework_ms_per_round_median")
        wall = numbers.get("round_wall_ms_median")
        print(
            f"{name:<11} {numbers['epoch_ms_median']:>9.2f} "
            f"{'-' if framework is None else f'{framework:.1f}':>19} "
            f"{'-' if wall is None else f'{wall:.1f}':>14} "
            f"{numbers['first_epoch_s']:>14.2f} {numbers['import_s']:>9.2f} "
            f"{numbers['peak_rss_mib']:>9.0f}"
        )


def run_child(name: str, epochs: int, rounds: int) -> dict[str, Any] | None:
    """Measure one learner in a subprocess, or return None when it fails."""
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--epochs",
        str(epochs),
        "--rounds",
        str(rounds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        print(f"{name:<11} failed:\n{done.stderr[-2000:]}")
        return None
    numbers: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return numbers


def main() -> None:
    """Time each requested learner in a subprocess and merge the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "learners", nargs="*", help=f"learners to time (default: {' '.join(LEARNERS)})"
    )
    parser.add_argument(
        "--epochs", type=int, default=20, help="epochs timed after the first"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of the 4-node federation; 0 skips the federation",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        numbers = measure(args.child, args.epochs)
        if args.rounds > 0:
            numbers.update(measure_rounds(args.child, args.rounds))
        print(json.dumps(numbers))
        return

    unknown = [name for name in args.learners if name not in LEARNERS]
    if unknown:
        parser.error(
            f"unknown learner {unknown[0]!r}; choose from: {', '.join(LEARNERS)}"
        )

    path = RESULTS / "learners.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    results: dict[str, Any] = dict(previous.get("learners", {}))
    measured: dict[str, dict[str, Any]] = {}
    for name in args.learners or list(LEARNERS):
        missing = _missing(name)
        if missing:
            print(f"{name:<11} skipped: {', '.join(missing)} not installed")
            continue
        numbers = run_child(name, args.epochs, args.rounds)
        if numbers is not None:
            measured[name] = results[name] = numbers

    print_table(measured)
    write_json(
        "learners",
        {
            "epochs_timed": args.epochs,
            "rounds_timed": args.rounds,
            "federation": FEDERATION,
            "learners": results,
        },
    )


if __name__ == "__main__":
    main()
