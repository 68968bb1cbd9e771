"""The compressor interface and chains of compressors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from p2pfl_core.weights import ModelWeights


class Compressor(ABC):
    """Transforms weights before sending and restores them after receiving.

    A compressor may be lossy (quantisation, top-k); ``decode(encode(w))``
    must return arrays of the original names, shapes and dtypes.
    """

    name = "compressor"

    @abstractmethod
    def encode(self, weights: ModelWeights) -> ModelWeights:
        """Return the weights in their compressed form."""

    @abstractmethod
    def decode(self, weights: ModelWeights) -> ModelWeights:
        """Return the weights restored from their compressed form."""


class CompressorChain:
    """Compressors applied in order on encode and in reverse on decode."""

    def __init__(self, compressors: Sequence[Compressor] = ()) -> None:
        self.compressors = list(compressors)

    def encode(self, weights: ModelWeights) -> ModelWeights:
        """Apply every compressor in order."""
        for compressor in self.compressors:
            weights = compressor.encode(weights)
        return weights

    def decode(self, weights: ModelWeights) -> ModelWeights:
        """Undo every compressor in reverse order."""
        for compressor in reversed(self.compressors):
            weights = compressor.decode(weights)
        return weights
