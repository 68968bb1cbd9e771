"""Training, seeding, from_model and threads of the tensorflow learner.

The learner contract (test_keras_contract.py) covers training, evaluation,
seeds, weights and algorithm callbacks.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import keras
import numpy as np
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.testing.learner_contract import changed_layers

from p2pfl_tensorflow.learner import KerasLearner


def build(data: NodeData, seed: int = 0, **settings: object) -> KerasLearner:
    return KerasLearner.from_settings(dict(settings), data, seed=seed)


def test_training_learns_digits(small_digits: NodeData) -> None:
    """Five rounds of Adam on 200 digits reach 80% test accuracy."""
    learner = build(small_digits, optimizer="adam", learning_rate=0.01)
    for round in range(5):
        learner.fit(round)
    assert learner.evaluate()["accuracy"] >= 0.8


def test_build_keeps_global_generators(small_digits: NodeData) -> None:
    """Building a learner does not move Python's or numpy's global generator."""
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    build(small_digits, seed=5)
    assert (random.random(), np.random.random()) == expected


def test_from_model_builds_unbuilt_model(small_digits: NodeData) -> None:
    """An unbuilt model gets its weights on a zero batch and then trains."""
    model = keras.Sequential([keras.layers.Dense(10, name="output")], name="plain")
    learner = KerasLearner.from_model(model, small_digits, seed=2, epochs=2)
    before = learner.get_weights()
    assert learner.epochs == 2
    assert list(before) == ["output/kernel", "output/bias"]
    assert before["output/kernel"].shape == (64, 10)
    learner.fit(0)
    assert changed_layers(before, learner.get_weights())


def test_from_model_keeps_weights(small_digits: NodeData) -> None:
    """A built model keeps the weights it was given."""
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(10, name="output")], name="plain"
    )
    model.set_weights([np.ones((64, 10), np.float32), np.zeros(10, np.float32)])
    learner = KerasLearner.from_model(model, small_digits)
    assert np.array_equal(learner.get_weights()["output/kernel"], np.ones((64, 10)))


def test_threads_default_to_one() -> None:
    """The first learner sets both TensorFlow pools to one thread; later ones warn."""
    script = textwrap.dedent(
        """
        import logging
        import numpy as np
        import tensorflow as tf
        from p2pfl_core.data.dataset import NodeData
        from p2pfl_tensorflow.learner import KerasLearner

        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("p2pfl_tensorflow").addHandler(handler)
        data = NodeData(np.zeros((4, 64)), np.zeros(4), np.zeros((2, 64)),
                        np.zeros(2), 10)
        KerasLearner.from_settings({}, data, seed=0)
        KerasLearner.from_settings({"threads": 2}, data, seed=0)
        KerasLearner.from_settings({"threads": 2}, data, seed=0)
        print(tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads(),
              len(records))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1", "1"]
