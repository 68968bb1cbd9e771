"""Model builders for experiment files: ``mlp`` and ``cnn``.

A builder takes ``(input_shape, num_classes, **model_args)`` and returns a
built ``keras.Model`` that maps a batch of samples of ``input_shape`` to class
logits. The learner seeds Keras before calling a builder, so builders use
Keras' default initializers. Every layer gets an explicit name, so the weight
names are the same in every process.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from p2pfl_core.learning import builder_checks


def build_mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    hidden: int | Sequence[int] = (64,),
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> keras.Model:
    """Build a ReLU multilayer perceptron on flattened inputs.

    Weight names are ``hidden0/kernel``, ``hidden0/bias``, ``norm0/*`` (with
    ``batch_norm``), ..., ``output/kernel`` and ``output/bias``.

    Args:
        input_shape: Shape of one sample; it is flattened.
        num_classes: Number of output logits.
        hidden: Width of each hidden layer; an int means one layer, and an
            empty sequence gives softmax regression.
        batch_norm: Add ``BatchNormalization`` after each hidden layer.
        dropout: Dropout rate after each hidden activation.

    Returns:
        The built model, with freshly initialised weights.

    Raises:
        ValueError: A width, the class count or the dropout is out of range.
    """
    widths = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    builder_checks.check_dropout(dropout)
    layers: list[keras.layers.Layer] = [
        keras.Input(tuple(input_shape)),
        keras.layers.Flatten(name="flatten"),
    ]
    for index, size in enumerate(widths):
        layers.append(keras.layers.Dense(size, name=f"hidden{index}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"norm{index}"))
        layers.append(keras.layers.ReLU(name=f"relu{index}"))
        if dropout > 0.0:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout{index}"))
    layers.append(keras.layers.Dense(num_classes, name="output"))
    return keras.Sequential(layers, name="mlp")


def build_cnn(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    channels: int | Sequence[int] = (16, 32),
    hidden: int = 64,
    batch_norm: bool = False,
) -> keras.Model:
    """Build a small convolutional network for small images such as 8x8 digits.

    Each block is a 3x3 convolution with ``same`` padding, optional
    ``BatchNormalization``, ReLU and a 2x2 max pooling while the image is at
    least 2 pixels on each side. A hidden dense layer and the output follow.
    Weight names are ``conv0/kernel``, ..., ``hidden/kernel``, ``output/bias``.

    Args:
        input_shape: ``(features,)`` with a square number of features (64
            for digits, read as 8x8x1), ``(height, width)`` or
            ``(height, width, channels)``.
        num_classes: Number of output logits.
        channels: Output channels of each convolution block.
        hidden: Width of the dense layer after the convolutions.
        batch_norm: Add ``BatchNormalization`` after each convolution.

    Returns:
        The built model, with freshly initialised weights.

    Raises:
        ValueError: The input shape is not an image, or a width is not positive.
    """
    height, width, depth = image_shape(input_shape)
    widths = builder_checks.positive_widths("channels", channels)
    (hidden_width,) = builder_checks.positive_widths("hidden", hidden)
    builder_checks.check_num_classes(num_classes)
    layers: list[keras.layers.Layer] = [
        keras.Input(tuple(input_shape)),
        keras.layers.Reshape((height, width, depth), name="reshape"),
    ]
    for index, size in enumerate(widths):
        layers.append(keras.layers.Conv2D(size, 3, padding="same", name=f"conv{index}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"norm{index}"))
        layers.append(keras.layers.ReLU(name=f"relu{index}"))
        if height >= 2 and width >= 2:
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{index}"))
            height, width = height // 2, width // 2
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(hidden_width, activation="relu", name="hidden"),
        keras.layers.Dense(num_classes, name="output"),
    ]
    return keras.Sequential(layers, name="cnn")


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Return ``(height, width, channels)`` for a sample of ``input_shape``.

    Keras convolutions take channels last, so a 3-d sample is read as
    ``(height, width, channels)``.

    Raises:
        ValueError: A flat sample whose size is not a square, or more than
            three dimensions.
    """
    return builder_checks.image_shape(input_shape, channels_last=True)
