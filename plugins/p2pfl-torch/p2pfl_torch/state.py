"""Conversion between a module's ``state_dict`` and ``ModelWeights``."""

from __future__ import annotations

import numpy as np
import torch
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.weights import ModelWeights
from torch import Tensor, nn


def weights_from_module(
    model: nn.Module, *, num_samples: int, extra: dict[str, np.ndarray] | None = None
) -> ModelWeights:
    """Copy ``model.state_dict()`` into ``ModelWeights``, buffers included.

    Layer names are the ``state_dict`` keys and dtypes are kept, so integer
    buffers such as BatchNorm's ``num_batches_tracked`` stay int64.

    Raises:
        TypeError: A tensor's dtype, such as bfloat16, has no numpy equivalent.
    """
    layers = {name: _to_numpy(name, t) for name, t in model.state_dict().items()}
    return ModelWeights(layers, num_samples=num_samples, extra=dict(extra or {}))


def load_weights_into(model: nn.Module, weights: ModelWeights) -> None:
    """Copy ``weights`` into the parameters and buffers of ``model``.

    Raises:
        ModelMismatchError: Layer names, shapes or dtypes differ from the
            model's ``state_dict``; the message names each layer, and the
            model is left unchanged.
    """
    state = model.state_dict()
    expected = ModelWeights({name: _placeholder(t) for name, t in state.items()})
    problems = expected.describe_mismatch(weights)
    if problems:
        raise ModelMismatchError(
            f"weights do not fit the {type(model).__name__} model: "
            f"{'; '.join(problems)}; build every node with the same model "
            "and model_args"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            # torch.from_numpy needs a writeable array, and decoded weights
            # may be read-only views of a received buffer.
            source = np.require(weights[name], requirements=["C", "W"])
            tensor.copy_(torch.from_numpy(source))


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """Return the numpy dtype of a torch dtype.

    Raises:
        TypeError: The dtype, such as bfloat16, has no numpy equivalent.
    """
    return torch.empty(0, dtype=dtype).numpy().dtype


def _to_numpy(name: str, tensor: Tensor) -> np.ndarray:
    try:
        return np.array(tensor.detach().cpu().numpy(), copy=True)
    except TypeError as exc:
        raise TypeError(
            f"layer {name!r} has dtype {tensor.dtype}, which numpy does not support; "
            "convert the model to float32 or float16 before training"
        ) from exc


def _placeholder(tensor: Tensor) -> np.ndarray:
    """Return an array with the shape and dtype of ``tensor`` and no storage."""
    return np.broadcast_to(np.empty((), numpy_dtype(tensor.dtype)), tuple(tensor.shape))
