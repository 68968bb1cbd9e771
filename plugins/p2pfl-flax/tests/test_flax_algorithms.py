"""FedProx and SCAFFOLD in the flax learner, beyond the learner contract."""

from __future__ import annotations

from p2pfl_core.data.dataset import NodeData

from p2pfl_flax.learner import FlaxLearner
from p2pfl_flax.steps import train_step


def test_terms_step_compiles_once(small_digits: NodeData) -> None:
    """FedProx rounds with new weights each reuse the step compiled in round 0."""
    settings = {
        "model_args": {"hidden": [20]},
        "algorithm": {"name": "fedprox", "mu": 0.01},
    }
    learner = FlaxLearner.from_settings(settings, small_digits, seed=0)
    plain = {"model_args": {"hidden": [20]}}
    other = FlaxLearner.from_settings(plain, small_digits, seed=1)
    other.fit(0)
    learner.fit(0)
    compiled = train_step._cache_size()
    for round in range(1, 3):
        other.fit(round)
        learner.set_weights(other.get_weights())
        learner.fit(round)
    assert train_step._cache_size() == compiled
