"""Algorithms that change local training or what a node shares.

- :mod:`~p2pfl_core.algorithms.fedprox` and :mod:`~p2pfl_core.algorithms.scaffold`:
  learner callbacks (server side of SCAFFOLD: ``aggregators.scaffold``).
- :mod:`~p2pfl_core.algorithms.step_terms`: the same callbacks as per-round
  tensors, for learners whose training step is compiled.
- :mod:`~p2pfl_core.algorithms.attacks`: Byzantine behaviours for experiments
  with malicious nodes.
"""

from p2pfl_core.algorithms.step_callback import (
    TrainingStepCallback,
    add_gradient_terms,
    step_callbacks,
)
from p2pfl_core.algorithms.step_terms import (
    StepTerms,
    begin_fit,
    collect_step_terms,
    end_fit,
    record_steps,
)

__all__ = [
    "StepTerms",
    "TrainingStepCallback",
    "add_gradient_terms",
    "begin_fit",
    "collect_step_terms",
    "end_fit",
    "record_steps",
    "step_callbacks",
]
