"""Training, evaluation, seeding and callbacks of the flax learner."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights

from p2pfl_flax.learner import FlaxLearner
from p2pfl_flax.models import build_mlp
from p2pfl_flax.steps import train_step


def build(data: NodeData, seed: int = 0, **settings: object) -> FlaxLearner:
    return FlaxLearner.from_settings(dict(settings), data, seed=seed)


def same_weights(first: ModelWeights, second: ModelWeights) -> bool:
    return list(first) == list(second) and all(
        np.array_equal(first[name], second[name]) for name in first
    )


def test_fit_changes_weights(small_digits: NodeData) -> None:
    """One round of training moves every layer and reports a positive loss."""
    learner = build(small_digits)
    before = learner.get_weights()
    metrics = learner.fit(0)
    after = learner.get_weights()
    assert metrics["loss"] > 0.0
    for name in before:
        assert not np.array_equal(before[name], after[name]), name


def test_training_learns_digits(small_digits: NodeData) -> None:
    """Five rounds of Adam on 200 digits reach 80% test accuracy."""
    learner = build(small_digits, optimizer="adam", learning_rate=0.01)
    for round in range(5):
        learner.fit(round)
    assert learner.evaluate()["accuracy"] >= 0.8


def test_evaluate_returns_loss_and_accuracy(small_digits: NodeData) -> None:
    """Evaluation reports a positive loss and an accuracy in [0, 1]."""
    learner = build(small_digits, model="cnn")
    learner.fit(0)
    metrics = learner.evaluate()
    assert set(metrics) == {"loss", "accuracy"}
    assert metrics["loss"] > 0.0
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_evaluate_zero_model_exact() -> None:
    """All-zero logits give loss ln(10) and the share of label 0 as accuracy."""
    data = NodeData(
        np.zeros((2, 64), np.float32),
        np.array([0, 1]),
        np.ones((4, 64), np.float32),
        np.array([0, 0, 1, 2]),
        10,
    )
    learner = build(data, model_args={"hidden": []})
    zeros = {k: np.zeros_like(v) for k, v in learner.get_weights().items()}
    learner.set_weights(ModelWeights(zeros))
    metrics = learner.evaluate()
    assert metrics["loss"] == pytest.approx(2.302585, abs=1e-6)
    assert metrics["accuracy"] == 0.5


def test_evaluate_empty_test_split() -> None:
    """A node without test samples reports zeros instead of failing."""
    data = NodeData(
        np.ones((3, 64), np.float32),
        np.array([0, 1, 2]),
        np.zeros((0, 64), np.float32),
        np.zeros((0,), np.int64),
        10,
    )
    assert build(data).evaluate() == {"loss": 0.0, "accuracy": 0.0}


def test_same_seed_same_initial_weights(small_digits: NodeData) -> None:
    """Two learners with one seed start from bit-identical weights."""
    first = build(small_digits, seed=7, model="cnn").get_weights()
    second = build(small_digits, seed=7, model="cnn").get_weights()
    assert same_weights(first, second)


def test_other_seed_other_initial_weights(small_digits: NodeData) -> None:
    """Another seed gives other initial weights."""
    first = build(small_digits, seed=7).get_weights()
    second = build(small_digits, seed=8).get_weights()
    assert not np.array_equal(
        first["params/hidden0/kernel"], second["params/hidden0/kernel"]
    )


def test_seeded_build_in_threads(small_digits: NodeData) -> None:
    """Four learners built at once in threads match a sequential build."""
    expected = build(small_digits, seed=3).get_weights()
    results: list[ModelWeights] = []
    barrier = threading.Barrier(4)
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait(timeout=10)
        weights = build(small_digits, seed=3).get_weights()
        with lock:
            results.append(weights)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4
    for weights in results:
        assert same_weights(weights, expected)


def test_fits_in_threads_match_sequential(small_digits: NodeData) -> None:
    """Four learners trained at once in threads end as if trained one by one."""
    expected = []
    for seed in range(4):
        learner = build(small_digits, seed=seed, model="cnn")
        learner.fit(0)
        expected.append(learner.get_weights())
    learners = [build(small_digits, seed=seed, model="cnn") for seed in range(4)]
    barrier = threading.Barrier(4)

    def worker(learner: Learner) -> None:
        barrier.wait(timeout=10)
        learner.fit(0)

    threads = [threading.Thread(target=worker, args=(learner,)) for learner in learners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for learner, weights in zip(learners, expected, strict=True):
        assert same_weights(learner.get_weights(), weights)


def test_data_order_depends_on_round(small_digits: NodeData) -> None:
    """The same round trains identically; another round differs."""
    first, second, third = (build(small_digits, seed=4) for _ in range(3))
    first.fit(2)
    second.fit(2)
    third.fit(3)
    assert same_weights(first.get_weights(), second.get_weights())
    assert not same_weights(first.get_weights(), third.get_weights())


def test_user_builder_trains(small_digits: NodeData) -> None:
    """A builder given as module:function is called with its model_args."""
    learner = build(
        small_digits, model="flax_user_models:build_counting", model_args={"width": 4}
    )
    assert learner.get_weights()["params/features/kernel"].shape == (64, 4)
    learner.fit(0)
    assert learner.evaluate()["loss"] > 0.0


def test_from_model_seeds_variables(small_digits: NodeData) -> None:
    """from_model initialises the module from its seed, then trains."""
    first = FlaxLearner.from_model(build_mlp((64,), 10), small_digits, seed=2, epochs=2)
    second = FlaxLearner.from_model(build_mlp((64,), 10), small_digits, seed=2)
    assert first.epochs == 2
    assert same_weights(first.get_weights(), second.get_weights())
    first.fit(0)
    assert not same_weights(first.get_weights(), second.get_weights())


def test_from_model_keeps_variables(small_digits: NodeData) -> None:
    """Variables given to from_model are used as they are."""
    model = build_mlp((64,), 10, hidden=[])
    variables = {
        "params": {
            "output": {
                "kernel": np.ones((64, 10), np.float32),
                "bias": np.zeros(10, np.float32),
            }
        }
    }
    learner = FlaxLearner.from_model(model, small_digits, variables=variables)
    kernel = learner.get_weights()["params/output/kernel"]
    assert np.array_equal(kernel, np.ones((64, 10)))


def test_module_without_train_argument(small_digits: NodeData) -> None:
    """A module whose __call__ takes only x trains and evaluates."""
    learner = build(small_digits, model="flax_user_models:build_plain")
    assert list(learner.get_weights()) == ["params/logits/kernel", "params/logits/bias"]
    learner.fit(0)
    assert learner.evaluate()["accuracy"] > 0.0


def test_dropout_is_seeded(small_digits: NodeData) -> None:
    """Dropout keys come from the seed and round, so repeated fits match."""
    first, second = (
        build(small_digits, seed=6, model_args={"dropout": 0.5}) for _ in range(2)
    )
    first.fit(1)
    second.fit(1)
    assert same_weights(first.get_weights(), second.get_weights())


def test_learners_share_compiled_step(small_digits: NodeData) -> None:
    """Learners with one model and optimizer compile the train step once."""
    smaller = NodeData(
        small_digits.x_train[:193],
        small_digits.y_train[:193],
        small_digits.x_test,
        small_digits.y_test,
        10,
    )
    settings = {"model_args": {"hidden": [24]}, "learning_rate": 0.05}
    first = build(small_digits, seed=1, **settings)
    second = build(smaller, seed=2, **settings)
    first.fit(0)
    compiled = train_step._cache_size()
    second.fit(0)
    first.fit(1)
    second.fit(1)
    assert train_step._cache_size() == compiled


def test_padding_leaves_gradient_exact() -> None:
    """A padded last batch trains like the same samples alone."""
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4])
    alone = NodeData(x[:3], y[:3], x, y, 10)
    learner = build(alone, seed=3, batch_size=3)
    padded = build(alone, seed=3, batch_size=8)
    learner.fit(0)
    padded.fit(0)
    for name, value in learner.get_weights().items():
        np.testing.assert_allclose(padded.get_weights()[name], value, atol=1e-6)


class RecordingCallback(LearnerCallback):
    """Records the weights it receives and adds an ``extra`` array at the end."""

    def __init__(self) -> None:
        self.start: ModelWeights | None = None
        self.end: ModelWeights | None = None

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        self.start = weights

    def on_fit_end(self, learner: Learner, weights: ModelWeights) -> ModelWeights:
        self.end = weights
        shared = weights.copy()
        shared.extra["control"] = np.arange(3, dtype=np.float32)
        return shared


def test_callbacks_wrap_fit(small_digits: NodeData) -> None:
    """Callbacks see the start and trained weights; their extra is shared."""
    callback = RecordingCallback()
    learner = build(small_digits)
    learner.callbacks.append(callback)
    initial = learner.get_weights()
    learner.fit(0)
    assert callback.start is not None
    assert callback.end is not None
    assert same_weights(callback.start, initial)
    assert same_weights(callback.end, learner.get_weights())
    assert learner.get_weights().extra["control"].tolist() == [0.0, 1.0, 2.0]
    learner.set_weights(initial)
    assert learner.get_weights().extra == {}
