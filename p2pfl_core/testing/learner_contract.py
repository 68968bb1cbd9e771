"""The contract every learner keeps, as a test class to subclass.

Example::

    class TestTorchLearner(LearnerContract):
        def make_learner(self, seed: int) -> TorchLearner:
            return TorchLearner(build_mlp(64, 10, seed=seed), digits_node_data(), seed=seed)

A learner built from experiment settings sets class attributes instead, and
the attributes switch on more tests (see :class:`LearnerContract`)::

    class TestTorchMlp(LearnerContract):
        learner_class = TorchLearner
        settings = {"model": "mlp"}
        supports_algorithms = True
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.testing.learner_contract_algorithms import LearnerAlgorithmTests
from p2pfl_core.testing.learner_contract_base import (
    assert_same_weights,
    changed_layers,
    digits_node_data,
    run_in_threads,
)
from p2pfl_core.testing.learner_contract_settings import LearnerSettingsTests
from p2pfl_core.weights import ModelWeights

__all__ = [
    "LearnerContract",
    "assert_same_weights",
    "changed_layers",
    "digits_node_data",
]

THREADS = 4
"""Learners built or trained at once by the thread-safety tests."""


class LearnerContract(LearnerSettingsTests, LearnerAlgorithmTests):
    """Tests that every learner must pass.

    Subclasses implement :meth:`make_learner`, returning a learner of the
    model to test on small data (see :func:`digits_node_data`) with
    ``epochs=1``, or set ``learner_class`` and ``settings``. More attributes
    (``layer_shapes``, ``user_builder``, ``supports_algorithms``,
    ``linear_settings``, ``sgd_momentum``, ``federation_settings``; see
    :class:`~p2pfl_core.testing.learner_contract_base.LearnerContractBase`)
    switch on more tests, which are skipped while they are unset.
    """

    def test_get_set_round_trip(self) -> None:
        """Weights set into another learner come back unchanged."""
        source = self.make_learner(0).get_weights()
        target = self.make_learner(1)
        target.set_weights(source)
        assert_same_weights(source, target.get_weights())

    def test_trained_weights_round_trip(self) -> None:
        """Trained weights loaded into another learner come back bit for bit."""
        source = self.make_learner(1)
        source.fit(0)
        sent = source.get_weights()
        target = self.make_learner(2)
        target.set_weights(sent)
        assert_same_weights(sent, target.get_weights())

    def test_read_only_weights_load(self) -> None:
        """Read-only arrays, as decoded from a received buffer, load."""
        sent = self.make_learner(9).get_weights()
        for array in sent.layers.values():
            array.setflags(write=False)
        target = self.make_learner(0)
        target.set_weights(sent)
        assert_same_weights(sent, target.get_weights())

    def test_integer_layers_round_trip(self) -> None:
        """An integer layer, such as a step counter, loads with its value and dtype.

        When the model under test has no integer layer, the model of
        ``user_builder`` is tried.
        """
        learner = self.make_learner(0)
        if not _integer_layers(learner.get_weights()) and self.user_builder:
            learner = self.build_from_settings(model=self.user_builder, model_args={})
        weights = learner.get_weights()
        integers = _integer_layers(weights)
        if not integers:
            pytest.skip("the model has no integer layer")
        for name in integers:
            weights.layers[name] = np.full_like(weights[name], 41)
        learner.set_weights(weights)
        for name in integers:
            loaded = learner.get_weights()[name]
            assert loaded.dtype == weights[name].dtype, name
            assert loaded.tolist() == weights[name].tolist(), name

    def test_layer_names_and_shapes(self) -> None:
        """The layers have the names, order and shapes the subclass lists."""
        if self.layer_shapes is None:
            pytest.skip("set layer_shapes to check the layer names")
        weights = self.make_learner(0).get_weights()
        shapes = [(name, array.shape) for name, array in weights.layers.items()]
        assert shapes == list(self.layer_shapes.items())

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
        assert changed_layers(before, after)

    def test_fit_changes_every_float_layer(self) -> None:
        """One round changes every floating-point layer and reports a loss > 0."""
        learner = self.make_learner(0)
        before = learner.get_weights()
        metrics = learner.fit(0)
        after = learner.get_weights()
        assert metrics["loss"] > 0.0
        for name, array in before.layers.items():
            if np.issubdtype(array.dtype, np.floating):
                assert not np.array_equal(array, after[name]), name

    def test_evaluate_returns_loss_and_accuracy(self) -> None:
        """evaluate returns a finite loss and an accuracy between 0 and 1."""
        metrics = self.make_learner(0).evaluate()
        assert math.isfinite(metrics["loss"])
        assert 0.0 <= metrics["accuracy"] <= 1.0

    def test_evaluate_zero_weights_exact(self) -> None:
        """All-zero weights give loss ln(classes) and the share of label 0.

        Every weight at zero makes every logit zero, so each class gets the
        probability 1/classes and ties go to the first class.
        """
        learner = self.make_learner(0)
        zeros = {
            name: np.zeros_like(array)
            for name, array in learner.get_weights().layers.items()
        }
        learner.set_weights(ModelWeights(zeros))
        metrics = learner.evaluate()
        data = learner.data
        assert metrics["loss"] == pytest.approx(math.log(data.num_classes), abs=1e-6)
        assert metrics["accuracy"] == pytest.approx(float(np.mean(data.y_test == 0)))

    def test_same_seed_same_initial_weights(self) -> None:
        """Two learners built with the same seed start from identical weights."""
        assert_same_weights(
            self.make_learner(7).get_weights(), self.make_learner(7).get_weights()
        )

    def test_other_seed_other_initial_weights(self) -> None:
        """Another seed gives other initial weights, unless they are all zero."""
        first = self.make_learner(7).get_weights()
        second = self.make_learner(8).get_weights()
        if not any(np.any(array) for array in first.layers.values()):
            pytest.skip("the model starts from zero weights, whatever the seed")
        assert changed_layers(first, second)

    def test_builds_in_threads_match_sequential(self) -> None:
        """Learners built at once in threads get the weights of a sequential build."""
        expected = self.make_learner(3).get_weights()
        learners = run_in_threads([lambda: self.make_learner(3)] * THREADS)
        for learner in learners:
            assert_same_weights(learner.get_weights(), expected)

    def test_fits_in_threads_match_sequential(self) -> None:
        """Learners trained at once in threads end as if trained one by one."""
        expected = []
        for seed in range(THREADS):
            learner = self.make_learner(seed)
            learner.fit(0)
            expected.append(learner.get_weights())
        learners = [self.make_learner(seed) for seed in range(THREADS)]
        run_in_threads([functools.partial(learner.fit, 0) for learner in learners])
        for learner, weights in zip(learners, expected, strict=True):
            assert_same_weights(learner.get_weights(), weights)

    def test_data_order_depends_on_round(self) -> None:
        """The same round trains identically; another round trains otherwise."""
        first, second, third = (self.make_learner(4) for _ in range(3))
        first.fit(2)
        second.fit(2)
        third.fit(3)
        assert_same_weights(first.get_weights(), second.get_weights())
        assert changed_layers(first.get_weights(), third.get_weights())

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

    def test_mismatch_error_names_layers(self) -> None:
        """A missing, an unexpected, a reshaped and a recast layer are each named."""
        learner = self.make_learner(0)
        layers = dict(learner.get_weights().layers)
        names = list(layers)
        expected = [names[0], "p2pfl_unexpected_layer"]
        del layers[names[0]]
        layers["p2pfl_unexpected_layer"] = np.zeros(3, np.float32)
        if len(names) > 1:
            reshaped = names[-1]
            layers[reshaped] = np.zeros((*layers[reshaped].shape, 2), np.float32)
            expected.append(reshaped)
        floats = [n for n in names[1:-1] if np.issubdtype(layers[n].dtype, np.floating)]
        if floats:
            recast = floats[0]
            other = np.float64 if layers[recast].dtype != np.float64 else np.float32
            layers[recast] = layers[recast].astype(other)
            expected.append(recast)
        with pytest.raises(ModelMismatchError) as error:
            learner.set_weights(ModelWeights(layers))
        message = str(error.value)
        for name in expected:
            assert name in message, name

    def test_failed_load_leaves_weights(self) -> None:
        """Weights that do not fit leave the model as it was."""
        learner = self.make_learner(0)
        before = learner.get_weights()
        layers = {name: array + 1 for name, array in before.layers.items()}
        last = list(layers)[-1]
        layers[last] = np.zeros((*layers[last].shape, 2), layers[last].dtype)
        with pytest.raises(ModelMismatchError):
            learner.set_weights(ModelWeights(layers))
        assert_same_weights(before, learner.get_weights())


def _integer_layers(weights: ModelWeights) -> list[str]:
    return [
        name
        for name, array in weights.layers.items()
        if np.issubdtype(array.dtype, np.integer)
    ]
