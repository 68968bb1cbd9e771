"""One participant of a federation: a protocol, a learner and an aggregator.

The node handles messages on its protocol's dispatcher thread and runs the
learning workflow (see :mod:`p2pfl_core.workflow.stages`) on a thread of its
own. Every wait of the workflow is on the state's condition variable with a
timeout, so a round costs only the time of its messages and computation.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.codec import decode_weights, encode_weights
from p2pfl_core.communication.gossip import ModelGossip, ModelKey
from p2pfl_core.communication.message import Message
from p2pfl_core.communication.protocol import CONNECT, CommunicationProtocol
from p2pfl_core.errors import DecodeError
from p2pfl_core.learning.learner import Learner
from p2pfl_core.node_state import NodeSettings, NodeState
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)

START, STOP, MEMBERS, LEFT = "start_learning", "stop_learning", "members", "node_left"
VOTE, MODEL, HAVE, READY = "vote", "model", "have", "ready"
ShareTransform = Callable[[ModelWeights, int], ModelWeights]


def stable_hash(text: str) -> int:
    """Return a hash of ``text`` that is the same in every process."""
    return zlib.crc32(text.encode())


class Node:
    """A federated learning participant.

    Args:
        protocol: The node's transport; its address is the node id.
        learner: The model and private data.
        aggregator: The aggregation rule.
        settings: Workflow timeouts and sizes.
        hooks: pluggy hook relay for observer hooks, or None.
        seed: Experiment seed, used for votes.
        share_transform: Function applied to the node's own model before it
            is shared, e.g. a simulated Byzantine behaviour.
        stages: Stage name to stage class, replacing the default workflow.
    """

    def __init__(
        self,
        protocol: CommunicationProtocol,
        learner: Learner,
        aggregator: Aggregator,
        settings: NodeSettings | None = None,
        hooks: Any = None,
        seed: int = 0,
        share_transform: ShareTransform | None = None,
        stages: dict[str, type] | None = None,
    ) -> None:
        self.protocol = protocol
        self.learner = learner
        self.aggregator = aggregator
        self.aggregator.node = protocol.address
        self.settings = settings or NodeSettings()
        self.hooks = hooks
        self.seed = seed
        self.share_transform = share_transform
        self.stages = stages
        self.state = NodeState(members={protocol.address})
        self.gossip = ModelGossip(self._send_model)
        self.metrics: list[dict[str, Any]] = []
        self.stage_seconds: dict[str, float] = {}
        self.round_started = 0.0
        self.round_timing: dict[str, float] = {}
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.stop_requested = threading.Event()
        self._workflow: threading.Thread | None = None
        self.log = logging.LoggerAdapter(logger, {"node": self.address})
        for cmd, handler in (
            (CONNECT, self._on_connect),
            (START, self._on_start),
            (STOP, self._on_stop),
            (MEMBERS, self._on_members),
            (LEFT, self._on_left),
            (VOTE, self._on_vote),
            (MODEL, self._on_model),
            (HAVE, self._on_have),
            (READY, self._on_ready),
        ):
            protocol.add_handler(cmd, handler)
        protocol.on_neighbor_lost(self._on_neighbor_lost)
        protocol.on_idle(self._flush_members)
        self._members_outbox: set[str] = set()
        self._cancelled_sessions: set[str] = set()

    @property
    def address(self) -> str:
        """The node's address, which is its id."""
        return self.protocol.address

    # -- public API ------------------------------------------------------------

    def start(self) -> None:
        """Start the node's transport."""
        self.protocol.start()

    def connect(self, address: str) -> bool:
        """Connect to another node and exchange the known members."""
        if not self.protocol.connect(address):
            return False
        self._send_members(address, self._members())
        return True

    def members(self) -> list[str]:
        """Return the known members of the federation, sorted."""
        return sorted(self._members())

    def wait_members(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` members are known; return False on timeout."""
        with self.state.condition:
            return self.state.condition.wait_for(
                lambda: len(self._members()) >= count, timeout
            )

    def set_start_learning(self, rounds: int, epochs: int = 1) -> None:
        """Start learning on every node, with this node's model as the start.

        Raises:
            ValueError: ``rounds`` or ``epochs`` is below 1.
            RuntimeError: The node is already learning.
        """
        if rounds < 1 or epochs < 1:
            raise ValueError(f"rounds and epochs must be >= 1, got {rounds}, {epochs}")
        with self.state.condition:
            if self.state.learning:
                raise RuntimeError(f"node {self.address} is already learning")
            session = os.urandom(8).hex()
            self._begin(rounds, epochs, self.address, session)
        args = {"rounds": rounds, "epochs": epochs, "session": session}
        self.protocol.broadcast(Message(START, self.address, 0, args))
        self._run_workflow()

    def stop_learning(self) -> None:
        """Stop learning on every node.

        A node that has not started yet ignores the start_learning that
        arrives after this stop, so flooding order cannot restart it.
        """
        session = self.state.session if self.state.learning else ""
        self.protocol.broadcast(Message(STOP, self.address, args={"session": session}))
        self._stop_session(session)

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait for the workflow to end; return False on timeout."""
        return self.finished.wait(timeout)

    def stop_workflow(self) -> None:
        """End this node's workflow without telling other nodes."""
        self._halt()
        with self.state.condition:
            self.state.learning = False

    def stop(self, *, notify: bool = True) -> None:
        """Stop the workflow and the transport; a second call does nothing.

        Args:
            notify: Tell neighbours; False simulates a crash.
        """
        self._halt()
        self.protocol.stop(notify=notify)
        if (
            self._workflow is not None
            and self._workflow is not threading.current_thread()
        ):
            self._workflow.join(timeout=10)

    # -- workflow plumbing -------------------------------------------------------

    def _begin(self, rounds: int, epochs: int, initiator: str, session: str) -> None:
        state = self.state
        state.session = session
        state.round = 0
        state.stopped = False
        state.initial_model = None
        for per_round in (state.votes, state.models, state.excluded, state.aggregates):
            per_round.clear()
        state.ready.clear()
        self.gossip.clear()
        self.stop_requested.clear()
        self.finished.clear()
        self.state.learning = True
        self.state.total_rounds = rounds
        self.state.epochs = epochs
        self.state.initiator = initiator
        self.learner.epochs = epochs

    def _run_workflow(self) -> None:
        from p2pfl_core.workflow.workflow import run_workflow

        self._workflow = threading.Thread(
            target=run_workflow,
            args=(self,),
            name=f"workflow-{self.address}",
            daemon=True,
        )
        self._workflow.start()

    def _halt(self) -> None:
        with self.state.condition:
            self.state.stopped = True
            self.state.condition.notify_all()

    def _members(self) -> set[str]:
        return self.state.members - self.state.departed

    # -- sending -----------------------------------------------------------------

    def _send_members(self, address: str, members: set[str]) -> None:
        self.protocol.send(
            address, Message(MEMBERS, self.address, args={"add": sorted(members)})
        )

    def _send_model(
        self, neighbor: str, key: ModelKey, payload: bytes | memoryview
    ) -> bool:
        kind, round, contributor = key
        message = Message(
            MODEL,
            self.address,
            round,
            {"kind": kind, "contributor": contributor},
            payload,
        )
        return self.protocol.send(neighbor, message)

    def share_model(self, key: ModelKey, weights: ModelWeights) -> None:
        """Store an own model under ``key`` and send it to the neighbours."""
        self.gossip.add(key, encode_weights(weights))
        self.push(key)

    def push(self, key: ModelKey) -> int:
        """Send model ``key`` to every neighbour that lacks it and still needs it."""
        round = key[1]
        neighbors = [
            n
            for n in self.protocol.neighbors()
            if key[0] == "init" or self.state.ready.get(n, -1) < round
        ]
        return self.gossip.push(key, neighbors)

    # -- handlers (dispatcher thread) ----------------------------------------------

    def _on_connect(self, message: Message, sender: str) -> None:
        self._send_members(sender, self._members())

    def _on_members(self, message: Message, sender: str) -> None:
        added = {a for a in message.args.get("add", []) if isinstance(a, str)}
        with self.state.condition:
            new = added - self.state.members
            self.state.members |= new
            self._members_outbox |= new
            self.state.condition.notify_all()

    def _flush_members(self) -> None:
        """Announce the members learned since the last flush, in one message.

        Runs whenever the inbox is empty, so a burst of announcements costs
        one message per neighbour instead of one per announcement.
        """
        with self.state.condition:
            new, self._members_outbox = self._members_outbox, set()
        if new:
            for neighbor in self.protocol.neighbors():
                self._send_members(neighbor, new)

    def _on_neighbor_lost(self, address: str) -> None:
        self.gossip.forget_neighbor(address)
        if self.state.learning and address in self._members():
            self.protocol.broadcast(Message(LEFT, self.address, args={"node": address}))
            self._mark_departed(address)

    def _on_left(self, message: Message, sender: str) -> None:
        node = message.args.get("node")
        if isinstance(node, str) and node != self.address:
            self._mark_departed(node)

    def _mark_departed(self, node: str) -> None:
        self.log.warning(
            "%s: node %s left; it is left out from now on", self.address, node
        )
        with self.state.condition:
            self.state.departed.add(node)
            self.state.condition.notify_all()

    def _on_start(self, message: Message, sender: str) -> None:
        rounds, epochs = message.args.get("rounds"), message.args.get("epochs")
        if (
            not isinstance(rounds, int)
            or not isinstance(epochs, int)
            or rounds < 1
            or epochs < 1
        ):
            self.log.warning(
                "%s: ignored start_learning with rounds=%r epochs=%r",
                self.address,
                rounds,
                epochs,
            )
            return
        session = str(message.args.get("session", ""))
        with self.state.condition:
            if self.state.learning:
                return
            cancelled = self._cancelled_sessions
            if session in cancelled or "" in cancelled:
                cancelled.clear()
                self.log.info(
                    "%s: ignored start_learning from %s: stop_learning came first",
                    self.address,
                    message.origin,
                )
                return
            self._begin(rounds, epochs, message.origin, session)
            self.state.condition.notify_all()
        self._run_workflow()

    def _on_stop(self, message: Message, sender: str) -> None:
        self.log.info("%s: stop_learning from %s", self.address, message.origin)
        self._stop_session(str(message.args.get("session", "")))

    def _stop_session(self, session: str) -> None:
        """Stop the running session, or cancel it before it starts here.

        An empty ``session`` means whichever session is running or next.
        """
        with self.state.condition:
            if not self.state.learning:
                # No workflow runs here, and the cancelled one never will.
                self._cancelled_sessions.add(session)
                self.finished.set()
            elif session not in ("", self.state.session):
                return
        self.stop_requested.set()
        self._halt()

    def _on_vote(self, message: Message, sender: str) -> None:
        votes = message.args.get("votes")
        if not isinstance(votes, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in votes.items()
        ):
            self.log.warning(
                "%s: ignored a malformed vote from %s", self.address, message.origin
            )
            return
        with self.state.condition:
            if message.round >= self.state.round:
                self.state.votes[message.round][message.origin] = votes
                self.state.condition.notify_all()

    def _on_have(self, message: Message, sender: str) -> None:
        keys = message.args.get("keys", [])
        valid = [
            (k[0], k[1], k[2])
            for k in keys
            if isinstance(k, list) and len(k) == 3 and isinstance(k[1], int)
        ]
        self.gossip.mark(sender, valid)

    def _on_ready(self, message: Message, sender: str) -> None:
        with self.state.condition:
            if message.round > self.state.ready.get(sender, -1):
                self.state.ready[sender] = message.round
            self.state.condition.notify_all()

    def _on_model(self, message: Message, sender: str) -> None:
        kind = message.args.get("kind")
        contributor = message.args.get("contributor")
        round = message.round
        if kind not in ("init", "model", "aggregate") or not isinstance(
            contributor, str
        ):
            self.log.warning(
                "%s: dropped a model message with kind=%r", self.address, kind
            )
            return
        key: ModelKey = (kind, round, contributor)
        if self.gossip.has(key) or (kind != "init" and round < self.state.round):
            self.gossip.mark(sender, [key])
            return
        try:
            weights = decode_weights(
                message.payload, max_bytes=self.settings.max_model_bytes
            )
        except DecodeError as exc:
            self.log.warning(
                "%s: dropped model %s from %s: %s", self.address, key, sender, exc
            )
            return
        bad_layers = weights.non_finite_layers()
        if bad_layers:
            self._exclude(key, message, sender, bad_layers)
            return
        if not self.gossip.add(key, message.payload, sender=sender):
            return
        self._store(kind, round, contributor, weights)
        if kind != "aggregate":
            self.push(key)

    def _exclude(
        self, key: ModelKey, message: Message, sender: str, bad_layers: list[str]
    ) -> None:
        """Leave a non-finite model out of its round, and relay it anyway.

        Every node rejects the same bytes, so relaying lets nodes further away
        stop waiting for this contributor instead of waiting out the timeout.
        """
        self.log.warning(
            "%s: dropped model %s from %s: non-finite values in %s",
            self.address,
            key,
            sender,
            ", ".join(bad_layers),
        )
        _, round, contributor = key
        with self.state.condition:
            self.state.excluded[round].add(contributor)
            self.state.condition.notify_all()
        if self.gossip.add(key, message.payload, sender=sender):
            self.push(key)

    def _store(
        self, kind: str, round: int, contributor: str, weights: ModelWeights
    ) -> None:
        with self.state.condition:
            if kind == "init":
                self.state.initial_model = weights
            elif kind == "model":
                self.state.models[round][contributor] = weights
            else:
                self.state.aggregates.setdefault(round, weights)
            self.state.condition.notify_all()

    # -- helpers for stages ----------------------------------------------------------

    def vote(self, round: int, candidates: list[str], size: int) -> dict[str, int]:
        """Return this node's seeded votes: ``size`` candidates with weights."""
        rng = np.random.default_rng([self.seed, round, stable_hash(self.address)])
        chosen = rng.choice(
            len(candidates), size=min(size, len(candidates)), replace=False
        )
        weights = rng.integers(1, 1001, size=len(chosen))
        return {
            candidates[int(i)]: int(w) for i, w in zip(chosen, weights, strict=True)
        }

    def observe(self, hook: str, **kwargs: Any) -> None:
        """Call an observer hook when a hook relay is set."""
        if self.hooks is not None:
            getattr(self.hooks, hook)(**kwargs)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` or stop, at most ``timeout`` seconds.

        Returns:
            True when the predicate holds, False on timeout or stop.
        """
        deadline = time.monotonic() + timeout
        with self.state.condition:
            while not predicate():
                remaining = deadline - time.monotonic()
                if self.state.stopped or remaining <= 0:
                    return False
                self.state.condition.wait(remaining)
            return True
