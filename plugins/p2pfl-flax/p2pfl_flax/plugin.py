"""Entry module of p2pfl-flax: registers the ``flax`` learner and its models.

This module imports only ``p2pfl_core.plugin`` and the standard library, so
listing plugins never imports JAX or Flax.
"""

from __future__ import annotations

import sys
from typing import Any

from p2pfl_core.plugin import LearnerSpec, hookimpl

LEARNER_NAME = "flax"

MODEL_BUILDERS: tuple[tuple[str, str], ...] = (
    ("mlp", "p2pfl_flax.models:build_mlp"),
    ("cnn", "p2pfl_flax.models:build_cnn"),
)
"""Builder names accepted by ``learner.model``, mapped to their functions."""


@hookimpl
def p2pfl_register_learners() -> list[LearnerSpec]:
    """Register the Flax learner."""
    return [
        LearnerSpec(
            LEARNER_NAME,
            "p2pfl_flax.learner:FlaxLearner",
            "flax.linen module on JAX, trained with optax SGD or Adam",
            model_builders=MODEL_BUILDERS,
        )
    ]


@hookimpl
def p2pfl_learner_for_model(model: Any) -> str | None:
    """Return ``"flax"`` for a ``flax.linen.Module``.

    A Flax module can only exist once ``flax.linen`` is imported, so an
    unimported ``flax.linen`` means the model is not a Flax module. Modules of
    the ``flax.nnx`` API are not supported and get None.
    """
    linen = sys.modules.get("flax.linen")
    if linen is None:
        return None
    module_type = getattr(linen, "Module", None)
    if isinstance(module_type, type) and isinstance(model, module_type):
        return LEARNER_NAME
    return None
