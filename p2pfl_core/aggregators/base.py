"""The aggregator interface and the checks every aggregation rule shares."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from p2pfl_core.aggregators._utils import drop_non_finite
from p2pfl_core.aggregators.parameters import accepted_parameters, reject_unknown
from p2pfl_core.errors import ModelMismatchError, NoModelsError
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)


class Aggregator(ABC):
    """Collects the models of one round and combines them.

    Models are added as they arrive, from any thread. Each node's training is
    counted once: a model whose contributors are all present already is
    ignored, a model that covers held models (a partial aggregate) replaces
    them, and a model that overlaps held models only in part is ignored.
    Subclasses implement :meth:`combine` on validated models given in a
    deterministic order (sorted by contributors), so the same inputs give
    bit-identical output in any arrival order.

    Subclasses take their parameters as keyword-only arguments of
    ``__init__`` and pass the rest on, so an unknown name is rejected here.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        **params: Parameters from the experiment file that no subclass took.

    Raises:
        UnknownParameterError: ``params`` is not empty; the message lists the
            accepted parameters. It is a ``ConfigError`` and a ``TypeError``.
    """

    name: ClassVar[str] = "aggregator"
    checks_finite_itself: ClassVar[bool] = False
    """True when :meth:`combine` detects and leaves out NaN or infinity itself,
    so :meth:`aggregate` skips its separate pass over the inputs."""

    def __init__(self, node: str = "", **params: Any) -> None:
        reject_unknown(
            f"aggregator {self.name!r}", params, accepted_parameters(type(self))
        )
        self.node = node
        self._lock = threading.Lock()
        self._models: dict[tuple[str, ...], ModelWeights] = {}
        self._expected: frozenset[str] = frozenset()

    @property
    def min_models(self) -> int:
        """Minimum number of models per round this rule can aggregate.

        Checked against the train set size before a run starts.
        """
        return 1

    def set_expected(self, contributors: Iterable[str]) -> None:
        """Start a round that waits for models from ``contributors``.

        Models held already (early arrivals) are kept when all their
        contributors are expected.
        """
        with self._lock:
            self._expected = frozenset(contributors)
            self._models = {
                key: model
                for key, model in self._models.items()
                if set(key) <= self._expected
            }

    @property
    def expected(self) -> frozenset[str]:
        """Contributors whose models this round waits for."""
        return self._expected

    def add_model(self, model: ModelWeights) -> bool:
        """Add one model, counting each contributor's training once.

        Returns:
            True when the model was stored; False when it was ignored (no
            contributors, nothing new, or a partial overlap).
        """
        if not model.contributors:
            logger.warning("node %s: ignored a model with no contributors", self.node)
            return False
        incoming = set(model.contributors)
        with self._lock:
            overlapping = [key for key in self._models if incoming & set(key)]
            held_contributors = {c for key in overlapping for c in key}
            if incoming <= held_contributors or not held_contributors <= incoming:
                logger.debug(
                    "node %s: ignored the model from %s: its contributions are held",
                    self.node,
                    ", ".join(sorted(incoming)),
                )
                return False
            for key in overlapping:
                del self._models[key]
            self._models[tuple(sorted(incoming))] = model
            return True

    def contributors(self) -> set[str]:
        """Return the nodes whose training is in the models held so far."""
        with self._lock:
            return {c for key in self._models for c in key}

    def missing(self) -> set[str]:
        """Return the expected contributors not yet received."""
        return set(self._expected) - self.contributors()

    def is_complete(self) -> bool:
        """Return True when every expected contributor's model is held."""
        return bool(self._expected) and not self.missing()

    def models(self) -> list[ModelWeights]:
        """Return the held models sorted by contributors."""
        with self._lock:
            return [self._models[key] for key in sorted(self._models)]

    def clear(self) -> None:
        """Forget the models and the expected contributors of the round."""
        with self._lock:
            self._models.clear()
            self._expected = frozenset()

    def aggregate(self, previous: ModelWeights | None = None) -> ModelWeights:
        """Validate the held models and combine them.

        Expected contributors that sent nothing are logged and left out.

        Args:
            previous: The node's model at the start of the round, for rules
                that step from it (server optimisers).

        Returns:
            The aggregate. Its contributors are those of the models it
            contains and its ``num_samples`` is their sum.

        Raises:
            NoModelsError: No models are held.
            ModelMismatchError: Two models differ in layers, shapes or dtypes.
            AggregationError: Every model was excluded, or the rule cannot
                combine these models (see the subclass).
        """
        models = self.models()
        missing = self.missing()
        if missing and models:
            logger.warning(
                "node %s: aggregating without %s: no model received",
                self.node,
                ", ".join(sorted(missing)),
            )
        models = validate_models(
            models, node=self.node, check_finite=not self.checks_finite_itself
        )
        result = self.combine(models, previous)
        used = models
        if result.contributors:
            used_contributors = set(result.contributors)
            used = [m for m in models if set(m.contributors) <= used_contributors]
        contributors = sorted({c for m in used for c in m.contributors})
        logger.debug("node %s: aggregated %d models", self.node, len(used))
        return result.with_metadata(
            num_samples=sum(m.num_samples for m in used), contributors=contributors
        )

    @abstractmethod
    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Combine validated models given in a deterministic order.

        Args:
            models: Models with matching layers, sorted by contributors. They
                are finite unless ``checks_finite_itself`` is True.
            previous: The node's round-start model, or None.

        Returns:
            The aggregate. A rule that leaves models out sets the result's
            ``contributors`` to those of the models it used; an empty tuple
            means all of them.
        """


def validate_models(
    models: list[ModelWeights], *, node: str = "", check_finite: bool = True
) -> list[ModelWeights]:
    """Check models against each other and drop non-finite ones.

    Args:
        models: The models of one round.
        node: Id of the aggregating node, used in messages.
        check_finite: Leave out (and log) models containing NaN or infinity.

    Returns:
        The models kept, in the given order.

    Raises:
        NoModelsError: ``models`` is empty.
        ModelMismatchError: Layer names, shapes or dtypes differ; the message
            names the contributors of both models and the layer.
        AggregationError: Every model contains NaN or infinity.
    """
    if not models:
        raise NoModelsError(
            f"node {node}: no models to aggregate; add at least the node's own model"
        )
    reference = models[0]
    for model in models[1:]:
        problems = reference.describe_mismatch(model)
        if problems:
            raise ModelMismatchError(
                f"node {node}: the model from {', '.join(model.contributors)} does "
                f"not match the model from {', '.join(reference.contributors)}: "
                + "; ".join(problems)
            )
    if not check_finite:
        return list(models)
    return drop_non_finite(models, node=node)


def cast_like(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Cast a float result back to the dtype and shape of ``like``.

    Integer and boolean results are rounded first; a 0-d result stays a 0-d
    array.
    """
    if not np.issubdtype(like.dtype, np.inexact):
        value = np.rint(value)
    return np.asarray(value, dtype=like.dtype).reshape(like.shape)
