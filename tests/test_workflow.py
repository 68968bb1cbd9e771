"""Federations of 3 to 5 memory nodes: stages, faults and reproducibility."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from p2pfl_core.communication.message import Message
from p2pfl_core.config import parse_experiment
from p2pfl_core.experiment import (
    ExperimentResult,
    build_federation,
    connect_topology,
    run_experiment,
)
from p2pfl_core.manager import PluginManager
from p2pfl_core.plugin import hookimpl
from p2pfl_core.weights import ModelWeights

FAST = {"heartbeat_period": 0.2, "heartbeat_timeout": 30.0, "aggregation": 10.0}


def experiment(**changes: Any) -> dict[str, Any]:
    """Return a small numpy experiment on digits, with ``changes`` applied."""
    base: dict[str, Any] = {
        "name": "small",
        "seed": 7,
        "nodes": 4,
        "rounds": 2,
        "topology": "ring",
        "data": {"dataset": "digits", "partition": "iid"},
        "learner": {"name": "numpy", "learning_rate": 0.5},
        "timeouts": dict(FAST),
    }
    base.update(changes)
    return base


class StageLog:
    """Observer plugin recording every stage start per node."""

    def __init__(self) -> None:
        self.stages: dict[str, list[tuple[int, str]]] = {}
        self.lock = threading.Lock()

    @hookimpl
    def p2pfl_stage_started(self, node: str, stage: str, round: int) -> None:
        with self.lock:
            self.stages.setdefault(node, []).append((round, stage))


def manager_with(*observers: object) -> PluginManager:
    """Return a manager with only core's components and the given observers."""
    manager = PluginManager(autoload=False)
    for index, observer in enumerate(observers):
        manager.pm.register(observer, name=f"observer-{index}")
    return manager


def accuracies(result: ExperimentResult) -> list[tuple[int, str, float, float]]:
    """Return (round, node, accuracy, loss) of every record."""
    return [(m["round"], m["node"], m["accuracy"], m["loss"]) for m in result.metrics]


def test_every_trainer_goes_through_each_stage_in_order() -> None:
    """With all nodes training, each node runs the same five-stage sequence per round."""
    log = StageLog()
    result = run_experiment(experiment(nodes=3), manager=manager_with(log))
    assert result.rounds_completed == 2
    per_round = ["vote_train_set", "train", "gossip_model", "round_finished"]
    expected = [(0, "start_learning")] + [(r, s) for r in (0, 1) for s in per_round]
    assert sorted(log.stages) == ["node-0", "node-1", "node-2"]
    for node in log.stages:
        assert log.stages[node] == expected


def test_non_trainers_wait_for_the_aggregate() -> None:
    """With train_set_size 2 of 5, exactly 3 nodes per round wait instead of training."""
    log = StageLog()
    result = run_experiment(
        experiment(nodes=5, train_set_size=2), manager=manager_with(log)
    )
    assert result.rounds_completed == 2
    for round in (0, 1):
        stages = [s for node in log.stages.values() for r, s in node if r == round]
        assert stages.count("train") == 2
        assert stages.count("wait_aggregated_models") == 3
        assert stages.count("gossip_model") == 5
        contributors = {
            m["contributors"] for m in result.metrics if m["round"] == round
        }
        assert contributors == {2}


def test_same_seed_gives_identical_metrics() -> None:
    """Two runs with seed 7 match exactly; seed 8 gives other numbers."""
    first = run_experiment(experiment(), manager=manager_with())
    second = run_experiment(experiment(), manager=manager_with())
    other = run_experiment(experiment(seed=8), manager=manager_with())
    assert accuracies(first) == accuracies(second)
    assert accuracies(first) != accuracies(other)


def test_same_seed_gives_identical_votes() -> None:
    """The elected train sets are the same in two runs with the same seed."""
    runs = [
        run_experiment(
            experiment(nodes=5, train_set_size=3, rounds=3), manager=manager_with()
        )
        for _ in range(2)
    ]
    trained = [
        sorted((m["round"], m["node"]) for m in run.metrics if m["fit_seconds"] > 0)
        for run in runs
    ]
    assert trained[0] == trained[1]
    assert len(trained[0]) == 9


def test_all_nodes_end_with_the_same_model() -> None:
    """With every node training, all nodes hold bit-identical weights after the run."""
    nodes = run_nodes({})
    final = [node.learner.get_weights() for node in nodes]
    for weights in final[1:]:
        for name in final[0]:
            np.testing.assert_array_equal(weights[name], final[0][name])


def run_nodes(
    changes: dict[str, Any],
    *,
    observers: tuple[object, ...] = (),
    prepare: Any = None,
    survivors: list[int] | None = None,
    timeout: float = 60.0,
) -> list[Any]:
    """Build, connect and run a federation; return its nodes, stopped.

    ``prepare(nodes)`` runs after connecting and before learning starts;
    ``survivors`` are the indices of the nodes waited for (all by default).
    """
    config = parse_experiment(experiment(**changes))
    manager = manager_with(*observers)
    nodes = build_federation(config, manager)
    try:
        for node in nodes:
            node.start()
        connect_topology(config, nodes, manager)
        if prepare is not None:
            prepare(nodes)
        nodes[0].set_start_learning(config.rounds, 1)
        for index in survivors if survivors is not None else range(len(nodes)):
            assert nodes[index].wait_finished(timeout)
    finally:
        for node in nodes:
            node.stop()
    return nodes


def _run_with_injection(
    inject: Any, **changes: Any
) -> tuple[ExperimentResult, list[Any]]:
    """Run a federation, calling ``inject(nodes)`` right after connecting."""
    nodes = run_nodes(changes, prepare=inject)
    metrics = sorted(
        (m for n in nodes for m in n.metrics), key=lambda m: (m["round"], m["node"])
    )
    return ExperimentResult(
        parse_experiment(experiment(**changes)), metrics, {}, {}, 0.0
    ), nodes


def _model_message(origin: str, round: int, payload: bytes) -> bytes:
    args = {"kind": "model", "contributor": origin}
    return Message("model", origin, round, args, payload).encode()


def test_undecodable_models_are_dropped_and_rounds_complete() -> None:
    """Malformed and oversize models are logged and dropped; results equal a clean run."""
    clean = run_experiment(experiment(), manager=manager_with())

    def inject(nodes: list[Any]) -> None:
        target, neighbor = nodes[1], nodes[0].address
        target.settings.max_model_bytes = 64 * 1024
        target.protocol.deliver(neighbor, _model_message("node-2", 0, b"not a model"))
        target.protocol.deliver(
            neighbor, _model_message("node-2", 0, b"P2PW" + b"\0" * 70000)
        )
        assert target.protocol.wait_idle(5)

    result, nodes = _run_with_injection(inject)
    assert result.rounds_completed == 2
    assert accuracies(result) == accuracies(clean)
    assert {m["contributors"] for m in result.metrics} == {4}


def _nan_model(weights: ModelWeights, round: int) -> ModelWeights:
    """A node's update gone wrong: every layer NaN, in round 0 only."""
    if round != 0:
        return weights
    layers = {name: np.full_like(array, np.nan) for name, array in weights.items()}
    return ModelWeights(layers, weights.num_samples, weights.contributors)


def test_nan_model_excluded_without_timeout() -> None:
    """node-2 shares NaN in round 0: all nodes leave it out, none waits for the timeout."""

    def poison(nodes: list[Any]) -> None:
        nodes[2].share_transform = _nan_model

    nodes = run_nodes({"timeouts": {**FAST, "aggregation": 30.0}}, prepare=poison)
    records = sorted((m for n in nodes for m in n.metrics), key=lambda m: m["round"])
    assert [m["contributors"] for m in records if m["round"] == 0] == [3, 3, 3, 3]
    assert [m["contributors"] for m in records if m["round"] == 1] == [4, 4, 4, 4]
    assert max(m["round_seconds"] for m in records) < 30.0
    assert all(np.isfinite(m["loss"]) for m in records)


def test_duplicate_model_delivery_is_counted_once() -> None:
    """A model delivered twice to the same node is aggregated once."""
    clean = run_experiment(experiment(), manager=manager_with())
    captured: dict[str, bytes] = {}

    def inject(nodes: list[Any]) -> None:
        node = nodes[1]
        original = node.protocol.deliver

        def deliver_twice(sender: str, data: bytes) -> None:
            original(sender, data)
            if b'"kind":"model"' in data[:400]:
                captured.setdefault("model", data)
                original(sender, data)

        node.protocol.deliver = deliver_twice

    result, _ = _run_with_injection(inject)
    assert "model" in captured
    assert accuracies(result) == accuracies(clean)
    assert {m["contributors"] for m in result.metrics} == {4}


def test_crashed_node_left_out_after_timeout() -> None:
    """node-3 crashes as round 1 training starts; the others finish without it."""

    class Killer:
        def __init__(self) -> None:
            self.nodes: list[Any] = []

        @hookimpl
        def p2pfl_stage_started(self, node: str, stage: str, round: int) -> None:
            if node == "node-3" and stage == "train" and round == 1:
                self.nodes[3].protocol.stop(notify=False)
                self.nodes[3]._halt()

    killer = Killer()
    timeouts = {**FAST, "aggregation": 1.0, "gossip": 1.0}
    nodes = run_nodes(
        {"rounds": 3, "timeouts": timeouts},
        observers=(killer,),
        prepare=lambda built: setattr(killer, "nodes", built),
        survivors=[0, 1, 2],
    )
    survivors = [m for n in nodes[:3] for m in n.metrics]
    assert sorted({m["round"] for m in survivors}) == [0, 1, 2]
    assert {m["contributors"] for m in survivors if m["round"] == 0} == {4}
    assert {m["contributors"] for m in survivors if m["round"] >= 1} == {3}
    assert all(n.error is None for n in nodes[:3])


def test_dead_neighbor_is_evicted_and_announced() -> None:
    """With a short heartbeat timeout, a crashed node is dropped without waiting for aggregation."""
    timeouts = {"heartbeat_period": 0.05, "heartbeat_timeout": 0.4, "aggregation": 30.0}
    nodes = run_nodes(
        {"rounds": 2, "timeouts": timeouts},
        prepare=lambda built: built[3].stop(notify=False),
        survivors=[0, 1, 2],
        timeout=20,
    )
    for node in nodes[:3]:
        assert "node-3" not in node.members()
        assert [m["contributors"] for m in node.metrics] == [3, 3]


def test_stop_learning_ends_every_node() -> None:
    """stop_learning from one node ends the workflow on all of them."""
    config = parse_experiment(experiment(rounds=1000))
    manager = manager_with()
    nodes = build_federation(config, manager)
    try:
        for node in nodes:
            node.start()
        connect_topology(config, nodes, manager)
        nodes[0].set_start_learning(1000, 1)
        assert nodes[2].wait_members(4, 30)
        nodes[1].stop_learning()
        for node in nodes:
            assert node.wait_finished(60)
    finally:
        for node in nodes:
            node.stop()
    assert max(len(n.metrics) for n in nodes) < 1000


@pytest.mark.parametrize("topology", ["full", "line", "star", "random"])
def test_each_topology_completes(topology: str) -> None:
    """Every built-in topology runs two rounds on 5 nodes."""
    result = run_experiment(
        experiment(nodes=5, topology=topology), manager=manager_with()
    )
    assert result.rounds_completed == 2
    assert len(result.metrics) == 10


def test_stop_before_start_cancels_that_start() -> None:
    """A node that hears stop_learning before start_learning never starts, and is finished."""

    def stop_first(nodes: list[Any]) -> None:
        stop = Message("stop_learning", nodes[2].address, args={"session": ""})
        nodes[3].protocol.deliver(nodes[2].address, stop.encode())
        assert nodes[3].protocol.wait_idle(5)
        assert nodes[3].finished.is_set()

    timeouts = {**FAST, "aggregation": 1.0, "gossip": 1.0}
    nodes = run_nodes({"rounds": 1, "timeouts": timeouts}, prepare=stop_first)
    assert nodes[3].metrics == []
    assert nodes[3].stop_requested.is_set()
    assert [len(node.metrics) for node in nodes[:3]] == [1, 1, 1]
