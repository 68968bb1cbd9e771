"""Small components that test plugins point their spec factories at."""

from __future__ import annotations

import numpy as np

from p2pfl_core.compressors.base import Compressor
from p2pfl_core.data.dataset import Dataset
from p2pfl_core.weights import ModelWeights
from p2pfl_core.workflow.stages import RoundFinishedStage


class Float16Compressor(Compressor):
    """Casts float32 layers to float16 and back."""

    name = "float16"

    def encode(self, weights: ModelWeights) -> ModelWeights:
        """Cast float32 layers to float16."""
        layers = {
            name: array.astype(np.float16) if array.dtype == np.float32 else array
            for name, array in weights.layers.items()
        }
        return ModelWeights(layers, weights.num_samples, weights.contributors)

    def decode(self, weights: ModelWeights) -> ModelWeights:
        """Cast float16 layers back to float32."""
        layers = {
            name: array.astype(np.float32) if array.dtype == np.float16 else array
            for name, array in weights.layers.items()
        }
        return ModelWeights(layers, weights.num_samples, weights.contributors)


class QuietRoundFinished(RoundFinishedStage):
    """The default end of round under another name."""

    name = "quiet_round_finished"


def load_counting(size: int = 6) -> Dataset:
    """Return ``size`` samples whose single feature is their index, labels 0 and 1 in turn."""
    x = np.arange(size, dtype=np.float32).reshape(size, 1)
    return Dataset(x, np.arange(size, dtype=np.int64) % 2, 2, "counting")


def halves(labels: np.ndarray, num_nodes: int, *, seed: int) -> list[np.ndarray]:
    """Split the indices into ``num_nodes`` contiguous parts, ignoring the seed."""
    return list(np.array_split(np.arange(len(labels)), num_nodes))


def chain(n: int, *, seed: int = 0) -> list[tuple[int, int]]:
    """Connect node i to node i+1."""
    return [(i, i + 1) for i in range(n - 1)]


def build_small_mlp(
    input_size: int, num_classes: int, *, seed: int, width: int = 8
) -> dict[str, np.ndarray]:
    """Return a numpy MLP with ``width`` hidden units, as a user's own builder."""
    from p2pfl_core.learning.numpy_learner import build_mlp

    return build_mlp(input_size, num_classes, seed=seed, hidden=width)
