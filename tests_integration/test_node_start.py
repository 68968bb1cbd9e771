"""``p2pfl node start``: one real gRPC node process, stopped two ways."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import yaml

from p2pfl_core.config import NodeFile, parse_experiment
from p2pfl_core.experiment import FederationBuilder
from p2pfl_core.launcher import free_ports
from p2pfl_core.manager import PluginManager
from p2pfl_core.plugin import hookimpl

BASE: dict[str, Any] = {
    "seed": 5,
    "nodes": 2,
    "protocol": "grpc",
    "data": {"dataset": "digits", "partition": "iid"},
    "learner": {"name": "numpy", "learning_rate": 0.5},
    "timeouts": {"heartbeat_period": 0.5, "start": 30},
}


class EventStream:
    """Reads a node process's JSON events on a thread and signals each kind."""

    def __init__(self, stream: IO[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.seen: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            event = json.loads(line)
            with self.lock:
                self.events.append(event)
                self.seen.setdefault(event["event"], threading.Event()).set()

    def wait(self, kind: str, timeout: float) -> bool:
        with self.lock:
            flag = self.seen.setdefault(kind, threading.Event())
        return flag.wait(timeout)


def start_node(
    path: Path, config: dict[str, Any]
) -> tuple[subprocess.Popen[str], EventStream]:
    """Write a node file and start ``p2pfl node start`` on it."""
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "p2pfl_core", "node", "start", str(path), "--events"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, EventStream(process.stdout)


def test_ctrl_c_stops_the_node(tmp_path: Path) -> None:
    """SIGINT ends a waiting node cleanly with exit code 0."""
    (port,) = free_ports(1)
    process, events = start_node(
        tmp_path / "node.yaml", {**BASE, "address": f"127.0.0.1:{port}"}
    )
    try:
        assert events.wait("started", 60)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    kinds = [e["event"] for e in events.events]
    assert kinds[0] == "started"
    assert "interrupted" in kinds
    assert kinds[-1] == "stopped"


def test_stop_learning_from_a_peer_ends_the_process(tmp_path: Path) -> None:
    """A node process exits after another node floods stop_learning."""
    first_port, second_port = free_ports(2)
    first = {
        **BASE,
        "rounds": 1000,
        "address": f"127.0.0.1:{first_port}",
        "initiator": True,
        "members": 2,
    }
    process, events = start_node(tmp_path / "first.yaml", first)
    round_done = threading.Event()

    class Watcher:
        @hookimpl
        def p2pfl_round_finished(
            self, node: str, round: int, metrics: dict[str, float]
        ) -> None:
            round_done.set()

    manager = PluginManager()
    manager.pm.register(Watcher(), name="watcher")
    config = parse_experiment({**BASE, "index": 1}, schema=NodeFile)
    node = FederationBuilder(config, manager).node(1, f"127.0.0.1:{second_port}")
    node.start()
    try:
        assert events.wait("started", 60)
        assert node.connect(f"127.0.0.1:{first_port}")
        assert round_done.wait(60)
        node.stop_learning()
        assert process.wait(60) == 0
    finally:
        node.stop()
        if process.poll() is None:
            process.kill()
    stopped = [e for e in events.events if e["event"] == "stopped"]
    assert len(stopped) == 1
    assert 1 <= stopped[0]["rounds"] < 1000


def test_sigkilled_node_is_left_out_and_others_finish(tmp_path: Path) -> None:
    """SIGKILL one of three node processes mid-run: the other two finish every round."""
    ports = free_ports(3)
    addresses = [f"127.0.0.1:{port}" for port in ports]
    common = {
        **BASE,
        "nodes": 3,
        "rounds": 4,
        "exit_after_learning": True,
        "timeouts": {
            "heartbeat_period": 0.2,
            "heartbeat_timeout": 1.5,
            "aggregation": 20,
            "start": 60,
        },
    }
    started = []
    for index, address in enumerate(addresses):
        config = {
            **common,
            "index": index,
            "address": address,
            "neighbors": addresses[:index],
            "initiator": index == 0,
            "members": 3,
            "metrics_output": str(tmp_path / f"node-{index}.json"),
        }
        started.append(start_node(tmp_path / f"node-{index}.yaml", config))
    (survivor_a, events_a), (survivor_b, events_b), (victim, victim_events) = started
    try:
        assert victim_events.wait("round_finished", 60)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(30) == -signal.SIGKILL
        assert survivor_a.wait(120) == 0
        assert survivor_b.wait(120) == 0
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
    for index in (0, 1):
        metrics = json.loads((tmp_path / f"node-{index}.json").read_text())
        assert [m["round"] for m in metrics] == [0, 1, 2, 3]
        assert metrics[0]["contributors"] == 3
        assert metrics[-1]["contributors"] == 2
