"""A model builder of a user's own, given to the learner as ``module:function``."""

from __future__ import annotations

import math

from torch import nn


def build_tanh(
    input_shape: tuple[int, ...], num_classes: int, *, width: int = 8
) -> nn.Module:
    """Build a tanh network with one hidden layer of ``width`` units."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), width),
        nn.Tanh(),
        nn.Linear(width, num_classes),
    )
