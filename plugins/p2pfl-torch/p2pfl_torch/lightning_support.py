"""Training Lightning-style modules without a Lightning ``Trainer``.

A module counts as Lightning-style when it defines ``training_step`` and
``configure_optimizers``, as every ``lightning.LightningModule`` does. The
learner calls those two methods itself, so Lightning need not be installed
and no Trainer, progress bar or logger runs in the node's thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def is_lightning_style(model: nn.Module) -> bool:
    """Return True when ``model`` has ``training_step`` and ``configure_optimizers``."""
    return callable(getattr(model, "training_step", None)) and callable(
        getattr(model, "configure_optimizers", None)
    )


def configured_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """Call ``model.configure_optimizers()`` and return its (first) optimizer.

    Accepts every return form Lightning documents: an optimizer, a list or
    tuple whose first item is an optimizer or a list of them, or a dict with
    an ``optimizer`` key.

    Note:
        Learning-rate schedulers in the return value are ignored, and with
        several optimizers only the first one steps.

    Raises:
        TypeError: The return value contains no optimizer.
    """
    configured: Any = model.configure_optimizers()  # type: ignore[operator]
    for _ in range(3):
        if isinstance(configured, torch.optim.Optimizer):
            return configured
        if isinstance(configured, Mapping):
            configured = configured.get("optimizer")
        elif isinstance(configured, Sequence) and configured:
            configured = configured[0]
        else:
            break
    raise TypeError(
        f"{type(model).__qualname__}.configure_optimizers() returned no optimizer; "
        "return a torch.optim.Optimizer, a list of them or {'optimizer': ...}"
    )


def training_step_loss(
    model: nn.Module, batch: tuple[Tensor, Tensor], batch_index: int
) -> Tensor | None:
    """Run ``model.training_step`` and return its loss, or None to skip the batch.

    Lightning lets ``training_step`` return the loss tensor, a dict with a
    ``loss`` key, or None to skip the optimizer step.

    Raises:
        TypeError: The return value contains no loss tensor.
    """
    output: Any = model.training_step(batch, batch_index)  # type: ignore[operator]
    if isinstance(output, Mapping):
        output = output.get("loss")
    if output is None or isinstance(output, Tensor):
        return output
    raise TypeError(
        f"{type(model).__qualname__}.training_step() returned "
        f"{type(output).__name__}; return the loss tensor, {{'loss': tensor}} or None"
    )
