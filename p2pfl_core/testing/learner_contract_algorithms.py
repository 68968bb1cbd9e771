"""The part of the learner contract that covers callbacks, FedProx and SCAFFOLD.

The tests run when the contract's subclass sets ``supports_algorithms``; the
exact steps also need ``linear_settings``, and the federations
``federation_settings``. The expected values are the published failure cases
of FedProx (the proximal term squares the norm: from w = [1, 2] and
w_t = [-2, -2] with mu = 0.1 the term is 1.25 and its gradient [0.3, 0.4])
and SCAFFOLD (a step is y - lr * (g - c_i + c), so y = 1, g = 1, c = 0.5,
c_i = 0.2 and lr = 0.01 give 0.987; a node whose c_i goes from 0.2 to 1.7
shares a delta of 1.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from p2pfl_core.aggregators._utils import (
    DEFAULT_STATISTICS_SUFFIXES,
    is_statistics_buffer,
)
from p2pfl_core.aggregators.scaffold import CONTROL_PREFIX, DELTA_CONTROL_PREFIX
from p2pfl_core.algorithms.fedprox import FedProxCallback
from p2pfl_core.algorithms.scaffold import ScaffoldCallback
from p2pfl_core.algorithms.step_callback import TrainingStepCallback
from p2pfl_core.algorithms.step_terms import StepTerms
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.testing.learner_contract_base import (
    LearnerContractBase,
    assert_same_weights,
    changed_layers,
    digits_node_data,
)
from p2pfl_core.weights import ModelWeights

FEDERATION: dict[str, Any] = {
    "seed": 42,
    "nodes": 4,
    "rounds": 3,
    "epochs": 2,
    "topology": "ring",
    "protocol": "memory",
    "data": {
        "dataset": "digits",
        "partition": "dirichlet",
        "alpha": 0.5,
        "test_fraction": 0.2,
    },
    "timeouts": {"heartbeat_period": 0.2, "heartbeat_timeout": 30.0},
}
"""A short digits federation; the tests add ``learner`` and ``aggregator``."""

ALGORITHMS: dict[str, tuple[dict[str, Any], str]] = {
    "fedavg": ({}, "fedavg"),
    "fedprox": ({"algorithm": {"name": "fedprox", "mu": 0.01}}, "fedavg"),
    "scaffold": ({"algorithm": "scaffold"}, "scaffold"),
}
"""Learner settings and aggregator of each federation the contract runs."""

SEEDED_KEYS = ("round", "node", "accuracy", "loss", "train_loss")
"""Metrics that depend only on the seed, so two runs must repeat them."""


class RecordingCallback(LearnerCallback):
    """Records the weights it receives and adds an ``extra`` array at the end."""

    def __init__(self) -> None:
        self.start: ModelWeights | None = None
        self.end: ModelWeights | None = None

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Record the round-start weights."""
        self.start = weights

    def on_fit_end(self, learner: Learner, weights: ModelWeights) -> ModelWeights:
        """Record the trained weights and share them with ``extra["control"]``."""
        self.end = weights
        shared = weights.copy()
        shared.extra["control"] = np.arange(3, dtype=np.float32)
        return shared


class AnchoredFedProx(FedProxCallback):
    """FedProx centred on given weights instead of the round-start weights.

    So the first step of a round already has a proximal term.
    """

    def __init__(self, mu: float, anchor: ModelWeights) -> None:
        super().__init__(mu)
        self.anchor = anchor

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Take :attr:`anchor` as ``w_t``."""
        super().on_fit_start(learner, self.anchor)


class OffsetEveryLayer(TrainingStepCallback):
    """Adds 1 to the gradient of every floating-point layer, statistics included."""

    def __init__(self) -> None:
        self.layers: dict[str, np.ndarray] = {}

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Prepare a term of ones for every floating-point layer."""
        self.layers = {
            name: np.ones_like(array)
            for name, array in weights.layers.items()
            if np.issubdtype(array.dtype, np.floating)
        }

    def gradient_terms(
        self, params: Mapping[str, np.ndarray], learning_rate: float
    ) -> dict[str, np.ndarray]:
        """Return the ones, whatever the step."""
        return self.layers

    def step_terms(self) -> StepTerms:
        """Return the ones as offsets."""
        return StepTerms({}, {}, self.layers)


def linear_data(x: float, samples: int = 1) -> NodeData:
    """Return samples of the single feature ``x`` and label 0, of 2 classes."""
    features = np.full((samples, 1), x, np.float32)
    labels = np.zeros(samples, np.int64)
    return NodeData(features, labels, features, labels, 2)


class LearnerAlgorithmTests(LearnerContractBase):
    """Tests of callbacks, FedProx and SCAFFOLD; they need ``supports_algorithms``."""

    def test_set_weights_keeps_extra(self) -> None:
        """extra arrays loaded with set_weights come back from get_weights."""
        self.require_algorithms()
        learner = self.make_learner(0)
        weights = learner.get_weights()
        weights.extra["control"] = np.arange(3, dtype=np.float32)
        learner.set_weights(weights)
        assert learner.get_weights().extra["control"].tolist() == [0.0, 1.0, 2.0]

    def test_callbacks_wrap_fit(self) -> None:
        """Callbacks see the start and trained weights; their extra is shared."""
        self.require_algorithms()
        callback = RecordingCallback()
        learner = self.make_learner(0)
        learner.callbacks.append(callback)
        initial = learner.get_weights()
        learner.fit(0)
        assert callback.start is not None
        assert callback.end is not None
        assert_same_weights(callback.start, initial)
        assert_same_weights(callback.end, learner.get_weights())
        assert learner.get_weights().extra["control"].tolist() == [0.0, 1.0, 2.0]
        learner.set_weights(initial)
        assert learner.get_weights().extra == {}

    def test_algorithm_setting_builds_callback(self) -> None:
        """learner.algorithm {name: fedprox, mu: 0.01} gives a FedProx callback."""
        self.require_algorithms()
        learner = self.build_from_settings(algorithm={"name": "fedprox", "mu": 0.01})
        callbacks = [c for c in learner.callbacks if isinstance(c, FedProxCallback)]
        assert len(callbacks) == 1
        assert callbacks[0].mu == 0.01
        scaffold = self.build_from_settings(algorithm="scaffold")
        assert any(isinstance(c, ScaffoldCallback) for c in scaffold.callbacks)

    def test_unknown_algorithm_lists_choices(self) -> None:
        """An unknown learner algorithm raises a ConfigError listing the choices."""
        self.require_algorithms()
        with pytest.raises(ConfigError) as error:
            self.build_from_settings(algorithm="fedproxx")
        assert "unknown learner algorithm 'fedproxx'; choose one of: " in str(
            error.value
        )

    def test_algorithm_of_wrong_type(self) -> None:
        """learner.algorithm must be a name or a mapping."""
        self.require_algorithms()
        with pytest.raises(ConfigError, match="learner.algorithm: expected"):
            self.build_from_settings(algorithm=3)

    def test_statistics_get_no_terms(self) -> None:
        """Gradient terms reach trained parameters, never statistics or counters."""
        self.require_algorithms()
        # One step on the whole train split, so both runs see the same forward pass.
        samples = digits_node_data().num_samples
        plain = self.build_from_settings(batch_size=samples, epochs=1)
        corrected = self.build_from_settings(batch_size=samples, epochs=1)
        corrected.callbacks = [OffsetEveryLayer()]
        plain.fit(0)
        corrected.fit(0)
        first, second = plain.get_weights(), corrected.get_weights()
        assert changed_layers(first, second)
        for name, array in first.layers.items():
            if is_statistics_buffer(name, array, DEFAULT_STATISTICS_SUFFIXES):
                assert array.tobytes() == second[name].tobytes(), name

    def test_fedprox_step_exact(self) -> None:
        """From w [1, 2] and w_t [-2, -2], mu 0.1 adds -lr * [0.3, 0.4] and 1.25."""
        plain = self._linear_learner(2.0, 0.1)
        proximal = self._linear_learner(2.0, 0.1)
        kernel, bias = _linear_layers(plain.get_weights())
        start = _linear_weights(plain, [1.0, 2.0])
        proximal.callbacks = [
            AnchoredFedProx(0.1, _linear_weights(plain, [-2.0, -2.0]))
        ]
        for learner in (plain, proximal):
            learner.set_weights(start)
        plain_loss = plain.fit(0)["loss"]
        proximal_loss = proximal.fit(0)["loss"]
        first, second = plain.get_weights(), proximal.get_weights()
        np.testing.assert_allclose(
            (second[kernel] - first[kernel]).ravel(), [-0.03, -0.04], atol=1e-6
        )
        assert first[bias].tobytes() == second[bias].tobytes()
        assert proximal_loss - plain_loss == pytest.approx(1.25, abs=1e-5)

    def test_scaffold_step_exact(self) -> None:
        """y 1, g 1, c 0.5, c_i 0.2, lr 0.01: y becomes 0.987, not 0.993."""
        plain = self._linear_learner(2.0, 0.01)
        corrected = self._linear_learner(2.0, 0.01)
        kernel, bias = _linear_layers(plain.get_weights())
        callback = _scaffold_with_control(plain, 0.2)
        corrected.callbacks = [callback]
        start = _linear_weights(plain, [1.0, 1.0], control=0.5)
        for learner in (plain, corrected):
            learner.set_weights(start)
            learner.fit(0)
        first, second = plain.get_weights(), corrected.get_weights()
        # The logits tie, so the second class's kernel entry has gradient 1.0.
        assert second[kernel].ravel()[1] == pytest.approx(0.987, abs=1e-6)
        for name in (kernel, bias):
            np.testing.assert_allclose(second[name] - first[name], -0.003, atol=1e-6)

    def test_scaffold_control_delta(self) -> None:
        """c_i going from 0.2 to 1.7 shares a delta of 1.5 after one step."""
        learner = self._linear_learner(3.4, 0.5)
        kernel, bias = _linear_layers(learner.get_weights())
        callback = _scaffold_with_control(learner, 0.2)
        learner.callbacks = [callback]
        learner.set_weights(_linear_weights(learner, [1.0, 1.0], control=0.5))
        learner.fit(0)
        extra = learner.get_weights().extra
        # One step makes c_i+ the gradient: 3.4 * [-0.5, 0.5] on the kernel.
        np.testing.assert_allclose(
            callback.local_control[kernel].ravel(), [-1.7, 1.7], atol=1e-5
        )
        np.testing.assert_allclose(
            extra[DELTA_CONTROL_PREFIX + kernel].ravel(), [-1.9, 1.5], atol=1e-5
        )
        np.testing.assert_allclose(
            extra[DELTA_CONTROL_PREFIX + bias], [-0.7, 0.3], atol=1e-5
        )
        np.testing.assert_allclose(extra[CONTROL_PREFIX + kernel], 0.5, atol=0)

    def test_scaffold_counts_momentum_steps(self) -> None:
        """Two SGD steps of lr 0.1 with momentum 0.5 count as 0.1 + 0.15."""
        if not self.sgd_momentum:
            pytest.skip("set sgd_momentum to count steps with momentum")
        learner = self._linear_learner(
            2.0, 0.1, samples=4, batch_size=2, momentum=0.5, algorithm="scaffold"
        )
        callbacks = [c for c in learner.callbacks if isinstance(c, ScaffoldCallback)]
        assert len(callbacks) == 1
        learner.fit(0)
        assert callbacks[0].step_size_sum == pytest.approx(0.25, abs=1e-12)

    @pytest.mark.slow
    @pytest.mark.parametrize("algorithm", list(ALGORITHMS))
    def test_federation_repeats(self, algorithm: str) -> None:
        """Two runs of a 4-node federation give identical metrics and learn."""
        if self.federation_settings is None:
            pytest.skip("set federation_settings to run federations")
        from p2pfl_core.experiment import run_experiment
        from p2pfl_core.manager import PluginManager

        name = self.settings_learner().name
        algorithm_settings, aggregator = ALGORITHMS[algorithm]
        learner = {"name": name, **self.settings, **self.federation_settings}
        experiment = {
            **FEDERATION,
            "learner": {**learner, **algorithm_settings},
            "aggregator": aggregator,
        }
        runs = [
            run_experiment(dict(experiment), manager=PluginManager(env={}))
            for _ in range(2)
        ]
        first, second = runs
        assert first.errors == {}
        assert first.rounds_completed == 3
        assert len(first.metrics) == 12
        assert _seeded(first.metrics) == _seeded(second.metrics)
        assert first.final_mean_accuracy >= self.federation_min_accuracy

    def _linear_learner(
        self, x: float, learning_rate: float, samples: int = 1, **settings: Any
    ) -> Learner:
        """Return softmax regression on ``samples`` copies of ``x``, one epoch.

        By default one sample in batches of one: one SGD step a fit, and no
        callbacks.
        """
        self.require_algorithms()
        if self.linear_settings is None:
            pytest.skip("set linear_settings to run the exact algorithm steps")
        section = {"batch_size": 1, "epochs": 1, **settings}
        learner = self.build_from_settings(
            linear_data(x, samples),
            **self.linear_settings,
            learning_rate=learning_rate,
            **section,
        )
        if "algorithm" not in settings:
            learner.callbacks = []
        return learner


def _linear_layers(weights: ModelWeights) -> tuple[str, str]:
    """Return the names of the kernel and the bias of softmax regression."""
    kernels = [name for name, array in weights.layers.items() if array.ndim == 2]
    biases = [name for name, array in weights.layers.items() if array.ndim == 1]
    assert len(weights.layers) == 2, f"expected a kernel and a bias: {list(weights)}"
    assert len(kernels) == 1, list(weights)
    assert len(biases) == 1, list(weights)
    return kernels[0], biases[0]


def _linear_weights(
    learner: Learner, kernel_values: list[float], control: float | None = None
) -> ModelWeights:
    """Return weights with the kernel ``kernel_values`` (one per class) and bias 0.

    With ``control``, every layer carries a SCAFFOLD global control of that value.
    """
    kernel, bias = _linear_layers(learner.get_weights())
    shape = learner.get_weights()[kernel].shape
    layers = {
        kernel: np.array(kernel_values, np.float32).reshape(shape),
        bias: np.zeros(2, np.float32),
    }
    extra = {}
    if control is not None:
        extra = {
            CONTROL_PREFIX + name: np.full(array.shape, control, np.float32)
            for name, array in layers.items()
        }
    return ModelWeights(layers, extra=extra)


def _scaffold_with_control(learner: Learner, local_control: float) -> ScaffoldCallback:
    """Return a SCAFFOLD callback whose c_i is ``local_control`` on every layer."""
    callback = ScaffoldCallback()
    callback.local_control = {
        name: np.full(array.shape, local_control)
        for name, array in learner.get_weights().layers.items()
    }
    return callback


def _seeded(metrics: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(record.get(key) for key in SEEDED_KEYS) for record in metrics]
