"""Learner callbacks that take part in every local training step.

FedProx and SCAFFOLD change the local gradient. Before every optimiser step a
learner's training loop calls each such callback for per-layer gradient
terms and adds them to the gradients it computed. The terms are numpy arrays
keyed by layer name, so every framework adapter can apply them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from p2pfl_core.learning.learner import LearnerCallback

if TYPE_CHECKING:
    from p2pfl_core.algorithms.step_terms import StepTerms


class TrainingStepCallback(LearnerCallback):
    """A learner callback that adds terms to the gradient of every step.

    A learner that supports these callbacks does, for each optimiser step
    with the current parameters ``params`` and step size ``learning_rate``:

    1. compute the loss gradients ``grads`` (a dict keyed by layer name);
    2. for each callback, add ``callback.gradient_terms(params,
       learning_rate)[name]`` to ``grads[name]``;
    3. take the step with the summed gradients.

    ``loss_term(params)`` is the matching addition to the reported loss.

    A learner whose step runs on framework tensors calls :meth:`step_terms`
    once per round instead and :meth:`record_steps` after training (see
    :mod:`p2pfl_core.algorithms.step_terms`).
    """

    def gradient_terms(
        self, params: Mapping[str, np.ndarray], learning_rate: float
    ) -> dict[str, np.ndarray]:
        """Return arrays to add to the loss gradient of each layer for one step.

        Called once per optimiser step, before the step. Layers missing from
        the result get no term. The arrays may be shared between calls, so
        treat them as read-only.

        Args:
            params: The current parameters, keyed by layer name.
            learning_rate: The step size of the step about to be taken.
        """
        del params, learning_rate
        return {}

    def loss_term(self, params: Mapping[str, np.ndarray]) -> float:
        """Return the value this callback adds to the training loss."""
        del params
        return 0.0

    def step_terms(self) -> StepTerms | None:
        """Return this round's gradient terms in closed form, or None.

        Called after ``on_fit_start``. Layers missing from the result get no
        term. None, the default, means the terms have no closed form, so only
        learners that call :meth:`gradient_terms` at every step can run the
        callback.
        """
        return None

    def record_steps(self, steps: int, learning_rate: float) -> None:
        """Count ``steps`` steps of size ``learning_rate`` taken with :meth:`step_terms`.

        A learner calls this once after training instead of calling
        :meth:`gradient_terms` at every step.
        """
        del steps, learning_rate


def step_callbacks(callbacks: Iterable[LearnerCallback]) -> list[TrainingStepCallback]:
    """Return the callbacks that take part in every training step."""
    return [c for c in callbacks if isinstance(c, TrainingStepCallback)]


def add_gradient_terms(
    gradients: dict[str, np.ndarray],
    params: Mapping[str, np.ndarray],
    learning_rate: float,
    callbacks: Iterable[TrainingStepCallback],
) -> dict[str, np.ndarray]:
    """Return ``gradients`` with every callback's terms added (a new dict).

    Layers missing from ``gradients`` (not trained by the learner) get no
    term.
    """
    result = dict(gradients)
    for callback in callbacks:
        for name, term in callback.gradient_terms(params, learning_rate).items():
            if name in result:
                result[name] = result[name] + term
    return result
