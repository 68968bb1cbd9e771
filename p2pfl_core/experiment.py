"""Build a federation from an experiment and run it to the end."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from p2pfl_core.communication.memory import MemoryNetwork
from p2pfl_core.communication.protocol import CommunicationProtocol, ProtocolSettings
from p2pfl_core.config import Experiment, check_components, load_experiment
from p2pfl_core.data.partition import train_test_split
from p2pfl_core.errors import ConfigError
from p2pfl_core.manager import PluginManager, get_plugin_manager
from p2pfl_core.node import Node
from p2pfl_core.node_state import NodeSettings
from p2pfl_core.plugin import hookimpl
from p2pfl_core.pool import set_training_slots

logger = logging.getLogger(__name__)

__all__ = ["ExperimentResult", "build_federation", "load_experiment", "run_experiment"]


@dataclass
class ExperimentResult:
    """What a finished experiment measured.

    Args:
        experiment: The resolved experiment.
        metrics: One record per node and round: node, round, accuracy, loss,
            train_loss, fit_seconds, evaluate_seconds, round_seconds, bytes.
        traffic: Node to ``{"sent": bytes, "received": bytes}``.
        stage_seconds: Node to seconds spent in each stage.
        wall_seconds: Time from start of learning to the last node's end.
        errors: Node to the error that ended its workflow early.
        output: The results folder, when one was written.
    """

    experiment: Experiment
    metrics: list[dict[str, Any]]
    traffic: dict[str, dict[str, int]]
    stage_seconds: dict[str, dict[str, float]]
    wall_seconds: float
    errors: dict[str, str] = field(default_factory=dict)
    output: Path | None = None

    def round_mean(self, key: str, round: int) -> float:
        """Return the mean of ``key`` over the nodes' records of ``round``."""
        values = [m[key] for m in self.metrics if m["round"] == round]
        return float(np.mean(values)) if values else float("nan")

    @property
    def rounds_completed(self) -> int:
        """Number of rounds for which at least one node reported metrics."""
        return len({m["round"] for m in self.metrics})

    @property
    def final_mean_accuracy(self) -> float:
        """Mean test accuracy across nodes after the last round."""
        last = max((m["round"] for m in self.metrics), default=-1)
        return self.round_mean("accuracy", last)


def node_seed(seed: int, index: int) -> int:
    """Return the seed of node ``index``, derived from the experiment seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _addresses(experiment: Experiment) -> list[str]:
    width = len(str(experiment.nodes - 1))
    return [f"node-{i:0{width}d}" for i in range(experiment.nodes)]


def _make_protocol(
    experiment: Experiment,
    manager: PluginManager,
    address: str,
    network: MemoryNetwork,
) -> CommunicationProtocol:
    timeouts = experiment.timeouts
    settings = ProtocolSettings(
        heartbeat_period=timeouts.heartbeat_period,
        heartbeat_timeout=timeouts.heartbeat_timeout,
        ttl=max(16, experiment.nodes),
    )
    cls = manager.load("protocol", experiment.protocol.name)
    if experiment.protocol.name == "memory":
        return cls(address, settings, manager.hook, network=network)  # type: ignore[no-any-return]
    if hasattr(cls, "from_settings"):
        return cls.from_settings(None, experiment.protocol.params, settings, manager.hook)  # type: ignore[no-any-return]
    return cls(None, settings, manager.hook)  # type: ignore[no-any-return]


def _make_aggregator(experiment: Experiment, manager: PluginManager, address: str) -> Any:
    cls = manager.load("aggregator", experiment.aggregator.name)
    try:
        return cls(node=address, **experiment.aggregator.params)
    except TypeError as exc:
        raise ConfigError(f"aggregator: {exc}") from None


def _share_transform(experiment: Experiment, index: int) -> Any:
    byzantine = experiment.byzantine
    if byzantine is None or index not in byzantine.nodes:
        return None
    from p2pfl_core.algorithms.attacks import make_attack

    return make_attack(byzantine.behaviour, seed=node_seed(experiment.seed, index), **byzantine.options)


def build_federation(
    experiment: Experiment,
    manager: PluginManager | None = None,
    network: MemoryNetwork | None = None,
) -> list[Node]:
    """Create the experiment's nodes, with data, learners and aggregators.

    Raises:
        ConfigError: A component is unknown or its settings are invalid.
    """
    manager = manager or get_plugin_manager()
    check_components(experiment, manager)
    network = network or MemoryNetwork()
    data = experiment.data
    dataset = manager.load("dataset", data.dataset)(**data.dataset_options)
    partitioner = manager.load("partitioner", data.partition)
    try:
        parts = partitioner(
            dataset.y, experiment.nodes, seed=experiment.seed, **data.partition_params
        )
    except ValueError as exc:
        raise ConfigError(f"data.partition: {exc}") from None
    learner_cls = manager.load("learner", experiment.learner.name)
    settings = NodeSettings(
        train_set_size=experiment.train_set_size,
        start_timeout=experiment.timeouts.start,
        vote_timeout=experiment.timeouts.vote,
        aggregation_timeout=experiment.timeouts.aggregation,
        gossip_timeout=experiment.timeouts.gossip,
    )
    learner_settings = {**experiment.learner.params, "epochs": experiment.epochs}
    nodes = []
    for index, address in enumerate(_addresses(experiment)):
        seed = node_seed(experiment.seed, index)
        node_data = train_test_split(
            dataset, parts[index], test_fraction=data.test_fraction, seed=seed
        )
        learner = learner_cls.from_settings(learner_settings, node_data, seed=seed)
        nodes.append(
            Node(
                _make_protocol(experiment, manager, address, network),
                learner,
                _make_aggregator(experiment, manager, address),
                settings,
                hooks=manager.hook,
                seed=experiment.seed,
                share_transform=_share_transform(experiment, index),
            )
        )
    return nodes


def connect_topology(experiment: Experiment, nodes: list[Node], manager: PluginManager) -> None:
    """Connect the nodes along the experiment's topology and wait for membership."""
    topology = manager.load("topology", experiment.topology.name)
    edges = topology(len(nodes), seed=experiment.seed, **experiment.topology.params)
    for i, j in edges:
        if not nodes[i].connect(nodes[j].address):
            raise RuntimeError(f"node {nodes[i].address} cannot reach {nodes[j].address}")
    for node in nodes:
        if not node.wait_members(len(nodes), timeout=experiment.timeouts.start):
            raise RuntimeError(
                f"node {node.address} knows {len(node.members())} of {len(nodes)} nodes "
                f"after {experiment.timeouts.start} s; is the topology connected?"
            )


def shutdown(nodes: list[Node]) -> None:
    """Stop every node's workflow first, then every transport."""
    for node in nodes:
        node.stop_workflow()
    for node in nodes:
        node.stop(notify=False)


class _Progress:
    """Observer plugin that reports each completed round to a callback."""

    def __init__(self, num_nodes: int, callback: Callable[[int, list[dict[str, Any]]], None]):
        self.num_nodes = num_nodes
        self.callback = callback
        self.records: dict[int, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    @hookimpl
    def p2pfl_round_finished(self, node: str, round: int, metrics: dict[str, float]) -> None:
        with self.lock:
            records = self.records.setdefault(round, [])
            records.append(dict(metrics))
            complete = len(records) == self.num_nodes
        if complete:
            self.callback(round, records)


def run_experiment(
    experiment: Experiment | str | Path | dict[str, Any],
    output: str | Path | None = None,
    *,
    manager: PluginManager | None = None,
    progress: Callable[[int, list[dict[str, Any]]], None] | None = None,
    timeout: float | None = None,
) -> ExperimentResult:
    """Run a federation to the end and collect its metrics.

    Args:
        experiment: A validated experiment, a path to a YAML file or a mapping.
        output: Folder for the results; None writes nothing.
        manager: Plugin manager; the process-wide one by default.
        progress: Called with (round, records of every node) when all nodes
            finish a round.
        timeout: Seconds to wait for the whole run; by default a bound
            derived from the timeouts and the number of rounds.

    Returns:
        The metrics of every node and round.
    """
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    manager = manager or get_plugin_manager()
    if experiment.required_plugins:
        from p2pfl_core.manager import check_required_plugins

        check_required_plugins(experiment.required_plugins)
    manager.hook.p2pfl_configure.call_historic(kwargs={"config": experiment})
    if experiment.training_slots:
        set_training_slots(experiment.training_slots)
    nodes = build_federation(experiment, manager)
    observer = _Progress(len(nodes), progress) if progress else None
    if observer is not None:
        manager.pm.register(observer, name=f"progress-{id(observer)}")
    try:
        for node in nodes:
            node.start()
        connect_topology(experiment, nodes, manager)
        started = time.perf_counter()
        nodes[0].set_start_learning(experiment.rounds, experiment.epochs)
        t = experiment.timeouts
        limit = timeout or t.start + experiment.rounds * (t.vote + t.aggregation + t.gossip) * 2
        deadline = time.monotonic() + limit
        for node in nodes:
            if not node.wait_finished(max(0.0, deadline - time.monotonic())):
                logger.error("node %s did not finish within %.0f s", node.address, limit)
        wall = time.perf_counter() - started
    finally:
        shutdown(nodes)
        if observer is not None:
            manager.pm.unregister(observer)
    result = ExperimentResult(
        experiment,
        sorted((m for n in nodes for m in n.metrics), key=lambda m: (m["round"], m["node"])),
        {n.address: {"sent": n.protocol.bytes_sent, "received": n.protocol.bytes_received} for n in nodes},
        {n.address: dict(n.stage_seconds) for n in nodes},
        wall,
        {n.address: repr(n.error) for n in nodes if n.error is not None},
    )
    if output is not None:
        from p2pfl_core.results import write_results

        result.output = write_results(result, Path(output))
    return result
