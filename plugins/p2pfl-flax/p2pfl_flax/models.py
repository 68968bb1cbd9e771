"""Model builders for experiment files: ``mlp`` and ``cnn``.

A builder takes ``(input_shape, num_classes, **model_args)`` and returns a
``flax.linen.Module`` whose ``__call__(x, train)`` maps a batch of samples of
``input_shape`` to class logits. Builders only describe the model: the
learner initialises its variables from the node's seed. Every submodule gets
an explicit name, so the weight names read ``params/hidden0/kernel``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import linen as nn
from p2pfl_core.learning import builder_checks


class MLP(nn.Module):
    """A ReLU multilayer perceptron on flattened inputs.

    Attributes:
        hidden: Width of each hidden layer; empty gives softmax regression.
        num_classes: Number of output logits.
        batch_norm: Add ``BatchNorm`` after each hidden layer.
        dropout: Dropout rate after each hidden activation.
    """

    hidden: tuple[int, ...]
    num_classes: int
    batch_norm: bool = False
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Return the logits of a batch ``x``."""
        x = x.reshape((x.shape[0], -1))
        for index, size in enumerate(self.hidden):
            x = nn.Dense(size, name=f"hidden{index}")(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, name=f"norm{index}")(x)
            x = nn.relu(x)
            if self.dropout > 0.0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="output")(x)


class CNN(nn.Module):
    """A small convolutional network; each block halves the image when it can.

    Attributes:
        image: ``(height, width, channels)`` of one sample after reshaping.
        channels: Output channels of each 3x3 convolution block.
        hidden: Width of the dense layer after the convolutions.
        num_classes: Number of output logits.
        batch_norm: Add ``BatchNorm`` after each convolution.
    """

    image: tuple[int, int, int]
    channels: tuple[int, ...]
    hidden: int
    num_classes: int
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Return the logits of a batch ``x``."""
        height, width, _ = self.image
        x = x.reshape((x.shape[0], *self.image))
        for index, size in enumerate(self.channels):
            x = nn.Conv(size, (3, 3), padding="SAME", name=f"conv{index}")(x)
            if self.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, name=f"norm{index}")(x)
            x = nn.relu(x)
            if height >= 2 and width >= 2:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
                height, width = height // 2, width // 2
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden, name="hidden")(x))
        return nn.Dense(self.num_classes, name="output")(x)


def build_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    hidden: int | Sequence[int] = (64,),
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> MLP:
    """Describe a ReLU multilayer perceptron on flattened inputs.

    Weight names are ``params/hidden0/kernel``, ``params/hidden0/bias``,
    ``params/norm0/*`` and ``batch_stats/norm0/*`` (with ``batch_norm``), ...,
    ``params/output/kernel`` and ``params/output/bias``.

    Args:
        input_shape: Shape of one sample; it is flattened.
        num_classes: Number of output logits.
        hidden: Width of each hidden layer; an int means one layer, and an
            empty sequence gives softmax regression.
        batch_norm: Add ``BatchNorm`` after each hidden layer.
        dropout: Dropout rate after each hidden activation.

    Returns:
        The module, without variables.

    Raises:
        ValueError: A width, the class count or the dropout is out of range.
    """
    del input_shape  # Dense layers infer their input width on initialisation.
    widths = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    builder_checks.check_dropout(dropout)
    return MLP(widths, num_classes, batch_norm=batch_norm, dropout=dropout)


def build_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    channels: int | Sequence[int] = (16, 32),
    hidden: int = 64,
    batch_norm: bool = False,
) -> CNN:
    """Describe a small convolutional network for small images such as digits.

    Each block is a 3x3 convolution with ``SAME`` padding, optional
    ``BatchNorm``, ReLU and a 2x2 max pooling while the image is at least 2
    pixels on each side. A hidden dense layer and the output follow.

    Args:
        input_shape: ``(features,)`` with a square number of features (64
            for digits, read as 8x8x1), ``(height, width)`` or
            ``(height, width, channels)``.
        num_classes: Number of output logits.
        channels: Output channels of each convolution block.
        hidden: Width of the dense layer after the convolutions.
        batch_norm: Add ``BatchNorm`` after each convolution.

    Returns:
        The module, without variables.

    Raises:
        ValueError: The input shape is not an image, or a width is not positive.
    """
    image = image_shape(input_shape)
    widths = builder_checks.positive_widths("channels", channels)
    (hidden_width,) = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    return CNN(image, widths, hidden_width, num_classes, batch_norm=batch_norm)


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``(height, width, channels)`` for a sample of ``input_shape``.

    Flax convolutions take channels last, so a 3-d sample is read as
    ``(height, width, channels)``.

    Raises:
        ValueError: A flat sample whose size is not a square, or more than
            three dimensions.
    """
    return builder_checks.image_shape(input_shape, channels_last=True)
