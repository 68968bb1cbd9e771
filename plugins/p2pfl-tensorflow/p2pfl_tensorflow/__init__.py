"""TensorFlow (Keras 3) learner for p2pfl.

Importing this package does not import TensorFlow; ``p2pfl_tensorflow.learner``
and ``p2pfl_tensorflow.models`` do.
"""

from __future__ import annotations

__version__ = "0.1.0"
