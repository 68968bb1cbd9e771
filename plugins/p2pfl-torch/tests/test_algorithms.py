"""FedProx and SCAFFOLD in the torch learner, beyond the learner contract."""

from __future__ import annotations

import pytest
from p2pfl_core.algorithms.scaffold import ScaffoldCallback
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.testing.learner_contract_algorithms import OffsetEveryLayer

from p2pfl_torch.learner import TorchLearner


def test_frozen_parameter_gets_no_terms(small_digits: NodeData) -> None:
    """A parameter with requires_grad False stays as it is under SCAFFOLD terms."""
    learner = TorchLearner.from_settings({}, small_digits, seed=0)
    learner.model.get_submodule("hidden0").weight.requires_grad_(False)
    learner.callbacks = [OffsetEveryLayer()]
    before = learner.get_weights()
    learner.fit(0)
    after = learner.get_weights()
    assert after["hidden0.weight"].tobytes() == before["hidden0.weight"].tobytes()
    assert after["hidden0.bias"].tobytes() != before["hidden0.bias"].tobytes()


def test_scaffold_counts_adam_steps(small_digits: NodeData) -> None:
    """Adam's steps count as plain steps of its learning rate: 7 of 0.001."""
    settings = {"optimizer": "adam", "algorithm": "scaffold"}
    learner = TorchLearner.from_settings(settings, small_digits, seed=0)
    [callback] = learner.callbacks
    assert isinstance(callback, ScaffoldCallback)
    learner.fit(0)
    # 200 samples in batches of 32: six full batches and one of 8.
    assert callback.step_size_sum == pytest.approx(0.007, abs=1e-12)
