"""Entry module of p2pfl-tensorflow: registers the ``tensorflow`` learner.

This module imports only ``p2pfl_core.plugin`` and the standard library, so
listing plugins never imports TensorFlow or Keras.
"""

from __future__ import annotations

import sys
from typing import Any

from p2pfl_core.plugin import LearnerSpec, hookimpl

LEARNER_NAME = "tensorflow"

MODEL_BUILDERS: tuple[tuple[str, str], ...] = (
    ("mlp", "p2pfl_tensorflow.models:build_mlp"),
    ("cnn", "p2pfl_tensorflow.models:build_cnn"),
)
"""Builder names accepted by ``learner.model``, mapped to their functions."""


@hookimpl
def p2pfl_register_learners() -> list[LearnerSpec]:
    """Register the Keras learner on the TensorFlow backend."""
    return [
        LearnerSpec(
            LEARNER_NAME,
            "p2pfl_tensorflow.learner:KerasLearner",
            "Keras 3 model on TensorFlow, trained with SGD or Adam",
            model_builders=MODEL_BUILDERS,
        )
    ]


@hookimpl
def p2pfl_learner_for_model(model: Any) -> str | None:
    """Return ``"tensorflow"`` for a ``keras.Model`` on the TensorFlow backend.

    A Keras model can only exist once Keras is imported, so an unimported
    Keras means the model is not a Keras model. Models of a Keras that runs
    on another backend (JAX, PyTorch) are left to other plugins.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    model_type = getattr(keras, "Model", None)
    if not isinstance(model_type, type) or not isinstance(model, model_type):
        return None
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend) and backend() != "tensorflow":
        return None
    return LEARNER_NAME
