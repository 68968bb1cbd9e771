"""The plugin's entry module: registration and the learner_for_model hook."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
from p2pfl_core.manager import PluginManager

from p2pfl_tensorflow import plugin
from p2pfl_tensorflow.learner import KerasLearner


def test_learner_for_keras_model() -> None:
    """The hook names tensorflow for a keras.Model."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert plugin.p2pfl_learner_for_model(model) == "tensorflow"


def test_learner_for_keras_layer() -> None:
    """The hook passes on a single layer, which is not a model."""
    assert plugin.p2pfl_learner_for_model(keras.layers.Dense(2)) is None


def test_learner_for_numpy_array() -> None:
    """The hook passes on a numpy array."""
    assert plugin.p2pfl_learner_for_model(np.zeros(3)) is None


def test_manager_resolves_tensorflow_learner() -> None:
    """An installed p2pfl-tensorflow registers the learner and its builders."""
    manager = PluginManager(env={})
    spec = manager.get("learner", "tensorflow")
    assert manager.plugins["p2pfl-tensorflow"].status == "active"
    assert manager.load("learner", "tensorflow") is KerasLearner
    assert [name for name, _ in spec.model_builders] == ["mlp", "cnn"]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert manager.learner_for_model(model) == "tensorflow"


def test_plugin_import_skips_tensorflow() -> None:
    """Importing and asking the entry module never imports TensorFlow or Keras."""
    script = textwrap.dedent(
        """
        import sys
        import p2pfl_tensorflow
        import p2pfl_tensorflow.plugin as plugin
        assert plugin.p2pfl_learner_for_model(object()) is None
        [spec] = plugin.p2pfl_register_learners()
        assert spec.name == "tensorflow"
        loaded = sorted(
            name for name in ("tensorflow", "keras") if name in sys.modules
        )
        assert not loaded, f"imported {loaded}"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
