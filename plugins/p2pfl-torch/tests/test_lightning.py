"""A real LightningModule, trained without a Trainer; skipped without Lightning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from p2pfl_core.data.dataset import NodeData
from torch import Tensor, nn

from p2pfl_torch import plugin
from p2pfl_torch.learner import TorchLearner

lightning = pytest.importorskip("lightning")


class DigitsModule(lightning.LightningModule):  # type: ignore[misc]
    """Softmax regression on digits, written the Lightning way."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> tuple[list, list]:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.5)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
        return [optimizer], [scheduler]


def test_lightning_module_trains(small_digits: NodeData) -> None:
    """A LightningModule trains through its own methods and is named torch."""
    torch.manual_seed(0)
    module = DigitsModule()
    assert plugin.p2pfl_learner_for_model(module) == "torch"
    learner = TorchLearner.from_model(module, small_digits, epochs=3)
    before = learner.get_weights()
    with pytest.warns(UserWarning, match="self.log"):
        learner.fit(0)
    after = learner.get_weights()
    assert not np.array_equal(before["layer.weight"], after["layer.weight"])
    assert learner.evaluate()["accuracy"] > 0.7
