"""Model builders of a user's own, given to the learner as ``module:function``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn


class CountingModel(nn.Module):
    """A dense layer that counts its training calls in an int32 variable."""

    width: int
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        steps = self.variable("counters", "steps", lambda: jnp.zeros((), jnp.int32))
        if train:
            steps.value += 1
        x = nn.relu(nn.Dense(self.width, name="features")(x))
        return nn.Dense(self.num_classes, name="logits")(x)


class NoTrainArgument(nn.Module):
    """Softmax regression whose ``__call__`` takes no ``train`` argument."""

    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(self.num_classes, name="logits")(x)


def build_counting(
    input_shape: tuple[int, ...], num_classes: int, *, width: int = 8
) -> nn.Module:
    """Describe the counting model."""
    return CountingModel(width, num_classes)


def build_plain(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Describe softmax regression without a ``train`` argument."""
    return NoTrainArgument(num_classes)
