"""The contract every aggregator keeps, as a test class to subclass.

Example::

    class TestKrum(AggregatorContract):
        model_count = 6

        def make_aggregator(self) -> Krum:
            return Krum(f=1)
"""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.aggregators.base import Aggregator
from p2pfl_core.errors import AggregationError, ModelMismatchError, NoModelsError
from p2pfl_core.weights import ModelWeights


def contract_models(count: int, seed: int = 0) -> list[ModelWeights]:
    """Return ``count`` compatible models with distinct contributors.

    Each model contains a float32 matrix, a float32 vector and a 0-d int64
    counter (like a batch-norm step count), with 10, 20, 30... samples.
    """
    rng = np.random.default_rng(seed)
    return [
        ModelWeights(
            {
                "dense.weight": rng.standard_normal((4, 3)).astype(np.float32),
                "dense.bias": rng.standard_normal(3).astype(np.float32),
                "steps": np.array(100 + index, dtype=np.int64),
            },
            num_samples=10 * (index + 1),
            contributors=(f"node-{index}",),
        )
        for index in range(count)
    ]


def aggregate_all(aggregator: Aggregator, models: list[ModelWeights]) -> ModelWeights:
    """Add ``models`` in the given order and return the aggregate."""
    for model in models:
        aggregator.add_model(model)
    return aggregator.aggregate()


class AggregatorContract:
    """Tests that every aggregator must pass.

    Subclasses implement :meth:`make_aggregator`. ``model_count`` is the
    number of honest models the tests aggregate; raise it for rules that
    need many models, such as Krum with ``n > 2f + 2``.
    """

    model_count = 5

    def make_aggregator(self) -> Aggregator:
        """Return a new aggregator with the parameters to test."""
        raise NotImplementedError("subclasses of AggregatorContract implement this")

    def test_keeps_names_shapes_and_dtypes(self) -> None:
        """The aggregate has the inputs' layers, shapes and dtypes, ints included."""
        models = contract_models(self.model_count)
        result = aggregate_all(self.make_aggregator(), models)
        assert list(result.layers) == list(models[0].layers)
        for name, array in models[0].layers.items():
            assert result[name].shape == array.shape, name
            assert result[name].dtype == array.dtype, name

    def test_order_independent_bit_identical(self) -> None:
        """Adding the same models in another order gives the same bytes."""
        models = contract_models(self.model_count)
        forward = aggregate_all(self.make_aggregator(), models)
        shuffled = [
            models[i] for i in np.random.default_rng(1).permutation(len(models))
        ]
        for order in (models[::-1], shuffled):
            other = aggregate_all(self.make_aggregator(), order)
            for name in forward.layers:
                assert forward[name].tobytes() == other[name].tobytes(), name

    def test_duplicates_counted_once(self) -> None:
        """A model delivered twice changes nothing and is reported as not new."""
        models = contract_models(self.model_count)
        aggregator = self.make_aggregator()
        for model in models:
            assert aggregator.add_model(model)
        assert not aggregator.add_model(models[0].copy())
        with_duplicate = aggregator.aggregate()
        once = aggregate_all(self.make_aggregator(), models)
        for name in once.layers:
            assert with_duplicate[name].tobytes() == once[name].tobytes(), name

    def test_mismatched_model_raises(self) -> None:
        """A model whose layer has another shape raises ModelMismatchError."""
        models = contract_models(self.model_count)
        odd = models[-1].copy()
        odd.layers["dense.weight"] = np.zeros((5, 3), np.float32)
        with pytest.raises(ModelMismatchError):
            aggregate_all(self.make_aggregator(), [*models[:-1], odd])

    def test_no_models_raises(self) -> None:
        """Aggregating before any model arrived raises NoModelsError."""
        with pytest.raises(NoModelsError):
            self.make_aggregator().aggregate()

    def test_non_finite_model_excluded(self) -> None:
        """A model containing NaN is left out of the aggregate and its contributors."""
        models = contract_models(self.model_count)
        poisoned = contract_models(self.model_count + 1)[-1]
        poisoned.layers["dense.bias"][0] = np.nan
        result = aggregate_all(self.make_aggregator(), [*models, poisoned])
        clean = aggregate_all(self.make_aggregator(), models)
        assert poisoned.contributors[0] not in result.contributors
        for name in clean.layers:
            assert result[name].tobytes() == clean[name].tobytes(), name

    def test_only_non_finite_models_raise(self) -> None:
        """When every model contains infinity, aggregation raises AggregationError."""
        models = contract_models(self.model_count)
        for model in models:
            model.layers["dense.weight"][0, 0] = np.inf
        with pytest.raises(AggregationError):
            aggregate_all(self.make_aggregator(), models)
