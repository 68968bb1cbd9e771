"""Entry module of p2pfl-torch: registers the ``torch`` learner and its models.

This module imports only ``p2pfl_core.plugin`` and the standard library, so
listing plugins never imports torch.
"""

from __future__ import annotations

import sys
from typing import Any

from p2pfl_core.plugin import LearnerSpec, hookimpl

LEARNER_NAME = "torch"

MODEL_BUILDERS: tuple[tuple[str, str], ...] = (
    ("mlp", "p2pfl_torch.models:build_mlp"),
    ("cnn", "p2pfl_torch.models:build_cnn"),
)
"""Builder names accepted by ``learner.model``, mapped to their functions."""


@hookimpl
def p2pfl_register_learners() -> list[LearnerSpec]:
    """Register the PyTorch learner."""
    return [
        LearnerSpec(
            LEARNER_NAME,
            "p2pfl_torch.learner:TorchLearner",
            "PyTorch nn.Module or Lightning module, trained with SGD or Adam",
            model_builders=MODEL_BUILDERS,
        )
    ]


@hookimpl
def p2pfl_learner_for_model(model: Any) -> str | None:
    """Return ``"torch"`` for a ``torch.nn.Module``, Lightning modules included.

    A model object of torch can only exist once torch is imported, so an
    unimported torch means the model is not a torch model.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    module_type = getattr(getattr(torch, "nn", None), "Module", None)
    if isinstance(module_type, type) and isinstance(model, module_type):
        return LEARNER_NAME
    return None
