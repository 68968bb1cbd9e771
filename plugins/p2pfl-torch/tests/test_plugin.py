"""The plugin's entry module: registration and the learner_for_model hook."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
from p2pfl_core.manager import PluginManager
from torch import nn

from p2pfl_torch import plugin
from p2pfl_torch.learner import TorchLearner


def test_learner_for_torch_module() -> None:
    """The hook names torch for an nn.Module."""
    assert plugin.p2pfl_learner_for_model(nn.Linear(2, 3)) == "torch"


def test_learner_for_numpy_array() -> None:
    """The hook passes on a numpy array."""
    assert plugin.p2pfl_learner_for_model(np.zeros(3)) is None


def test_manager_resolves_torch_learner() -> None:
    """An installed p2pfl-torch registers the learner and its model builders."""
    manager = PluginManager(env={})
    spec = manager.get("learner", "torch")
    assert manager.plugins["p2pfl-torch"].status == "active"
    assert manager.load("learner", "torch") is TorchLearner
    assert [name for name, _ in spec.model_builders] == ["mlp", "cnn"]
    assert manager.learner_for_model(nn.Sequential()) == "torch"


def test_plugin_import_skips_torch() -> None:
    """Importing and asking the entry module never imports torch."""
    script = textwrap.dedent(
        """
        import sys
        import p2pfl_torch.plugin as plugin
        assert plugin.p2pfl_learner_for_model(object()) is None
        [spec] = plugin.p2pfl_register_learners()
        assert spec.name == "torch"
        assert "torch" not in sys.modules, "torch was imported"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
