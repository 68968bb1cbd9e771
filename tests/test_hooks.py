"""One test per hook: a plugin implementing it, called the way p2pfl calls it."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner

from p2pfl_core.communication.memory import MemoryNetwork, MemoryProtocol
from p2pfl_core.communication.message import Message
from p2pfl_core.errors import PluginError
from p2pfl_core.experiment import run_experiment
from p2pfl_core.manager import PluginManager
from p2pfl_core.plugin import (
    AggregatorSpec,
    CompressorSpec,
    DatasetSpec,
    LearnerSpec,
    PartitionerSpec,
    ProtocolSpec,
    StageSpec,
    TopologySpec,
    hookimpl,
)
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait
from p2pfl_core.weights import ModelWeights

COMPONENTS = "plugin_fixtures.components"


def manager_with(plugin: object, name: str = "p2pfl-test") -> PluginManager:
    """Return a core-only manager with ``plugin`` registered."""
    manager = PluginManager(env={}, autoload=False)
    manager.register(plugin, name)
    return manager


class Offers:
    """A plugin whose registration hooks return fixed specs."""

    @staticmethod
    @hookimpl
    def p2pfl_register_protocols() -> list[ProtocolSpec]:
        return [
            ProtocolSpec("loopback", "p2pfl_core.communication.memory:MemoryProtocol")
        ]

    @staticmethod
    @hookimpl
    def p2pfl_register_learners() -> list[LearnerSpec]:
        builders = (("linear", "p2pfl_core.learning.numpy_learner:build_softmax"),)
        return [
            LearnerSpec(
                "plain",
                "p2pfl_core.learning.numpy_learner:NumpyLearner",
                model_builders=builders,
            )
        ]

    @staticmethod
    @hookimpl
    def p2pfl_register_aggregators() -> list[AggregatorSpec]:
        return [AggregatorSpec("average", "p2pfl_core.aggregators.fedavg:FedAvg")]

    @staticmethod
    @hookimpl
    def p2pfl_register_compressors() -> list[CompressorSpec]:
        return [CompressorSpec("float16", f"{COMPONENTS}:Float16Compressor")]

    @staticmethod
    @hookimpl
    def p2pfl_register_stages() -> list[StageSpec]:
        return [StageSpec("quiet_round_finished", f"{COMPONENTS}:QuietRoundFinished")]

    @staticmethod
    @hookimpl
    def p2pfl_register_datasets() -> list[DatasetSpec]:
        return [DatasetSpec("counting", f"{COMPONENTS}:load_counting")]

    @staticmethod
    @hookimpl
    def p2pfl_register_partitioners() -> list[PartitionerSpec]:
        return [PartitionerSpec("halves", f"{COMPONENTS}:halves")]

    @staticmethod
    @hookimpl
    def p2pfl_register_topologies() -> list[TopologySpec]:
        return [TopologySpec("chain", f"{COMPONENTS}:chain")]


@pytest.fixture
def offers() -> PluginManager:
    """A manager with the Offers plugin registered as p2pfl-test."""
    return manager_with(Offers())


def test_hook_register_protocols(offers: PluginManager) -> None:
    """A registered protocol builds working transports."""
    protocol_class = offers.load("protocol", "loopback")
    network = MemoryNetwork()
    first = protocol_class("a", network=network)
    second = protocol_class("b", network=network)
    first.start()
    second.start()
    try:
        assert connect_and_wait(first, second)
    finally:
        first.stop()
        second.stop()


def test_hook_register_learners(offers: PluginManager) -> None:
    """A registered learner resolves with its model builders."""
    spec = offers.get("learner", "p2pfl-test:plain")
    assert isinstance(spec, LearnerSpec)
    assert spec.model_builders == (
        ("linear", "p2pfl_core.learning.numpy_learner:build_softmax"),
    )
    assert offers.plugins["p2pfl-test"].provides["learner"] == ["plain"]


def test_hook_register_aggregators(offers: PluginManager) -> None:
    """A registered aggregator averages two models by sample count."""
    aggregator = offers.load("aggregator", "average")()
    aggregator.add_model(ModelWeights({"w": np.array([0.0, 4.0])}, 1, ("a",)))
    aggregator.add_model(ModelWeights({"w": np.array([4.0, 8.0])}, 3, ("b",)))
    assert aggregator.aggregate()["w"].tolist() == [3.0, 7.0]


def test_hook_register_compressors(offers: PluginManager) -> None:
    """A registered compressor round-trips 0.5 exactly through float16."""
    compressor = offers.load("compressor", "float16")()
    weights = ModelWeights({"w": np.array([0.5], dtype=np.float32)})
    encoded = compressor.encode(weights)
    assert encoded["w"].dtype == np.float16
    assert compressor.decode(encoded)["w"].tolist() == [0.5]


def test_hook_register_stages(offers: PluginManager) -> None:
    """A registered stage resolves to its class."""
    stage = offers.load("stage", "quiet_round_finished")
    assert stage.name == "quiet_round_finished"


def test_hook_register_datasets(offers: PluginManager) -> None:
    """A registered dataset loads with its options."""
    dataset = offers.load("dataset", "counting")(size=4)
    assert dataset.x[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert dataset.y.tolist() == [0, 1, 0, 1]


def test_hook_register_partitioners(offers: PluginManager) -> None:
    """A registered partitioner splits six samples into halves."""
    parts = offers.load("partitioner", "halves")(np.zeros(6), 2, seed=0)
    assert [part.tolist() for part in parts] == [[0, 1, 2], [3, 4, 5]]


def test_hook_register_topologies(offers: PluginManager) -> None:
    """A registered topology gives its edges."""
    assert offers.load("topology", "chain")(4) == [(0, 1), (1, 2), (2, 3)]


class Marker:
    """A model type only the test plugin recognises."""


class RecognisesMarker:
    @staticmethod
    @hookimpl
    def p2pfl_learner_for_model(model: Any) -> str | None:
        return "marker" if isinstance(model, Marker) else None


def test_hook_learner_for_model() -> None:
    """The plugin names its learner for its model type; other types raise."""
    manager = manager_with(RecognisesMarker())
    assert manager.learner_for_model(Marker()) == "marker"
    with pytest.raises(PluginError) as caught:
        manager.learner_for_model(3.5)
    assert str(caught.value) == (
        "no learner recognises a model of type builtins.float; install the plugin "
        "for its framework (available learners: numpy)"
    )


class AddsHello:
    @staticmethod
    @hookimpl
    def p2pfl_add_commands(cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            click.echo("hello from a plugin")


def test_hook_add_commands() -> None:
    """A plugin's command runs as part of the command line."""
    group = click.Group("p2pfl")
    manager_with(AddsHello()).hook.p2pfl_add_commands(cli=group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.output == "hello from a plugin\n"


class Observer:
    """Records configure, stage, round and message hook calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seeds: list[int] = []
        self.started: list[tuple[str, str, int]] = []
        self.finished: list[tuple[str, str, int, float]] = []
        self.rounds: list[tuple[str, int, dict[str, float]]] = []
        self.sent: list[tuple[str, str, str, int]] = []
        self.received: list[tuple[str, str, str, int]] = []

    @hookimpl
    def p2pfl_configure(self, config: Any) -> None:
        self.seeds.append(config.seed)

    @hookimpl
    def p2pfl_stage_started(self, node: str, stage: str, round: int) -> None:
        with self.lock:
            self.started.append((node, stage, round))

    @hookimpl
    def p2pfl_stage_finished(
        self, node: str, stage: str, round: int, seconds: float
    ) -> None:
        with self.lock:
            self.finished.append((node, stage, round, seconds))

    @hookimpl
    def p2pfl_round_finished(
        self, node: str, round: int, metrics: dict[str, float]
    ) -> None:
        with self.lock:
            self.rounds.append((node, round, dict(metrics)))

    @hookimpl
    def p2pfl_message_sent(self, node: str, peer: str, cmd: str, nbytes: int) -> None:
        with self.lock:
            self.sent.append((node, peer, cmd, nbytes))

    @hookimpl
    def p2pfl_message_received(
        self, node: str, peer: str, cmd: str, nbytes: int
    ) -> None:
        with self.lock:
            self.received.append((node, peer, cmd, nbytes))


@pytest.fixture(scope="module")
def federation() -> Observer:
    """Run 2 numpy nodes for 2 rounds on a line and return what the observer saw."""
    observer = Observer()
    manager = manager_with(observer, "observer")
    experiment = {
        "seed": 3,
        "nodes": 2,
        "rounds": 2,
        "topology": "line",
        "data": {"dataset": "digits", "partition": "iid"},
        "learner": {"name": "numpy", "learning_rate": 0.5},
        "timeouts": {"heartbeat_period": 0.2, "heartbeat_timeout": 30.0},
    }
    result = run_experiment(experiment, manager=manager)
    assert result.rounds_completed == 2
    return observer


def test_hook_configure() -> None:
    """configure reaches a plugin registered before and one registered after it."""
    early = Observer()
    manager = manager_with(early, "early")
    manager.configure(SimpleNamespace(seed=11))
    late = Observer()
    manager.register(late, "late")
    assert early.seeds == [11]
    assert late.seeds == [11]


def test_hook_configure_from_run(federation: Observer) -> None:
    """run_experiment shows the parsed experiment, seed 3, once."""
    assert federation.seeds == [3]


def test_hook_stage_started(federation: Observer) -> None:
    """Each of the 2 nodes starts start_learning once, in round 0."""
    starts = [
        (node, r) for node, stage, r in federation.started if stage == "start_learning"
    ]
    assert sorted(starts) == [("node-0", 0), ("node-1", 0)]
    assert {stage for _, stage, _ in federation.started} >= {"train", "round_finished"}


def test_hook_stage_finished(federation: Observer) -> None:
    """Every started stage finishes once, with a non-negative duration."""
    finished = [(node, stage, r) for node, stage, r, _ in federation.finished]
    assert sorted(finished) == sorted(federation.started)
    assert min(seconds for *_, seconds in federation.finished) >= 0.0


def test_hook_round_finished(federation: Observer) -> None:
    """Each node reports rounds 0 and 1 with an accuracy between 0 and 1."""
    assert sorted((node, r) for node, r, _ in federation.rounds) == [
        ("node-0", 0),
        ("node-0", 1),
        ("node-1", 0),
        ("node-1", 1),
    ]
    for _, _, metrics in federation.rounds:
        assert 0.0 <= metrics["accuracy"] <= 1.0


def observed_ping() -> Observer:
    """Send one 88-byte ping from node-a to node-b and return the observer."""
    observer = Observer()
    manager = manager_with(observer, "observer")
    network = MemoryNetwork()
    sender = MemoryProtocol("node-a", hooks=manager.hook, network=network)
    receiver = MemoryProtocol("node-b", hooks=manager.hook, network=network)
    sender.start()
    receiver.start()
    try:
        assert connect_and_wait(sender, receiver)
        inbox = Mailbox(receiver, ["ping"])
        assert sender.send("node-b", Message("ping", "node-a"))
        assert inbox.wait_for("ping")
    finally:
        sender.stop()
        receiver.stop()
    return observer


def test_hook_message_sent() -> None:
    """Sending a ping reports node, peer, command and its 88 bytes."""
    sent = [call for call in observed_ping().sent if call[2] == "ping"]
    assert sent == [("node-a", "node-b", "ping", 88)]


def test_hook_message_received() -> None:
    """Receiving the ping reports it once, from the sender, with 88 bytes."""
    received = [call for call in observed_ping().received if call[2] == "ping"]
    assert received == [("node-b", "node-a", "ping", 88)]
