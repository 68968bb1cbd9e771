"""The contract every learner keeps, as a test class to subclass.

Example::

    class TestTorchLearner(LearnerContract):
        def make_learner(self, seed: int) -> TorchLearner:
            return TorchLearner(build_mlp(64, 10, seed=seed), digits_node_data(), seed=seed)
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.learning.learner import Learner
from p2pfl_core.weights import ModelWeights


@functools.cache
def digits_node_data(train: int = 240, test: int = 60) -> NodeData:
    """Return one node's data: the first digits of scikit-learn's 8x8 digits.

    Features are 64 floats in [0, 1], labels 0 to 9; ``train`` samples for
    training and the next ``test`` for testing. The result is cached, so its
    arrays must not be modified.
    """
    from p2pfl_core.data.sources import load_digits

    digits = load_digits()
    x, y = digits.x, digits.y
    end = train + test
    return NodeData(
        x[:train], y[:train], x[train:end], y[train:end], digits.num_classes
    )


def assert_same_weights(first: ModelWeights, second: ModelWeights) -> None:
    """Assert equal layer names, order, shapes, dtypes and bytes."""
    assert list(first.layers) == list(second.layers)
    for name, array in first.layers.items():
        assert second[name].shape == array.shape, name
        assert second[name].dtype == array.dtype, name
        assert second[name].tobytes() == array.tobytes(), name


class LearnerContract:
    """Tests that every learner must pass.

    Subclasses implement :meth:`make_learner`, returning a learner of the
    model to test on small data (see :func:`digits_node_data`) with
    ``epochs=1``.
    """

    def make_learner(self, seed: int) -> Learner:
        """Return a new learner whose initial weights depend only on ``seed``."""
        raise NotImplementedError("subclasses of LearnerContract implement this")

    def test_get_set_round_trip(self) -> None:
        """Weights set into another learner come back unchanged."""
        source = self.make_learner(0).get_weights()
        target = self.make_learner(1)
        target.set_weights(source)
        assert_same_weights(source, target.get_weights())

    def test_get_weights_reports_num_samples(self) -> None:
        """get_weights carries the learner's number of training samples."""
        learner = self.make_learner(0)
        assert learner.num_samples > 0
        assert learner.get_weights().num_samples == learner.num_samples

    def test_get_weights_returns_copy(self) -> None:
        """Changing returned arrays does not change the model."""
        learner = self.make_learner(0)
        weights = learner.get_weights()
        before = {name: array.copy() for name, array in weights.layers.items()}
        for array in weights.layers.values():
            if array.size and np.issubdtype(array.dtype, np.floating):
                array.flat[0] += 1.0
        after = learner.get_weights()
        for name, array in before.items():
            assert after[name].tobytes() == array.tobytes(), name

    def test_fit_changes_weights(self) -> None:
        """One round of training changes at least one layer and reports a loss."""
        learner = self.make_learner(0)
        before = learner.get_weights()
        metrics = learner.fit(0)
        after = learner.get_weights()
        assert math.isfinite(metrics["loss"])
        changed = [
            n for n in before.layers if before[n].tobytes() != after[n].tobytes()
        ]
        assert changed

    def test_evaluate_returns_loss_and_accuracy(self) -> None:
        """evaluate returns a finite loss and an accuracy between 0 and 1."""
        metrics = self.make_learner(0).evaluate()
        assert math.isfinite(metrics["loss"])
        assert 0.0 <= metrics["accuracy"] <= 1.0

    def test_same_seed_same_initial_weights(self) -> None:
        """Two learners built with the same seed start from identical weights."""
        assert_same_weights(
            self.make_learner(7).get_weights(), self.make_learner(7).get_weights()
        )

    def test_missing_layer_raises(self) -> None:
        """Weights without one of the model's layers raise ModelMismatchError."""
        learner = self.make_learner(0)
        weights = learner.get_weights()
        first = next(iter(weights.layers))
        partial = {n: a for n, a in weights.layers.items() if n != first}
        with pytest.raises(ModelMismatchError):
            learner.set_weights(ModelWeights(partial, weights.num_samples))

    def test_wrong_shape_raises(self) -> None:
        """A layer of another shape raises ModelMismatchError."""
        learner = self.make_learner(0)
        weights = learner.get_weights()
        first = next(iter(weights.layers))
        layers = dict(weights.layers)
        layers[first] = np.zeros((*layers[first].shape, 2), layers[first].dtype)
        with pytest.raises(ModelMismatchError):
            learner.set_weights(ModelWeights(layers, weights.num_samples))
