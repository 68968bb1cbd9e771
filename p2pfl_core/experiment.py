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
    """Measurements of a finished experiment.

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


def memory_addresses(count: int) -> list[str]:
    """Return ``node-0`` ... addresses, zero-padded so they sort by index."""
    width = len(str(count - 1))
    return [f"node-{i:0{width}d}" for i in range(count)]


def protocol_settings(experiment: Experiment) -> ProtocolSettings:
    """Return the transport settings of an experiment."""
    timeouts = experiment.timeouts
    return ProtocolSettings(
        heartbeat_period=timeouts.heartbeat_period,
        heartbeat_timeout=timeouts.heartbeat_timeout,
        ttl=max(16, experiment.nodes),
    )


class FederationBuilder:
    """Builds the nodes of an experiment, loading and splitting the data once.

    Args:
        experiment: The validated experiment.
        manager: Plugin manager used to resolve every component.

    Raises:
        ConfigError: A component is unknown or its settings are invalid.
    """

    def __init__(self, experiment: Experiment, manager: PluginManager) -> None:
        check_components(experiment, manager)
        self.experiment = experiment
        self.manager = manager
        data = experiment.data
        load = manager.load("dataset", data.dataset)
        try:
            self.dataset = load(**data.dataset_options)
        except ValueError as exc:
            raise ConfigError(f"data.dataset_options: {exc}") from None
        except (TypeError, KeyError, OSError) as exc:
            raise ConfigError(
                f"data.dataset_options: cannot load dataset {data.dataset!r} with "
                f"{data.dataset_options!r}: {type(exc).__name__}: {exc}"
            ) from None
        partitioner = manager.load("partitioner", data.partition)
        try:
            self.parts = partitioner(
                self.dataset.y,
                experiment.nodes,
                seed=experiment.seed,
                **data.partition_params,
            )
        except ValueError as exc:
            raise ConfigError(f"data.partition: {exc}") from None
        self.learner_cls = manager.load("learner", experiment.learner.name)
        self.protocol_cls = manager.load("protocol", experiment.protocol.name)
        self.settings = NodeSettings(
            train_set_size=experiment.train_set_size,
            vote=experiment.vote,
            start_timeout=experiment.timeouts.start,
            vote_timeout=experiment.timeouts.vote,
            aggregation_timeout=experiment.timeouts.aggregation,
            gossip_timeout=experiment.timeouts.gossip,
        )

    def protocol(
        self, address: str | None, network: MemoryNetwork | None
    ) -> CommunicationProtocol:
        """Create the transport of one node."""
        experiment = self.experiment
        settings = protocol_settings(experiment)
        hooks = self.manager.hook
        if experiment.protocol.name == "memory":
            return self.protocol_cls(address, settings, hooks, network=network)  # type: ignore[no-any-return]
        if hasattr(self.protocol_cls, "from_settings"):
            return self.protocol_cls.from_settings(  # type: ignore[no-any-return]
                address, experiment.protocol.params, settings, hooks
            )
        return self.protocol_cls(address, settings, hooks)  # type: ignore[no-any-return]

    def node(
        self,
        index: int,
        address: str | None = None,
        network: MemoryNetwork | None = None,
    ) -> Node:
        """Create node ``index`` with its data partition, learner and aggregator."""
        experiment = self.experiment
        seed = node_seed(experiment.seed, index)
        node_data = train_test_split(
            self.dataset,
            self.parts[index],
            test_fraction=experiment.data.test_fraction,
            seed=seed,
        )
        learner_settings = {**experiment.learner.params, "epochs": experiment.epochs}
        learner = self.learner_cls.from_settings(learner_settings, node_data, seed=seed)
        protocol = self.protocol(address, network)
        return Node(
            protocol,
            learner,
            self._aggregator(protocol.address),
            self.settings,
            hooks=self.manager.hook,
            seed=experiment.seed,
            share_transform=_share_transform(experiment, index),
        )

    def _aggregator(self, address: str) -> Any:
        cls = self.manager.load("aggregator", self.experiment.aggregator.name)
        try:
            return cls(node=address, **self.experiment.aggregator.params)
        except ConfigError:
            raise
        except TypeError as exc:
            raise ConfigError(f"aggregator: {exc}") from None


def _share_transform(experiment: Experiment, index: int) -> Any:
    byzantine = experiment.byzantine
    if byzantine is None or index not in byzantine.nodes:
        return None
    from p2pfl_core.algorithms.attacks import make_attack

    return make_attack(
        byzantine.behaviour, seed=node_seed(experiment.seed, index), **byzantine.options
    )


def build_federation(
    experiment: Experiment,
    manager: PluginManager | None = None,
    network: MemoryNetwork | None = None,
) -> list[Node]:
    """Create all nodes of an experiment in this process.

    Raises:
        ConfigError: A component is unknown or its settings are invalid.
    """
    builder = FederationBuilder(experiment, manager or get_plugin_manager())
    network = network or MemoryNetwork()
    if experiment.protocol.name == "memory":
        addresses: list[str | None] = list(memory_addresses(experiment.nodes))
    else:
        addresses = [None] * experiment.nodes
    return [builder.node(i, address, network) for i, address in enumerate(addresses)]


def connect_topology(
    experiment: Experiment, nodes: list[Node], manager: PluginManager
) -> None:
    """Connect the nodes along the experiment's topology and wait for membership."""
    topology = manager.load("topology", experiment.topology.name)
    edges = topology(len(nodes), seed=experiment.seed, **experiment.topology.params)
    for i, j in edges:
        if not nodes[i].connect(nodes[j].address):
            raise RuntimeError(
                f"node {nodes[i].address} cannot reach {nodes[j].address}"
            )
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

    def __init__(
        self, num_nodes: int, callback: Callable[[int, list[dict[str, Any]]], None]
    ):
        self.num_nodes = num_nodes
        self.callback = callback
        self.records: dict[int, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    @hookimpl
    def p2pfl_round_finished(
        self, node: str, round: int, metrics: dict[str, float]
    ) -> None:
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
    on_start: Callable[[], None] | None = None,
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
        on_start: Called once the nodes are built, just before learning
            starts.

    Returns:
        The metrics of every node and round.
    """
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    manager = manager or get_plugin_manager()
    if experiment.required_plugins:
        from p2pfl_core.manager import check_required_plugins

        check_required_plugins(experiment.required_plugins, manager)
    manager.configure(experiment)
    if experiment.training_slots:
        set_training_slots(experiment.training_slots)
    t = experiment.timeouts
    limit = (
        timeout or t.start + experiment.rounds * (t.vote + t.aggregation + t.gossip) * 2
    )
    if experiment.launch == "processes":
        if on_start is not None:
            on_start()
        return _run_processes(experiment, manager, output, progress, limit)
    nodes = build_federation(experiment, manager)
    interrupted = False
    observer = _Progress(len(nodes), progress) if progress else None
    if observer is not None:
        manager.pm.register(observer, name=f"progress-{id(observer)}")
    try:
        for node in nodes:
            node.start()
        connect_topology(experiment, nodes, manager)
        if on_start is not None:
            on_start()
        started = time.perf_counter()
        nodes[0].set_start_learning(experiment.rounds, experiment.epochs)
        deadline = time.monotonic() + limit
        try:
            for node in nodes:
                if not node.wait_finished(max(0.0, deadline - time.monotonic())):
                    logger.error(
                        "node %s did not finish within %.0f s", node.address, limit
                    )
        except KeyboardInterrupt:
            interrupted = True
        wall = time.perf_counter() - started
    finally:
        shutdown(nodes)
        if observer is not None:
            manager.pm.unregister(observer)
    result = ExperimentResult(
        experiment,
        sorted(
            (m for n in nodes for m in n.metrics), key=lambda m: (m["round"], m["node"])
        ),
        {
            n.address: {
                "sent": n.protocol.bytes_sent,
                "received": n.protocol.bytes_received,
            }
            for n in nodes
        },
        {n.address: dict(n.stage_seconds) for n in nodes},
        wall,
        {n.address: repr(n.error) for n in nodes if n.error is not None},
    )
    if output is not None:
        from p2pfl_core.results import write_results

        result.output = write_results(result, Path(output))
    if interrupted:
        raise KeyboardInterrupt
    return result


def _run_processes(
    experiment: Experiment,
    manager: PluginManager,
    output: str | Path | None,
    progress: Callable[[int, list[dict[str, Any]]], None] | None,
    limit: float,
) -> ExperimentResult:
    from p2pfl_core.launcher import run_processes

    folder = Path(output) if output is not None else None
    metrics, errors, wall, interrupted = run_processes(
        experiment, manager, folder, progress, limit
    )
    metrics.sort(key=lambda m: (m["round"], m["node"]))
    last: dict[str, dict[str, Any]] = {}
    for record in metrics:
        last[record["node"]] = record
    traffic = {
        node: {"sent": int(r["bytes_sent"]), "received": int(r["bytes_received"])}
        for node, r in sorted(last.items())
    }
    result = ExperimentResult(experiment, metrics, traffic, {}, wall, errors)
    if folder is not None:
        from p2pfl_core.results import write_results

        result.output = write_results(result, folder)
    if interrupted:
        raise KeyboardInterrupt
    return result
