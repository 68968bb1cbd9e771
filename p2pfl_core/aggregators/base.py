"""The aggregator interface and the checks every aggregation rule shares."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np

from p2pfl_core.errors import AggregationError, ModelMismatchError, NoModelsError
from p2pfl_core.weights import ModelWeights

logger = logging.getLogger(__name__)


class Aggregator(ABC):
    """Collects the models of one round and combines them.

    Models are added as they arrive, from any thread. A model whose
    contributor set was already added is ignored, so duplicate deliveries are
    counted once. Subclasses implement :meth:`combine` on validated models
    given in a deterministic order (sorted by contributors), so the same
    inputs always give bit-identical output.

    Args:
        node: Id of the node that owns this aggregator, used in logs.
        **params: Algorithm parameters from the experiment file.
    """

    name = "aggregator"

    def __init__(self, node: str = "", **params: Any) -> None:
        if params:
            raise TypeError(
                f"aggregator {self.name!r} takes no parameter(s) {sorted(params)}"
            )
        self.node = node
        self._lock = threading.Lock()
        self._models: dict[tuple[str, ...], ModelWeights] = {}
        self._expected: frozenset[str] = frozenset()

    def set_expected(self, contributors: Iterable[str]) -> None:
        """Start a round that waits for models from ``contributors``."""
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
        """Add one model; return True when it was new.

        A model with no contributors, or whose contributor set is already
        present, is ignored with a log line.
        """
        if not model.contributors:
            logger.warning("node %s: ignored a model with no contributors", self.node)
            return False
        key = tuple(sorted(model.contributors))
        with self._lock:
            if key in self._models:
                return False
            self._models[key] = model
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
        """Forget the models of the round."""
        with self._lock:
            self._models.clear()
            self._expected = frozenset()

    def aggregate(self, previous: ModelWeights | None = None) -> ModelWeights:
        """Validate the held models and combine them.

        Args:
            previous: The node's model at the start of the round, for rules
                that step from it (server optimisers).

        Returns:
            The aggregate, whose contributors are the union of the inputs'
            and whose ``num_samples`` is their sum.

        Raises:
            NoModelsError: No models are held.
            ModelMismatchError: Two models differ in layers, shapes or dtypes.
            AggregationError: Every model was excluded.
        """
        models = validate_models(self.models(), node=self.node)
        result = self.combine(models, previous)
        contributors = sorted({c for m in models for c in m.contributors})
        return result.with_metadata(
            num_samples=sum(m.num_samples for m in models), contributors=contributors
        )

    @abstractmethod
    def combine(
        self, models: list[ModelWeights], previous: ModelWeights | None
    ) -> ModelWeights:
        """Combine validated, finite models given in a deterministic order."""


def validate_models(
    models: list[ModelWeights], *, node: str = ""
) -> list[ModelWeights]:
    """Check models against each other and drop non-finite ones.

    Returns:
        The finite models, in the given order.

    Raises:
        NoModelsError: ``models`` is empty.
        ModelMismatchError: Layer names, shapes or dtypes differ; the message
            names the contributor and the layer.
        AggregationError: Every model holds NaN or infinity.
    """
    if not models:
        raise NoModelsError(f"node {node}: no models to aggregate")
    reference = models[0]
    for model in models[1:]:
        problems = reference.describe_mismatch(model)
        if problems:
            raise ModelMismatchError(
                f"node {node}: model from {', '.join(model.contributors)} does not "
                f"match the model from {', '.join(reference.contributors)}: "
                + "; ".join(problems)
            )
    finite: list[ModelWeights] = []
    for model in models:
        bad = model.non_finite_layers()
        if bad:
            logger.warning(
                "node %s: excluded the model from %s: non-finite values in %s",
                node,
                ", ".join(model.contributors),
                ", ".join(bad),
            )
            continue
        finite.append(model)
    if not finite:
        raise AggregationError(
            f"node {node}: every model holds NaN or infinity; nothing to aggregate"
        )
    return finite


def cast_like(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Cast a float result back to the dtype of ``like``, rounding integers."""
    if np.issubdtype(like.dtype, np.integer) or like.dtype == np.bool_:
        value = np.rint(value)
    return np.asarray(value, dtype=like.dtype).reshape(like.shape)
