"""SCAFFOLD on the learner side: corrected local steps and control updates.

Karimireddy, Kale, Mohri, Reddi, Stich and Suresh, "SCAFFOLD: Stochastic
Controlled Averaging for Federated Learning", ICML 2020,
https://arxiv.org/abs/1910.06378.

Each local step is ``y = y - lr * (g - c_i + c)``, with ``c`` the global
control variate and ``c_i`` the node's own. After training, the node's
control becomes ``c_i+ = c_i - c + (x - y) / (K * lr)`` (option II of the
paper, with ``x`` the round-start model and ``K`` the number of steps) and
the node shares ``delta_c_i = c_i+ - c_i`` in its model's ``extra``. The
server side is :class:`p2pfl_core.aggregators.scaffold.Scaffold`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from p2pfl_core.aggregators._utils import (
    DEFAULT_STATISTICS_SUFFIXES,
    is_statistics_buffer,
)
from p2pfl_core.aggregators.scaffold import (
    CONTROL_PREFIX,
    DELTA_CONTROL_PREFIX,
    read_prefixed,
    with_prefix,
)
from p2pfl_core.algorithms.step_callback import TrainingStepCallback
from p2pfl_core.algorithms.step_terms import StepTerms
from p2pfl_core.weights import ModelWeights

if TYPE_CHECKING:
    from p2pfl_core.learning.learner import Learner

logger = logging.getLogger(__name__)


def scaffold_correction(
    global_control: Mapping[str, np.ndarray], local_control: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Return ``c - c_i`` per layer, the term added to every local gradient."""
    return {name: global_control[name] - local_control[name] for name in global_control}


def scaffold_control_update(
    local_control: Mapping[str, np.ndarray],
    global_control: Mapping[str, np.ndarray],
    start: Mapping[str, np.ndarray],
    end: Mapping[str, np.ndarray],
    step_size_sum: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Compute the node's new control variate and its change.

    Args:
        local_control: ``c_i`` before training.
        global_control: ``c`` used during training.
        start: The round-start model ``x``.
        end: The trained model ``y``.
        step_size_sum: The sum of the step sizes taken, ``K * lr`` for a
            constant step size; must be > 0.

    Returns:
        ``c_i+ = c_i - c + (x - y) / step_size_sum`` and
        ``delta_c_i = c_i+ - c_i``, per layer of ``local_control``.
    """
    new_control: dict[str, np.ndarray] = {}
    delta: dict[str, np.ndarray] = {}
    for name, old in local_control.items():
        drift = (np.asarray(start[name], np.float64) - end[name]) / step_size_sum
        new_control[name] = old - global_control[name] + drift
        delta[name] = new_control[name] - old
    return new_control, delta


class ScaffoldCallback(TrainingStepCallback):
    """Corrects every local step and shares SCAFFOLD's control delta.

    The callback keeps the node's control variate ``c_i`` between rounds. It
    reads ``c`` from the round-start weights' ``extra`` (zero before the
    first aggregate) and adds ``scaffold/control/<layer>`` (the ``c`` it used)
    and ``scaffold/delta_control/<layer>`` to the shared weights' ``extra``.
    Normalisation statistics and integer layers get no control variate.

    Note:
        The control update assumes plain SGD steps; with momentum or an
        adaptive local optimiser it is an approximation. A learner that
        reports its steps with :meth:`record_steps` can pass the mean step
        size of SGD with momentum
        (:func:`~p2pfl_core.algorithms.step_terms.momentum_step_size`).

    Args:
        statistics_buffers: More layer-name endings of normalisation
            statistics, besides the defaults of the aggregators.
    """

    name = "scaffold"

    def __init__(self, *, statistics_buffers: tuple[str, ...] = ()) -> None:
        self.statistics_buffers = DEFAULT_STATISTICS_SUFFIXES + tuple(
            statistics_buffers
        )
        self.local_control: dict[str, np.ndarray] = {}
        self.global_control: dict[str, np.ndarray] = {}
        self.start: dict[str, np.ndarray] = {}
        self.correction: dict[str, np.ndarray] = {}
        self.step_size_sum = 0.0

    def on_fit_start(self, learner: Learner, weights: ModelWeights) -> None:
        """Read ``c``, remember ``x`` and prepare the step correction ``c - c_i``."""
        self.start = {
            name: np.array(value, dtype=np.float64)
            for name, value in weights.layers.items()
            if not is_statistics_buffer(name, value, self.statistics_buffers)
        }
        received = read_prefixed(weights.extra, CONTROL_PREFIX)
        self.global_control = {}
        for name, value in self.start.items():
            control = received.get(name)
            if control is None or control.shape != value.shape:
                control = np.zeros_like(value)
            self.global_control[name] = np.asarray(control, np.float64)
        if not self._matches(self.local_control):
            if self.local_control:
                logger.warning(
                    "SCAFFOLD local control reset: the model's layers changed"
                )
            self.local_control = {n: np.zeros_like(v) for n, v in self.start.items()}
        correction = scaffold_correction(self.global_control, self.local_control)
        self.correction = {
            name: value.astype(weights.layers[name].dtype)
            for name, value in correction.items()
        }
        self.step_size_sum = 0.0

    def gradient_terms(
        self, params: Mapping[str, np.ndarray], learning_rate: float
    ) -> dict[str, np.ndarray]:
        """Count the step and return ``c - c_i`` for every trained layer."""
        del params
        self.step_size_sum += learning_rate
        return self.correction

    def step_terms(self) -> StepTerms:
        """Return the correction ``c - c_i`` as the offset of every trained layer."""
        return StepTerms({}, {}, dict(self.correction))

    def record_steps(self, steps: int, learning_rate: float) -> None:
        """Count ``steps`` steps of size ``learning_rate`` for the control update."""
        self.step_size_sum += steps * learning_rate

    def on_fit_end(self, learner: Learner, weights: ModelWeights) -> ModelWeights:
        """Update ``c_i`` and return the weights with ``c`` and ``delta_c_i`` in ``extra``.

        Without any step (no training data) ``c_i`` stays and the delta is 0.
        """
        if self.step_size_sum > 0:
            self.local_control, delta = scaffold_control_update(
                self.local_control,
                self.global_control,
                self.start,
                weights.layers,
                self.step_size_sum,
            )
        else:
            delta = {
                name: np.zeros_like(value) for name, value in self.local_control.items()
            }
        extra = {
            key: value
            for key, value in weights.extra.items()
            if not key.startswith((CONTROL_PREFIX, DELTA_CONTROL_PREFIX))
        }
        extra.update(
            with_prefix(self._cast(self.global_control, weights), CONTROL_PREFIX)
        )
        extra.update(with_prefix(self._cast(delta, weights), DELTA_CONTROL_PREFIX))
        return ModelWeights(
            dict(weights.layers),
            num_samples=weights.num_samples,
            contributors=weights.contributors,
            extra=extra,
        )

    def _matches(self, control: Mapping[str, np.ndarray]) -> bool:
        return control.keys() == self.start.keys() and all(
            control[name].shape == value.shape for name, value in self.start.items()
        )

    @staticmethod
    def _cast(
        arrays: Mapping[str, np.ndarray], weights: ModelWeights
    ) -> dict[str, np.ndarray]:
        return {
            name: value.astype(weights.layers[name].dtype)
            for name, value in arrays.items()
        }
