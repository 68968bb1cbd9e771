"""FedProx and SCAFFOLD terms added to torch gradients before each optimizer step."""

from __future__ import annotations

import numpy as np
import torch
from p2pfl_core.algorithms.step_terms import StepTerms
from torch import Tensor, nn


class TorchStepTerms:
    """One round's step terms as tensors beside the trainable parameters.

    Args:
        terms: The round's terms, from ``begin_fit``.
        parameters: The trainable parameters by ``state_dict`` name.
    """

    def __init__(self, terms: StepTerms, parameters: dict[str, nn.Parameter]) -> None:
        self._entries: list[tuple[nn.Parameter, float, Tensor | None, Tensor | None]]
        self._entries = []
        for name, parameter in parameters.items():
            mu = terms.mu[name]
            anchor = _tensor(terms.anchor[name], parameter) if mu else None
            offset = terms.offset[name]
            offset_tensor = _tensor(offset, parameter) if np.any(offset) else None
            self._entries.append((parameter, mu, anchor, offset_tensor))

    def add_to_gradients(self) -> float:
        """Add ``mu * (w - anchor) + offset`` to every parameter's gradient.

        Call it after ``backward()`` and before ``optimizer.step()``.

        Returns:
            The proximal term ``mu / 2 * ||w - anchor||**2`` of the weights
            before the step, to add to the reported loss.
        """
        proximal: Tensor | float = 0.0
        with torch.no_grad():
            for parameter, mu, anchor, offset in self._entries:
                if anchor is None and offset is None:
                    continue
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
                if anchor is not None:
                    difference = parameter - anchor
                    parameter.grad.add_(difference, alpha=mu)
                    proximal = proximal + mu / 2.0 * torch.sum(difference * difference)
                if offset is not None:
                    parameter.grad.add_(offset)
        return float(proximal)


def _tensor(array: np.ndarray, parameter: nn.Parameter) -> Tensor:
    return torch.as_tensor(array, dtype=parameter.dtype, device=parameter.device)
