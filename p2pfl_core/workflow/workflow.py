"""Runs a node's stages in order, timing each and calling the observer hooks."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from p2pfl_core.workflow.stages import DEFAULT_STAGES, Stage

if TYPE_CHECKING:
    from p2pfl_core.node import Node

logger = logging.getLogger(__name__)
FIRST_STAGE = "start_learning"


def run_workflow(node: Node) -> None:
    """Run the workflow until a stage returns None or the node stops.

    An exception in a stage ends this node's workflow with an ERROR log; the
    node's transport keeps running so its neighbours are not disturbed.
    """
    classes = dict(DEFAULT_STAGES)
    classes.update(node.stages or {})
    stages: dict[str, Stage] = {name: cls() for name, cls in classes.items()}
    name: str | None = FIRST_STAGE
    try:
        while name is not None and not node.state.stopped:
            stage = stages[name]
            round = node.state.round
            if name == "vote_train_set":
                node.round_started = time.perf_counter()
                node.round_timing = {"fit_seconds": 0.0}
            logger.info("%s: round %d: stage %s started", node.address, round, name)
            node.observe(
                "p2pfl_stage_started", node=node.address, stage=name, round=round
            )
            start = time.perf_counter()
            next_name = stage.run(node)
            seconds = time.perf_counter() - start
            node.stage_seconds[name] = node.stage_seconds.get(name, 0.0) + seconds
            logger.info(
                "%s: round %d: stage %s finished in %.3f s",
                node.address,
                round,
                name,
                seconds,
            )
            node.observe(
                "p2pfl_stage_finished",
                node=node.address,
                stage=name,
                round=round,
                seconds=seconds,
            )
            name = next_name
    except Exception as exc:
        node.error = exc
        logger.exception("%s: workflow failed in stage %s", node.address, name)
    finally:
        node.state.learning = False
        node.finished.set()
