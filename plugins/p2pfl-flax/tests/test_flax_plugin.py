"""The plugin's entry module: registration and the learner_for_model hook."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
from flax import linen as nn
from p2pfl_core.manager import PluginManager

from p2pfl_flax import plugin
from p2pfl_flax.learner import FlaxLearner
from p2pfl_flax.models import build_mlp


def test_learner_for_linen_module() -> None:
    """The hook names flax for a flax.linen module."""
    assert plugin.p2pfl_learner_for_model(nn.Dense(3)) == "flax"


def test_learner_for_numpy_array() -> None:
    """The hook passes on a numpy array."""
    assert plugin.p2pfl_learner_for_model(np.zeros(3)) is None


def test_manager_resolves_flax_learner() -> None:
    """An installed p2pfl-flax registers the learner and its model builders."""
    manager = PluginManager(env={})
    spec = manager.get("learner", "flax")
    assert manager.plugins["p2pfl-flax"].status == "active"
    assert manager.load("learner", "flax") is FlaxLearner
    assert [name for name, _ in spec.model_builders] == ["mlp", "cnn"]
    assert manager.learner_for_model(build_mlp((64,), 10)) == "flax"


def test_plugin_import_skips_jax() -> None:
    """Importing and asking the entry module never imports JAX, Flax or optax."""
    script = textwrap.dedent(
        """
        import sys
        import p2pfl_flax
        import p2pfl_flax.plugin as plugin
        assert plugin.p2pfl_learner_for_model(object()) is None
        [spec] = plugin.p2pfl_register_learners()
        assert spec.name == "flax"
        loaded = sorted(
            name for name in ("jax", "flax", "optax") if name in sys.modules
        )
        assert not loaded, f"imported {loaded}"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
