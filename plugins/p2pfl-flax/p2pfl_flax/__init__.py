"""JAX/Flax learner for p2pfl.

Importing this package does not import JAX or Flax; ``p2pfl_flax.learner``
and ``p2pfl_flax.models`` do.
"""

from __future__ import annotations

__version__ = "0.1.0"
