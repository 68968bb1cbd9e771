"""Training, evaluation, seeding and callbacks of the torch learner."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights
from torch import Tensor, nn

from p2pfl_torch.learner import TorchLearner
from p2pfl_torch.seeding import build_seeded_model


def build(data: NodeData, seed: int = 0, **settings: object) -> TorchLearner:
    return TorchLearner.from_settings(dict(settings), data, seed=seed)


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


def test_evaluate_returns_loss_and_accuracy(small_digits: NodeData) -> None:
    """Evaluation reports a positive loss and an accuracy in [0, 1]."""
    learner = build(small_digits)
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
    assert not np.array_equal(first["hidden0.weight"], second["hidden0.weight"])


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
        thread.join(timeout=30)
    assert len(results) == 4
    for weights in results:
        assert same_weights(weights, expected)


def interleaving_builder() -> nn.Module:
    layers = []
    for _ in range(20):
        layers.append(nn.Linear(8, 8))
        time.sleep(0)  # let another thread run between two weight draws
    return nn.Sequential(*layers)


def test_seeded_build_interleaved() -> None:
    """Builders that switch threads mid-build still get their own seed."""
    expected = [
        list(build_seeded_model(interleaving_builder, seed).state_dict().values())
        for seed in range(4)
    ]
    results: dict[int, list[torch.Tensor]] = {}
    barrier = threading.Barrier(4)

    def worker(seed: int) -> None:
        barrier.wait(timeout=10)
        model = build_seeded_model(interleaving_builder, seed)
        results[seed] = list(model.state_dict().values())

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 1, 2, 3]
    for seed in range(4):
        assert all(
            torch.equal(a, b)
            for a, b in zip(results[seed], expected[seed], strict=True)
        ), seed


def test_build_keeps_global_generator(small_digits: NodeData) -> None:
    """Building a learner does not move torch's default generator."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build(small_digits, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_data_order_depends_on_round(small_digits: NodeData) -> None:
    """The same round trains identically; another round differs."""
    first, second, third = (build(small_digits, seed=4) for _ in range(3))
    first.fit(2)
    second.fit(2)
    third.fit(3)
    assert same_weights(first.get_weights(), second.get_weights())
    assert not same_weights(first.get_weights(), third.get_weights())


def test_one_sample_batch_joins_previous(digits_split: NodeData) -> None:
    """193 samples in batches of 32 make six steps, none of one sample."""
    data = NodeData(
        digits_split.x_train[:193],
        digits_split.y_train[:193],
        digits_split.x_test,
        digits_split.y_test,
        10,
    )
    learner = build(data, model_args={"batch_norm": True})
    learner.fit(0)
    steps = learner.get_weights()["norm0.num_batches_tracked"]
    assert int(steps) == 6


def test_threads_default_to_one(small_digits: NodeData) -> None:
    """By default a learner sets torch to one intra-op thread."""
    torch.set_num_threads(2)
    build(small_digits)
    assert torch.get_num_threads() == 1


def test_threads_setting_overrides(small_digits: NodeData) -> None:
    """threads: null leaves torch's setting alone, threads: 2 sets it."""
    torch.set_num_threads(2)
    build(small_digits, threads=None)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    build(small_digits, threads=2)
    assert torch.get_num_threads() == 2


class RecordingCallback(LearnerCallback):
    """Records the weights passed to each hook and adds an ``extra`` array."""

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


class LightningStyle(nn.Module):
    """A module with Lightning's two training methods, without Lightning."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(64, 10)
        self.optimizers_made = 0
        self.steps = 0

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict:
        self.steps += 1
        x, y = batch
        return {"loss": nn.functional.cross_entropy(self(x), y)}

    def configure_optimizers(self) -> dict:
        self.optimizers_made += 1
        return {"optimizer": torch.optim.Adam(self.parameters(), lr=0.01)}


def test_lightning_style_module_trains(small_digits: NodeData) -> None:
    """training_step and configure_optimizers drive fit; from_model copies."""
    torch.manual_seed(0)
    model = LightningStyle()
    learner = TorchLearner.from_model(model, small_digits, batch_size=50, epochs=2)
    before = learner.get_weights()
    learner.fit(0)
    learner.fit(1)
    trained = learner.model
    assert isinstance(trained, LightningStyle)
    assert trained.optimizers_made == 2
    # 200 samples in batches of 50, 2 epochs, 2 rounds.
    assert trained.steps == 16
    assert model.steps == 0
    assert not same_weights(before, learner.get_weights())
    assert learner.evaluate()["accuracy"] > 0.5


def test_from_model_custom_optimizer(small_digits: NodeData) -> None:
    """An optimizer given to from_model wins over configure_optimizers."""
    learner = TorchLearner.from_model(
        LightningStyle(), small_digits, optimizer="sgd", learning_rate=0.05
    )
    learner.fit(0)
    assert isinstance(learner.model, LightningStyle)
    assert learner.model.optimizers_made == 0
    assert learner.model.steps == 0
