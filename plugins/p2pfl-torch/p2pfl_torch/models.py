"""Model builders for experiment files: ``mlp`` and ``cnn``.

A builder takes ``(input_shape, num_classes, **model_args)`` and returns an
``nn.Module`` that maps a batch of samples of ``input_shape`` to class
logits. The learner seeds torch's generator before calling it, so builders
draw their initial weights from torch's default generator.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from p2pfl_core.learning import builder_checks
from torch import Tensor, nn


class Reshape(nn.Module):
    """Layer that reshapes each sample of a batch to ``shape``.

    Args:
        shape: Shape of one sample after reshaping.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` reshaped to ``(len(x), *shape)``."""
        return x.reshape(len(x), *self.shape)

    def extra_repr(self) -> str:
        """Show the target shape in ``print(model)``."""
        return f"shape={self.shape}"


def build_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    hidden: int | Sequence[int] = (64,),
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """Build a ReLU multilayer perceptron on flattened inputs.

    Layer names in ``state_dict()`` are ``hidden0.weight``, ``norm0.*`` (with
    ``batch_norm``), ..., ``output.weight`` and ``output.bias``.

    Args:
        input_shape: Shape of one sample; it is flattened.
        num_classes: Number of output logits.
        hidden: Width of each hidden layer; an int means one layer, and an
            empty sequence gives softmax regression.
        batch_norm: Add ``BatchNorm1d`` after each hidden layer.
        dropout: Dropout probability after each hidden activation.

    Returns:
        The model, with freshly initialised weights.

    Raises:
        ValueError: A width, the class count or the dropout is out of range.
    """
    widths = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    builder_checks.check_dropout(dropout)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for index, size in enumerate(widths):
        layers[f"hidden{index}"] = nn.Linear(width, size)
        if batch_norm:
            layers[f"norm{index}"] = nn.BatchNorm1d(size)
        layers[f"relu{index}"] = nn.ReLU()
        if dropout > 0.0:
            layers[f"dropout{index}"] = nn.Dropout(dropout)
        width = size
    layers["output"] = nn.Linear(width, num_classes)
    return nn.Sequential(layers)


def build_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    channels: int | Sequence[int] = (16, 32),
    hidden: int = 64,
    batch_norm: bool = False,
) -> nn.Module:
    """Build a small convolutional network for small images such as 8x8 digits.

    Each block is a 3x3 convolution with padding 1, optional ``BatchNorm2d``,
    ReLU and a 2x2 max pooling while the image is at least 2 pixels on each
    side. A hidden linear layer and the output layer follow.

    Args:
        input_shape: ``(features,)`` with a square number of features (64
            for digits, read as 1x8x8), ``(height, width)`` or
            ``(channels, height, width)``.
        num_classes: Number of output logits.
        channels: Output channels of each convolution block.
        hidden: Width of the linear layer after the convolutions.
        batch_norm: Add ``BatchNorm2d`` after each convolution.

    Returns:
        The model, with freshly initialised weights.

    Raises:
        ValueError: The input shape is not an image, or a width is not positive.
    """
    depth, height, width = image_shape(input_shape)
    widths = builder_checks.positive_widths("channels", channels)
    (hidden_width,) = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        reshape=Reshape((depth, height, width))
    )
    for index, size in enumerate(widths):
        layers[f"conv{index}"] = nn.Conv2d(depth, size, kernel_size=3, padding=1)
        if batch_norm:
            layers[f"norm{index}"] = nn.BatchNorm2d(size)
        layers[f"relu{index}"] = nn.ReLU()
        if height >= 2 and width >= 2:
            layers[f"pool{index}"] = nn.MaxPool2d(2)
            height, width = height // 2, width // 2
        depth = size
    layers["flatten"] = nn.Flatten()
    layers["hidden"] = nn.Linear(depth * height * width, hidden_width)
    layers["relu"] = nn.ReLU()
    layers["output"] = nn.Linear(hidden_width, num_classes)
    return nn.Sequential(layers)


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``(channels, height, width)`` for a sample of ``input_shape``.

    Raises:
        ValueError: A flat sample whose size is not a square, or more than
            three dimensions.
    """
    return builder_checks.image_shape(input_shape, channels_last=False)
