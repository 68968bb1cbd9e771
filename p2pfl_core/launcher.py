"""Run an experiment with one operating-system process per node.

Each node runs ``p2pfl node start`` on a node file written from the
experiment, listening on a free 127.0.0.1 port. The launcher reads each
node's JSON events for progress and collects its metrics file at the end.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import yaml

from p2pfl_core.config import Experiment
from p2pfl_core.manager import PluginManager

logger = logging.getLogger(__name__)

Progress = Callable[[int, list[dict[str, Any]]], None]


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_node_files(
    experiment: Experiment, folder: Path, manager: PluginManager
) -> list[Path]:
    """Write one node file per node, wired along the experiment's topology."""
    folder.mkdir(parents=True, exist_ok=True)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(experiment.nodes)]
    topology = manager.load("topology", experiment.topology.name)
    edges = topology(
        experiment.nodes, seed=experiment.seed, **experiment.topology.params
    )
    base = experiment.model_dump(mode="json", exclude={"launch", "output"})
    paths = []
    for index, address in enumerate(addresses):
        node = {
            **base,
            "index": index,
            "address": address,
            "neighbors": [addresses[j] for i, j in edges if i == index],
            "initiator": index == 0,
            "members": experiment.nodes,
            "exit_after_learning": True,
            "metrics_output": str(folder / f"node-{index}.metrics.json"),
        }
        path = folder / f"node-{index}.yaml"
        path.write_text(yaml.safe_dump(node, sort_keys=False))
        paths.append(path)
    return paths


class _EventReader:
    """Collects round events from the nodes' standard output."""

    def __init__(self, num_nodes: int, progress: Progress | None) -> None:
        self.num_nodes = num_nodes
        self.progress = progress
        self.rounds: dict[int, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(event, dict) or event.get("event") != "round_finished":
                continue
            with self.lock:
                records = self.rounds.setdefault(int(event["round"]), [])
                records.append(event["metrics"])
                complete = len(records) == self.num_nodes
            if complete and self.progress is not None:
                self.progress(int(event["round"]), records)


def run_processes(
    experiment: Experiment,
    manager: PluginManager,
    folder: Path | None,
    progress: Progress | None,
    timeout: float,
) -> tuple[list[dict[str, Any]], dict[str, str], float, bool]:
    """Start one process per node and wait for all of them.

    Returns:
        The metrics of every node, the errors by node, the wall time, and
        whether the run was interrupted (Ctrl-C or SIGTERM).
    """
    work = (
        folder / "nodes"
        if folder is not None
        else Path(tempfile.mkdtemp(prefix="p2pfl-"))
    )
    paths = write_node_files(experiment, work, manager)
    reader = _EventReader(experiment.nodes, progress)
    processes: list[subprocess.Popen[str]] = []
    threads = []
    started = time.perf_counter()
    for index, path in enumerate(paths):
        log = (work / f"node-{index}.log").open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "p2pfl_core",
                "node",
                "start",
                str(path),
                "--events",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        processes.append(process)
        thread = threading.Thread(
            target=reader.read, args=(process.stdout,), daemon=True
        )
        thread.start()
        threads.append(thread)
    errors: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        for index, process in enumerate(processes):
            try:
                code = process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
                errors[f"node-{index}"] = f"killed after the {timeout:.0f} s time limit"
                continue
            if code != 0:
                log_path = work / f"node-{index}.log"
                errors[f"node-{index}"] = f"exit code {code}; see {log_path}"
    except KeyboardInterrupt:
        # Stop the nodes (each writes its metrics on SIGTERM) and return what
        # they finished; the caller writes it and raises the interrupt again.
        interrupted = True
    finally:
        # On an interrupt or an error here, no node process is left behind.
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    wall = time.perf_counter() - started
    for thread in threads:
        thread.join(timeout=5)
    metrics: list[dict[str, Any]] = []
    for index in range(experiment.nodes):
        path = work / f"node-{index}.metrics.json"
        if path.exists():
            metrics.extend(json.loads(path.read_text()))
    written = {m["node"] for m in metrics}
    # A node that died wrote no metrics file; keep the rounds it reported.
    for records in reader.rounds.values():
        metrics.extend(m for m in records if m["node"] not in written)
    return metrics, errors, wall, interrupted
