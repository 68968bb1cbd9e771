"""The mlp and cnn builders, and a centralised sanity check on digits."""

from __future__ import annotations

import pytest
import torch
from p2pfl_core.data.dataset import NodeData

from p2pfl_torch.learner import TorchLearner
from p2pfl_torch.models import build_cnn, build_mlp, image_shape


def test_mlp_logits_shape() -> None:
    """An MLP maps a batch of 64 features to 10 logits."""
    model = build_mlp((64,), 10, hidden=[32, 16])
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_cnn_logits_shape() -> None:
    """A CNN reads 64 features as 1x8x8 and maps them to 10 logits."""
    model = build_cnn((64,), 10)
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_cnn_layer_shapes() -> None:
    """Two pooled 3x3 blocks on 8x8 leave 32 channels of 2x2 for the linear layer."""
    shapes = {
        name: tuple(t.shape) for name, t in build_cnn((64,), 10).state_dict().items()
    }
    assert shapes["conv0.weight"] == (16, 1, 3, 3)
    assert shapes["conv1.weight"] == (32, 16, 3, 3)
    assert shapes["hidden.weight"] == (64, 128)
    assert shapes["output.weight"] == (10, 64)


@pytest.mark.parametrize(
    ("input_shape", "expected"),
    [((64,), (1, 8, 8)), ((28, 28), (1, 28, 28)), ((3, 32, 32), (3, 32, 32))],
)
def test_image_shape(input_shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    """Flat square, 2-D and 3-D samples are read as images."""
    assert image_shape(input_shape) == expected


def test_image_shape_rejects_non_square() -> None:
    """A flat sample of 60 features is not an image."""
    with pytest.raises(ValueError, match="60 features"):
        image_shape((60,))


def train_centralised(data: NodeData) -> dict[str, float]:
    learner = TorchLearner.from_settings({"model": "mlp", "epochs": 10}, data, seed=0)
    learner.fit(0)
    return learner.evaluate()


def test_centralised_mlp_accuracy(digits_split: NodeData) -> None:
    """An MLP trained 10 epochs on 80% of digits classifies the rest well."""
    first = train_centralised(digits_split)
    second = train_centralised(digits_split)
    # Measured with torch 2.13.0 CPU: 342 of 359 test digits (0.9526).
    assert first["accuracy"] >= 0.93
    assert first == second
