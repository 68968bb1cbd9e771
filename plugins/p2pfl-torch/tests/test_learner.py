"""Seeding, batching, threads and Lightning-style modules of the torch learner.

The learner contract (test_contract.py) covers training, evaluation, seeds,
weights and algorithm callbacks.
"""

from __future__ import annotations

import threading
import time

import torch
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.testing.learner_contract import changed_layers, digits_node_data
from torch import Tensor, nn

from p2pfl_torch.learner import TorchLearner
from p2pfl_torch.seeding import build_seeded_model


def build(data: NodeData, seed: int = 0, **settings: object) -> TorchLearner:
    return TorchLearner.from_settings(dict(settings), data, seed=seed)


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


def test_one_sample_batch_joins_previous() -> None:
    """193 samples in batches of 32 make six steps, none of one sample."""
    learner = build(digits_node_data(train=193), model_args={"batch_norm": True})
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
    assert changed_layers(before, learner.get_weights())
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
