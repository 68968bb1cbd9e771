"""Traced training and inference steps of the Keras learner.

Each learner gets its own ``tf.function`` closures, because TensorFlow warns
about excessive retracing when the instances of one method trace in turn.
Every step has an input signature with an unknown batch size, so it traces
once per learner, whatever the batch sizes.

FedProx and SCAFFOLD reach the training step through :class:`KerasStepTerms`:
variables that the learner assigns once per round and the traced step reads,
so a new round changes their values and never retraces the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf
from p2pfl_core.algorithms.step_terms import StepTerms


class KerasStepTerms:
    """Variables that hold one round's step terms for each trainable variable.

    Args:
        variables: The model's trainable variables, in order.
        names: The exchanged name of each variable, as in ``StepTerms``.
    """

    def __init__(self, variables: Sequence[keras.Variable], names: list[str]) -> None:
        self.names = names
        self.mu = [_zeros(variable, ()) for variable in variables]
        self.anchor = [_zeros(variable, variable.shape) for variable in variables]
        self.offset = [_zeros(variable, variable.shape) for variable in variables]

    def assign(self, terms: StepTerms) -> None:
        """Load the round's ``mu``, anchors and offsets into the variables."""
        for index, name in enumerate(self.names):
            self.mu[index].assign(terms.mu[name])
            self.anchor[index].assign(terms.anchor[name])
            self.offset[index].assign(terms.offset[name])

    def apply(
        self, gradients: Sequence[tf.Tensor | None], variables: Sequence[keras.Variable]
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """Return the corrected gradients and the proximal term (traced).

        Each gradient becomes ``g + mu * (w - anchor) + offset``; a variable
        without a loss gradient gets the terms alone.
        """
        corrected: list[tf.Tensor] = []
        proximal = tf.constant(0.0, tf.float32)
        for index, (gradient, variable) in enumerate(
            zip(gradients, variables, strict=True)
        ):
            weight = tf.convert_to_tensor(variable)
            difference = weight - self.anchor[index]
            mu = self.mu[index]
            if gradient is None:
                gradient = tf.zeros_like(weight)
            corrected.append(gradient + mu * difference + self.offset[index])
            squared = tf.reduce_sum(tf.square(difference))
            proximal += tf.cast(mu / 2.0 * squared, tf.float32)
        return corrected, proximal


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    input_shape: tuple[int, ...],
    terms: KerasStepTerms | None = None,
) -> Callable[..., tf.Tensor]:
    """Build the traced training step ``(x, y) -> loss``.

    The loss is the batch's mean sparse cross-entropy, plus the proximal
    term when ``terms`` is given. The optimizer also minimises
    ``model.losses``, which the returned loss leaves out.
    """
    sample = tf.TensorSpec((None, *input_shape), tf.float32)
    labels = tf.TensorSpec((None,), tf.int64)

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
            objective = loss + tf.add_n(model.losses) if model.losses else loss
        gradients = tape.gradient(objective, variables)
        if terms is not None:
            gradients, proximal = terms.apply(gradients, variables)
            loss = tf.cast(loss, tf.float32) + proximal
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    return tf.function(train_step, input_signature=[sample, labels])


def make_predict_logits(
    model: keras.Model, input_shape: tuple[int, ...]
) -> Callable[..., tf.Tensor]:
    """Build the traced inference step ``x -> float32 logits``."""
    sample = tf.TensorSpec((None, *input_shape), tf.float32)

    def predict_logits(x: tf.Tensor) -> tf.Tensor:
        return tf.cast(model(x, training=False), tf.float32)

    return tf.function(predict_logits, input_signature=[sample])


def _zeros(variable: keras.Variable, shape: tuple[int, ...]) -> tf.Variable:
    """Return a non-trainable zero variable of ``shape``, dtype of ``variable``."""
    return tf.Variable(tf.zeros(shape, variable.dtype), trainable=False)
