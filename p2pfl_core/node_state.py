"""The mutable state of one node, guarded by one condition variable."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from p2pfl_core.weights import ModelWeights


@dataclass
class NodeSettings:
    """Timeouts and sizes of the workflow.

    Args:
        train_set_size: Nodes that train each round; None means all.
        start_timeout: Seconds to wait for the initial model.
        vote_timeout: Seconds to wait for the votes of all known nodes.
        aggregation_timeout: Seconds to wait for the train set's models.
        gossip_timeout: Seconds to wait for every neighbour to finish a round.
        gossip_grace: Seconds to let a neighbour finish on its own before
            sending it the aggregate.
        max_model_bytes: Largest encoded model accepted from a peer.
        vote: ``flood`` to elect the train set from votes every node floods,
            or ``seeded`` to draw it from the seed and round with no messages.
    """

    train_set_size: int | None = None
    vote: str = "flood"
    start_timeout: float = 60.0
    vote_timeout: float = 30.0
    aggregation_timeout: float = 60.0
    gossip_timeout: float = 30.0
    gossip_grace: float = 0.2
    max_model_bytes: int = 2 * 1024**3


@dataclass
class NodeState:
    """Round state shared by the dispatcher thread and the workflow thread."""

    round: int = 0
    total_rounds: int = 0
    epochs: int = 1
    learning: bool = False
    stopped: bool = False
    initiator: str = ""
    session: str = ""
    initial_model: ModelWeights | None = None
    members: set[str] = field(default_factory=set)
    departed: set[str] = field(default_factory=set)
    votes: dict[int, dict[str, dict[str, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    train_set: list[str] = field(default_factory=list)
    models: dict[int, dict[str, ModelWeights]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    excluded: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    aggregates: dict[int, ModelWeights] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def notify(self) -> None:
        """Wake the workflow thread to re-check what it waits for."""
        with self.condition:
            self.condition.notify_all()
