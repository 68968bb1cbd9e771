"""The framework adapter every learner plugin implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from p2pfl_core.data.dataset import NodeData
from p2pfl_core.weights import ModelWeights


class LearnerCallback:
    """Hooks an algorithm uses to take part in local training.

    FedProx and SCAFFOLD are written as callbacks, so every learner that
    calls them supports both. Subclasses override what they need.
    """

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Run before local training, with the round's starting weights."""

    def on_fit_end(self, learner: Learner, weights: ModelWeights) -> ModelWeights:
        """Run after local training; return the weights to share.

        Args:
            learner: The learner that trained.
            weights: The weights after training.

        Returns:
            The weights to share, possibly with ``extra`` arrays added.
        """
        return weights


class Learner(ABC):
    """Wraps one framework model and one node's data.

    Args:
        data: The node's train and test split.
        seed: Seed for initial weights and data order.
        epochs: Local epochs per round.
        batch_size: Samples per training step.
        callbacks: Algorithm callbacks such as FedProx.
    """

    name = "learner"

    def __init__(
        self,
        data: NodeData,
        *,
        seed: int = 0,
        epochs: int = 1,
        batch_size: int = 32,
        callbacks: list[LearnerCallback] | None = None,
    ) -> None:
        self.data = data
        self.seed = seed
        self.epochs = epochs
        self.batch_size = batch_size
        self.callbacks: list[LearnerCallback] = list(callbacks or [])

    @classmethod
    @abstractmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> Learner:
        """Build a learner from the ``learner`` section of an experiment file.

        Args:
            settings: The section without ``name``: model builder and its
                arguments, optimizer, learning rate, batch size, epochs.
            data: The node's data.
            seed: The node's seed.
        """

    @property
    def num_samples(self) -> int:
        """Number of training samples this node holds."""
        return self.data.num_samples

    @abstractmethod
    def get_weights(self) -> ModelWeights:
        """Return the model's weights, with ``num_samples`` set."""

    @abstractmethod
    def set_weights(self, weights: ModelWeights) -> None:
        """Load weights into the model.

        Raises:
            ModelMismatchError: Layer names, shapes or dtypes differ; the
                message names the layers.
        """

    @abstractmethod
    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``self.epochs`` local epochs; return training metrics (``loss``).

        Args:
            round: The learning round, mixed into the seed of the data order.
        """

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Evaluate on the test split; return ``loss`` and ``accuracy``."""
