"""The contract every compressor keeps, as a test class to subclass.

Example::

    class TestQuantize(CompressorContract):
        tolerance = 0.05

        def make_compressor(self) -> Quantize:
            return Quantize(bits=8)
"""

from __future__ import annotations

import numpy as np

from p2pfl_core.compressors.base import Compressor
from p2pfl_core.weights import ModelWeights


def contract_weights(seed: int = 0) -> ModelWeights:
    """Return weights with the layer kinds a compressor must round-trip.

    Float32 and float64 layers with values in [-2, 2], an int64 layer, a
    0-d float32 layer and an empty layer, plus metadata.
    """
    rng = np.random.default_rng(seed)
    return ModelWeights(
        {
            "conv.weight": rng.uniform(-2, 2, (8, 3, 3, 3)).astype(np.float32),
            "dense.weight": rng.uniform(-2, 2, (64, 10)).astype(np.float64),
            "dense.bias": rng.uniform(-2, 2, 10).astype(np.float32),
            "norm.steps": np.array([3, 0, 7], dtype=np.int64),
            "scale": np.array(0.5, dtype=np.float32),
            "empty": np.zeros((0, 4), dtype=np.float32),
        },
        num_samples=42,
        contributors=("node-1", "node-2"),
    )


class CompressorContract:
    """Tests that every compressor must pass.

    Subclasses implement :meth:`make_compressor`. Set :attr:`tolerance` to
    the largest absolute error a lossy compressor may introduce in the
    test weights (values in [-2, 2]); None checks names, shapes and dtypes
    only, as for top-k sparsification.
    """

    tolerance: float | None = 0.0

    def make_compressor(self) -> Compressor:
        """Return a new compressor with the parameters to test."""
        raise NotImplementedError("subclasses of CompressorContract implement this")

    def round_trip(self) -> tuple[ModelWeights, ModelWeights]:
        """Return the test weights and their encoded-then-decoded copy."""
        original = contract_weights()
        compressor = self.make_compressor()
        return original, compressor.decode(compressor.encode(original.copy()))

    def test_round_trip_keeps_names_shapes_dtypes(self) -> None:
        """Decoding restores every layer in order, with its shape and dtype."""
        original, restored = self.round_trip()
        assert list(restored.layers) == list(original.layers)
        for name, array in original.layers.items():
            assert restored[name].shape == array.shape, name
            assert restored[name].dtype == array.dtype, name

    def test_round_trip_keeps_metadata(self) -> None:
        """Decoding restores num_samples and contributors."""
        original, restored = self.round_trip()
        assert restored.num_samples == original.num_samples
        assert restored.contributors == original.contributors

    def test_round_trip_within_tolerance(self) -> None:
        """Decoded values differ from the originals by at most ``tolerance``."""
        if self.tolerance is None:
            return
        original, restored = self.round_trip()
        for name, array in original.layers.items():
            error = np.abs(restored[name].astype(np.float64) - array.astype(np.float64))
            assert error.size == 0 or float(error.max()) <= self.tolerance, name

    def test_encode_leaves_input_unchanged(self) -> None:
        """encode does not modify the weights it is given."""
        original = contract_weights()
        given = original.copy()
        self.make_compressor().encode(given)
        for name, array in original.layers.items():
            assert given[name].tobytes() == array.tobytes(), name
