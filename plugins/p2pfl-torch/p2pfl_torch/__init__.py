"""PyTorch learner for p2pfl.

Importing this package does not import torch; ``p2pfl_torch.learner`` and
``p2pfl_torch.models`` do.
"""

from __future__ import annotations

__version__ = "0.1.0"
