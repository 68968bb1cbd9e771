"""``p2pfl run``: validate an experiment file and run the federation."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from p2pfl_core.errors import P2PFLError
from p2pfl_core.plugin import hookimpl


class StageStatus:
    """Observer plugin that keeps one status line: round and nodes per stage.

    The line is redrawn at most every 0.2 s, and only on a terminal.
    """

    def __init__(self, rounds: int, *, enabled: bool) -> None:
        self.rounds = rounds
        self.enabled = enabled
        self.stages: dict[str, tuple[int, str]] = {}
        self.lock = threading.Lock()
        self.drawn_at = 0.0
        self.width = 0

    @hookimpl
    def p2pfl_stage_started(self, node: str, stage: str, round: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.stages[node] = (round, stage)
            now = time.monotonic()
            if now - self.drawn_at < 0.2:
                return
            self.drawn_at = now
            current = min(r for r, _ in self.stages.values())
            counts = Counter(s for _, s in self.stages.values())
            parts = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
            line = f"round {current + 1}/{self.rounds}: {parts}"
            self.width = max(self.width, len(line))
            click.echo("\r" + line.ljust(self.width), nl=False)

    def clear(self) -> None:
        with self.lock:
            if self.enabled and self.width:
                click.echo("\r" + " " * self.width + "\r", nl=False)


def _clear_earlier_run(folder: Path) -> None:
    """Say when a results folder is reused, and drop its old node files."""
    if not (folder / "summary.json").exists():
        return
    click.echo(f"replacing the results of an earlier run in {folder}/", err=True)
    nodes = folder / "nodes"
    if nodes.is_dir() and all(p.name.startswith("node-") for p in nodes.iterdir()):
        shutil.rmtree(nodes)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _setup_logging(verbose: int) -> None:
    levels = {0: logging.WARNING, 1: logging.INFO}
    level = levels.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override one key of the file, e.g. --set rounds=3 --set learner.learning_rate=0.05.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Results folder [default: the file's 'output' key, else results/NAME].",
)
@click.option(
    "--verbose", "-v", count=True, help="Log stages (-v) or everything (-vv)."
)
def run(
    experiment_file: Path, overrides: tuple[str, ...], output: Path | None, verbose: int
) -> None:
    """Run the federation described by EXPERIMENT_FILE and write a results folder."""
    _setup_logging(verbose)
    # SIGTERM ends the run like Ctrl-C, so node processes are stopped and the
    # finished rounds are written.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    from p2pfl_core.config import check_components, load_experiment
    from p2pfl_core.experiment import run_experiment
    from p2pfl_core.manager import get_plugin_manager

    try:
        experiment = load_experiment(experiment_file, overrides)
        manager = get_plugin_manager()
        check_components(experiment, manager, experiment_file.name)
    except P2PFLError as exc:
        raise click.ClickException(str(exc)) from None
    folder = output or Path(experiment.output or f"results/{experiment.name}")
    _clear_earlier_run(folder)

    def announce() -> None:
        click.echo(
            f"{experiment.name}: {experiment.nodes} nodes, "
            f"{experiment.topology.name} topology, {experiment.learner.name} learner, "
            f"{experiment.aggregator.name}, {experiment.rounds} rounds, "
            f"seed {experiment.seed}"
        )

    status = StageStatus(experiment.rounds, enabled=sys.stdout.isatty())

    def report(round: int, records: list[dict[str, Any]]) -> None:
        accuracy = sum(r["accuracy"] for r in records) / len(records)
        loss = sum(r["loss"] for r in records) / len(records)
        line = (
            f"round {round + 1:>3}/{experiment.rounds}  mean accuracy {accuracy:.4f}  "
            f"mean loss {loss:.4f}"
        )
        honest = [r["accuracy"] for r in records if not r.get("byzantine")]
        if len(honest) < len(records):
            line += f"  honest nodes' accuracy {sum(honest) / max(1, len(honest)):.4f}"
        status.clear()
        click.echo(line)

    manager.pm.register(status, name="run-status")
    try:
        result = run_experiment(
            experiment, folder, manager=manager, progress=report, on_start=announce
        )
    except P2PFLError as exc:
        message = str(exc)
        if not message.startswith(experiment_file.name):
            message = f"{experiment_file.name}: {message}"
        raise click.ClickException(message) from None
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; results of the finished rounds are in {folder}/", err=True
        )
        raise SystemExit(130) from None
    finally:
        status.clear()
        manager.pm.unregister(status)
    click.echo(
        f"finished {result.rounds_completed} rounds in {result.wall_seconds:.2f} s; "
        f"final mean accuracy {result.final_mean_accuracy:.4f}"
    )
    click.echo(f"results written to {folder}/")
    if result.errors or result.rounds_completed < experiment.rounds:
        for node, error in result.errors.items():
            click.echo(f"node {node} failed: {error}", err=True)
        raise SystemExit(1)
