"""The results folder of a run: config, metrics, traffic, timings and a plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from p2pfl_core.experiment import ExperimentResult

METRIC_COLUMNS = [
    "round",
    "node",
    "accuracy",
    "loss",
    "train_loss",
    "fit_seconds",
    "evaluate_seconds",
    "round_seconds",
    "contributors",
    "byzantine",
    "bytes_sent",
    "bytes_received",
]


def summarize(result: ExperimentResult) -> dict[str, Any]:
    """Return the headline numbers of a run."""
    rounds = sorted({m["round"] for m in result.metrics})
    final = result.final_mean_accuracy
    return {
        "name": result.experiment.name,
        "seed": result.experiment.seed,
        "nodes": result.experiment.nodes,
        "rounds_completed": len(rounds),
        "final_mean_accuracy": None if final != final else final,
        "mean_accuracy_per_round": [result.round_mean("accuracy", r) for r in rounds],
        "mean_loss_per_round": [result.round_mean("loss", r) for r in rounds],
        "wall_seconds": result.wall_seconds,
        "errors": result.errors,
    }


def write_results(result: ExperimentResult, folder: Path) -> Path:
    """Write the results folder and return its path.

    Files: ``config.yaml`` (the resolved experiment), ``metrics.json`` and
    ``metrics.csv`` (one record per node and round), ``traffic.json`` (bytes
    sent and received per node), ``stages.json`` (seconds per stage and node),
    ``summary.json`` and ``accuracy.png``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = result.experiment.model_dump(mode="json")
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _write_json(folder / "metrics.json", result.metrics)
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result.metrics)
    _write_json(folder / "traffic.json", result.traffic)
    _write_json(folder / "stages.json", result.stage_seconds)
    _write_json(folder / "summary.json", summarize(result))
    plot_metrics(result, folder / "accuracy.png")
    return folder


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def plot_metrics(result: ExperimentResult, path: Path) -> None:
    """Plot mean test accuracy and loss per round, with each node faintly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = sorted({m["round"] for m in result.metrics})
    nodes = sorted({m["node"] for m in result.metrics})
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key in ((left, "accuracy"), (right, "loss")):
        for node in nodes:
            points = [
                (m["round"] + 1, m[key]) for m in result.metrics if m["node"] == node
            ]
            axis.plot(*zip(*points, strict=True), color="grey", alpha=0.25, linewidth=1)
        means = [result.round_mean(key, r) for r in rounds]
        axis.plot(
            [r + 1 for r in rounds], means, color="tab:blue", linewidth=2, label="mean"
        )
        axis.set_xlabel("round")
        axis.set_ylabel(f"test {key}")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"{result.experiment.name}: {len(nodes)} nodes")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
