"""FedProx and SCAFFOLD as per-round constants for compiled training steps.

The numpy learner calls every :class:`TrainingStepCallback` for gradient
terms before each step (:func:`add_gradient_terms`). A learner whose training step
is compiled (``tf.function``, ``jax.jit``) or runs on framework tensors
cannot call numpy code inside the step. The terms of FedProx and SCAFFOLD
have a form that stays fixed for a whole round, for each trained layer ``w``::

    gradient += mu * (w - anchor) + offset
    loss     += mu / 2 * ||w - anchor||**2

So such a learner calls :func:`begin_fit` once per round, passes ``mu``,
``anchor`` and ``offset`` into its step as tensors of a fixed structure, and
calls :func:`end_fit` with the number of steps it took, which SCAFFOLD needs
for its control update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from p2pfl_core.algorithms.step_callback import step_callbacks

if TYPE_CHECKING:
    from p2pfl_core.learning.learner import Learner, LearnerCallback


@dataclass(frozen=True)
class StepTerms:
    """The gradient terms of one round, in closed form, keyed by layer name.

    A callback's :meth:`~TrainingStepCallback.step_terms` fills only the
    layers it changes. :func:`collect_step_terms` returns an entry for every
    trained layer, with ``mu`` 0, a zero anchor and a zero offset where no
    callback adds a term.

    Attributes:
        mu: Weight of the proximal term ``mu / 2 * ||w - anchor||**2``.
        anchor: Centre of the proximal term (FedProx: the round-start weights).
        offset: Constant added to the gradient (SCAFFOLD: ``c - c_i``).
    """

    mu: dict[str, float]
    anchor: dict[str, np.ndarray]
    offset: dict[str, np.ndarray]

    @property
    def proximal(self) -> bool:
        """Whether any layer has a proximal term (``mu`` > 0)."""
        return any(value > 0.0 for value in self.mu.values())


def collect_step_terms(
    callbacks: Iterable[LearnerCallback], layers: Mapping[str, np.ndarray]
) -> StepTerms | None:
    """Sum the step terms of the callbacks for the trained ``layers``.

    Call it after every callback's ``on_fit_start``.

    Args:
        callbacks: The learner's callbacks; only training-step callbacks count.
        layers: The trained layers (trainable parameters only), whose names,
            shapes and dtypes the terms take.

    Returns:
        The terms for every layer of ``layers``, cast to each layer's dtype,
        or None when no callback takes part in training steps.

    Raises:
        TypeError: A training-step callback has no closed form
            (``step_terms`` returns None), or two callbacks add a proximal
            term to the same layer.
    """
    steppers = step_callbacks(callbacks)
    if not steppers:
        return None
    mu = {name: 0.0 for name in layers}
    anchor = {name: np.zeros_like(value) for name, value in layers.items()}
    offset = {name: np.zeros_like(value) for name, value in layers.items()}
    for callback in steppers:
        terms = callback.step_terms()
        if terms is None:
            raise TypeError(
                f"{type(callback).__name__} gives no step_terms(), so this learner "
                "cannot apply it inside its training step; implement step_terms() "
                "or use a learner that calls gradient_terms(), such as numpy"
            )
        for name, weight in terms.mu.items():
            if name not in layers or weight == 0.0:
                continue
            if mu[name] != 0.0:
                raise TypeError(
                    f"two callbacks add a proximal term to layer {name!r}; "
                    "use one proximal algorithm per learner"
                )
            mu[name] = float(weight)
            anchor[name] = np.asarray(terms.anchor[name], layers[name].dtype)
        for name, value in terms.offset.items():
            if name in layers:
                offset[name] = (offset[name] + value).astype(layers[name].dtype)
    return StepTerms(mu, anchor, offset)


def record_steps(
    callbacks: Iterable[LearnerCallback], steps: int, learning_rate: float
) -> None:
    """Tell every training-step callback that ``steps`` steps of ``learning_rate`` ran."""
    for callback in step_callbacks(callbacks):
        callback.record_steps(steps, learning_rate)


def begin_fit(learner: Learner, trained: Iterable[str]) -> StepTerms | None:
    """Run every callback's ``on_fit_start`` and collect the round's step terms.

    Args:
        learner: The learner about to train; its ``get_weights()`` (with
            ``extra``) is what the callbacks see.
        trained: Names of the trainable layers; statistics buffers and
            counters are left out, so they get no term.

    Returns:
        The terms of :func:`collect_step_terms`, or None when the learner
        has no training-step callback. Without callbacks nothing is copied.
    """
    if not learner.callbacks:
        return None
    start = learner.get_weights()
    for callback in learner.callbacks:
        callback.on_fit_start(learner, start)
    layers = {name: start[name] for name in trained}
    return collect_step_terms(learner.callbacks, layers)


def momentum_step_size(learning_rate: float, momentum: float, steps: int) -> float:
    """Return the mean step size of ``steps`` SGD steps with heavy-ball momentum.

    Starting from an empty momentum buffer, step ``k`` (from 1) moves
    ``learning_rate * (1 - momentum**k) / (1 - momentum)`` times a constant
    gradient. SCAFFOLD divides the distance travelled by the sum of the step
    sizes, so this mean makes its control update exact for a constant
    gradient. Without momentum it is ``learning_rate``.

    Args:
        learning_rate: SGD's learning rate.
        momentum: The momentum factor in [0, 1).
        steps: Steps taken since the buffer was empty, >= 1.
    """
    if momentum == 0.0 or steps < 1:
        return learning_rate
    # Sum over k of (1 - m**k) / (1 - m), in closed form.
    geometric = momentum * (1.0 - momentum**steps) / (1.0 - momentum)
    return learning_rate * (steps - geometric) / ((1.0 - momentum) * steps)


def end_fit(learner: Learner, steps: int, learning_rate: float) -> None:
    """Count the steps, then pass the trained weights through ``on_fit_end``.

    When a callback returns other weights, they are loaded with
    ``learner.set_weights``, which keeps their ``extra`` arrays (such as
    SCAFFOLD's control variates) for the next ``get_weights``.

    Args:
        learner: The learner that trained.
        steps: Optimizer steps taken in this round.
        learning_rate: The mean step size of those steps; with momentum,
            see :func:`momentum_step_size`.
    """
    if not learner.callbacks:
        return
    record_steps(learner.callbacks, steps, learning_rate)
    trained = learner.get_weights()
    shared = trained
    for callback in learner.callbacks:
        shared = callback.on_fit_end(learner, shared)
    if shared is not trained:
        learner.set_weights(shared)
