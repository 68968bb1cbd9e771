"""Checks of ``model_args`` that the model builders of every framework share.

The ``mlp`` and ``cnn`` builders of p2pfl-torch, p2pfl-tensorflow and
p2pfl-flax take the same arguments and reject the same values with the same
ValueError, which the learner reports under ``learner.model_args``. This
module imports no ML framework.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["check_dropout", "check_num_classes", "image_shape", "positive_widths"]


def positive_widths(name: str, value: int | Sequence[int]) -> tuple[int, ...]:
    """Return layer widths as a tuple; an int means one layer.

    Args:
        name: The argument's name, for the message.
        value: An integer or a sequence of integers, each >= 1.

    Raises:
        ValueError: A width is not an integer (booleans included) or < 1.
    """
    widths = (value,) if isinstance(value, int) else tuple(value)
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        raise ValueError(
            f"{name} must be an integer or a list of integers, got {value!r}"
        )
    if any(w < 1 for w in widths):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return widths


def check_num_classes(num_classes: int) -> None:
    """Raise ValueError unless ``num_classes`` >= 1."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")


def check_dropout(dropout: float) -> None:
    """Raise ValueError unless the dropout rate is in [0, 1)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def image_shape(
    input_shape: tuple[int, ...], *, channels_last: bool
) -> tuple[int, int, int]:
    """Return the image shape of a sample of ``input_shape``.

    A flat sample of a square number of features is one square channel (64
    features for digits read as 8x8), a 2-d sample is one channel, and a 3-d
    sample is read in the framework's channel order.

    Args:
        input_shape: The shape of one sample.
        channels_last: True gives ``(height, width, channels)`` as Keras and
            Flax take it; False gives ``(channels, height, width)`` as torch
            takes it.

    Raises:
        ValueError: A flat sample whose size is not a square, or more than
            three dimensions.
    """
    order = (
        "(height, width, channels)" if channels_last else "(channels, height, width)"
    )
    shape = tuple(int(size) for size in input_shape)
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side != shape[0] or side == 0:
            raise ValueError(
                f"cnn needs square images, but a sample has {shape[0]} features; "
                f"give the data as (height, width) or {order}"
            )
        shape = (side, side)
    if len(shape) == 2:
        height, width = shape
        return (height, width, 1) if channels_last else (1, height, width)
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise ValueError(
        f"cnn takes samples of 1 to 3 dimensions, got shape {shape}; "
        "use a model builder of your own for other inputs"
    )
