"""Algorithms that change local training or what a node shares.

- :mod:`~p2pfl_core.algorithms.fedprox` and :mod:`~p2pfl_core.algorithms.scaffold`:
  learner callbacks (server side of SCAFFOLD: ``aggregators.scaffold``).
- :mod:`~p2pfl_core.algorithms.attacks`: Byzantine behaviours for experiments
  with malicious nodes.
"""

from p2pfl_core.algorithms.step_callback import (
    TrainingStepCallback,
    add_gradient_terms,
    step_callbacks,
)

__all__ = ["TrainingStepCallback", "add_gradient_terms", "step_callbacks"]
