"""FedProx and SCAFFOLD in the tensorflow learner, beyond the learner contract."""

from __future__ import annotations

from p2pfl_core.data.dataset import NodeData

from p2pfl_tensorflow.learner import KerasLearner


def test_terms_step_traces_once(small_digits: NodeData) -> None:
    """Three FedProx rounds, with new weights each, trace the training step once."""
    learner = KerasLearner.from_settings(
        {"algorithm": {"name": "fedprox", "mu": 0.01}}, small_digits, seed=0
    )
    other = KerasLearner.from_settings({}, small_digits, seed=1)
    for round in range(3):
        learner.set_weights(other.get_weights())
        learner.fit(round)
        other.fit(round)
    step = learner._train_step_with_terms
    assert step is not None
    assert step.experimental_get_tracing_count() == 1
