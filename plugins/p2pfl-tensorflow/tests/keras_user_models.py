"""A model builder of a user's own, given to the learner as ``module:function``."""

from __future__ import annotations

import keras


class StepCounter(keras.layers.Layer):
    """Passes its input through and counts training calls in an int64 weight."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.steps = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="steps"
        )

    def call(self, x: object, training: bool = False) -> object:
        if training:
            self.steps.assign_add(1)
        return x


def build_counting(
    input_shape: tuple[int, ...], num_classes: int, *, width: int = 8
) -> keras.Model:
    """Build a functional model: dense, step counter, output."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(width, activation="relu", name="features")(inputs)
    x = StepCounter(name="counter")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="counting")


def build_unnamed(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Build a Sequential model whose layers get Keras' automatic names."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Dense(8),
            keras.layers.Dense(num_classes),
        ]
    )
