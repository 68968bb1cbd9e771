"""The stages of the learning workflow.

Each stage's ``run(node)`` returns the name of the next stage, or None when
the workflow ends::

    start_learning -> vote_train_set -> train | wait_aggregated_models
                   -> gossip_model -> round_finished -> vote_train_set | end
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from p2pfl_core.communication.message import Message
from p2pfl_core.errors import AggregationError
from p2pfl_core.pool import training_slot
from p2pfl_core.weights import ModelWeights

if TYPE_CHECKING:
    from p2pfl_core.node import Node

logger = logging.getLogger(__name__)


class Stage:
    """One step of the workflow."""

    name = "stage"

    def run(self, node: Node) -> str | None:
        """Do the stage's work; return the next stage's name or None to end."""
        raise NotImplementedError


class StartLearningStage(Stage):
    """Agree on the initial model: the initiator's weights, spread by gossip."""

    name = "start_learning"

    def run(self, node: Node) -> str | None:
        """Share or wait for the initial model, then load it."""
        state = node.state
        if state.initiator == node.address:
            weights = node.learner.get_weights().with_metadata(
                contributors=[node.address]
            )
            state.initial_model = weights
            node.share_model(("init", 0, node.address), weights)
        elif not node.wait(
            lambda: state.initial_model is not None, node.settings.start_timeout
        ):
            if not state.stopped:
                logger.error(
                    "%s: no initial model from %s within %.1f s; stopping",
                    node.address,
                    state.initiator,
                    node.settings.start_timeout,
                )
            return None
        assert state.initial_model is not None
        node.learner.set_weights(state.initial_model)
        return "vote_train_set"


class VoteTrainSetStage(Stage):
    """Elect the round's trainers from the votes of every known node."""

    name = "vote_train_set"

    def run(self, node: Node) -> str | None:
        """Vote, wait for the others' votes, and take the top-voted nodes."""
        state = node.state
        members = node.members()
        size = node.settings.train_set_size
        if size is None or size >= len(members):
            state.train_set = members
        elif node.settings.vote == "seeded":
            state.train_set = self._draw(node, members, size)
        else:
            state.train_set = self._elect(node, members, size)
        node.log.info(
            "%s: round %d train set %s", node.address, state.round, state.train_set
        )
        return "train" if node.address in state.train_set else "wait_aggregated_models"

    def _draw(self, node: Node, members: list[str], size: int) -> list[str]:
        """Draw the train set from the seed and round, with no messages.

        Every node with the same member list draws the same set, so this
        saves flooding one vote per node per round in large simulations.
        """
        rng = np.random.default_rng([node.seed, node.state.round])
        chosen = rng.choice(len(members), size=size, replace=False)
        return sorted(members[int(i)] for i in chosen)

    def _elect(self, node: Node, members: list[str], size: int) -> list[str]:
        state = node.state
        round = state.round
        own = node.vote(round, members, size)
        with state.condition:
            state.votes[round][node.address] = own
        node.protocol.broadcast(Message("vote", node.address, round, {"votes": own}))
        node.wait(
            lambda: set(node.members()) <= set(state.votes[round]),
            node.settings.vote_timeout,
        )
        with state.condition:
            ballots = dict(state.votes[round])
        missing = sorted(set(node.members()) - set(ballots))
        if missing:
            logger.warning(
                "%s: round %d: no vote from %s; they are left out",
                node.address,
                round,
                ", ".join(missing),
            )
        totals: Counter[str] = Counter()
        for voter, votes in ballots.items():
            if voter in missing:
                continue
            for candidate, weight in votes.items():
                if candidate in members and candidate not in missing:
                    totals[candidate] += weight
        ranked = sorted(totals, key=lambda c: (-totals[c], c))
        return sorted(ranked[:size])


def _aggregate(node: Node, previous: ModelWeights) -> None:
    """Wait for the train set's models (or a ready aggregate) and aggregate.

    Args:
        node: The node.
        previous: The node's model at the start of the round, from which
            server optimisers step.
    """
    state = node.state
    round = state.round

    def complete() -> bool:
        if round in state.aggregates:
            return True
        expected = set(state.train_set) - state.departed - state.excluded[round]
        return expected <= set(state.models[round])

    if not node.wait(complete, node.settings.aggregation_timeout) and not state.stopped:
        with state.condition:
            missing = set(state.train_set) - set(state.models[round])
        logger.warning(
            "%s: round %d: aggregation timed out after %.1f s without %s",
            node.address,
            round,
            node.settings.aggregation_timeout,
            ", ".join(sorted(missing)),
        )
    if state.stopped:
        return
    with state.condition:
        received = state.aggregates.get(round)
        models = [
            state.models[round][c]
            for c in sorted(state.models[round])
            if c in state.train_set
        ]
    if received is not None:
        node.learner.set_weights(received)
        return
    node.aggregator.clear()
    node.aggregator.set_expected(state.train_set)
    for model in models:
        node.aggregator.add_model(model)
    try:
        result = node.aggregator.aggregate(previous=previous)
    except AggregationError as exc:
        logger.warning(
            "%s: round %d: kept the current model: %s", node.address, round, exc
        )
        return
    node.learner.set_weights(result)
    with state.condition:
        state.aggregates.setdefault(round, result)


class TrainStage(Stage):
    """Fit locally, share the model, then aggregate the train set's models."""

    name = "train"

    def run(self, node: Node) -> str | None:
        """Train, gossip the own model and aggregate."""
        state = node.state
        round = state.round
        round_start = node.learner.get_weights()
        with training_slot():
            start = time.perf_counter()
            fit_metrics = node.learner.fit(round)
            node.round_timing["fit_seconds"] = time.perf_counter() - start
        node.round_timing["train_loss"] = float(fit_metrics.get("loss", 0.0))
        own = node.learner.get_weights().with_metadata(contributors=[node.address])
        if node.share_transform is not None:
            own = node.share_transform(own, round)
        with state.condition:
            state.models[round][node.address] = own
        node.share_model(("model", round, node.address), own)
        _aggregate(node, round_start)
        return None if state.stopped else "gossip_model"


class WaitAggregatedModelsStage(Stage):
    """Non-trainers relay the trainers' models and aggregate them too."""

    name = "wait_aggregated_models"

    def run(self, node: Node) -> str | None:
        """Wait for the train set's models or an aggregate."""
        _aggregate(node, node.learner.get_weights())
        return None if node.state.stopped else "gossip_model"


class GossipModelStage(Stage):
    """Make sure every neighbour ends the round with an aggregate."""

    name = "gossip_model"

    def run(self, node: Node) -> str | None:
        """Announce readiness, then send the aggregate to neighbours still lacking one."""
        state = node.state
        round = state.round
        for neighbor in node.protocol.neighbors():
            node.protocol.send(neighbor, Message("ready", node.address, round))

        def laggards() -> list[str]:
            return [
                n
                for n in node.protocol.neighbors()
                if state.ready.get(n, -1) < round and n not in state.departed
            ]

        if node.wait(lambda: not laggards(), node.settings.gossip_grace):
            return "round_finished"
        aggregate = state.aggregates.get(round)
        if aggregate is not None:
            key = ("aggregate", round, "")
            if not node.gossip.has(key):
                from p2pfl_core.codec import encode_weights

                node.gossip.add(key, encode_weights(aggregate))
            node.gossip.push(key, laggards())
        if not node.wait(lambda: not laggards(), node.settings.gossip_timeout):
            if not state.stopped:
                logger.warning(
                    "%s: round %d: neighbours %s did not finish within %.1f s",
                    node.address,
                    round,
                    ", ".join(laggards()),
                    node.settings.gossip_timeout,
                )
        return None if state.stopped else "round_finished"


class RoundFinishedStage(Stage):
    """Evaluate the aggregate, report metrics and move to the next round."""

    name = "round_finished"

    def run(self, node: Node) -> str | None:
        """Evaluate, record the round's metrics, and clear its state."""
        state = node.state
        round = state.round
        with training_slot():
            start = time.perf_counter()
            metrics = node.learner.evaluate()
            node.round_timing["evaluate_seconds"] = time.perf_counter() - start
        record = {"node": node.address, "round": round, **metrics, **node.round_timing}
        record["byzantine"] = node.share_transform is not None
        finished_at = time.perf_counter()
        record["round_seconds"] = finished_at - node.round_started
        record["started_at"] = node.round_started
        record["finished_at"] = finished_at
        aggregate = state.aggregates.get(round)
        record["contributors"] = (
            len(aggregate.contributors) if aggregate is not None else 0
        )
        record["bytes_sent"] = node.protocol.bytes_sent
        record["bytes_received"] = node.protocol.bytes_received
        node.metrics.append(record)
        node.observe(
            "p2pfl_round_finished", node=node.address, round=round, metrics=dict(record)
        )
        with state.condition:
            state.models.pop(round - 1, None)
            state.aggregates.pop(round - 1, None)
            state.votes.pop(round - 1, None)
            state.excluded.pop(round - 1, None)
            state.round += 1
        node.gossip.forget_before(round)
        return "vote_train_set" if state.round < state.total_rounds else None


DEFAULT_STAGES: dict[str, type[Stage]] = {
    stage.name: stage
    for stage in (
        StartLearningStage,
        VoteTrainSetStage,
        TrainStage,
        WaitAggregatedModelsStage,
        GossipModelStage,
        RoundFinishedStage,
    )
}
