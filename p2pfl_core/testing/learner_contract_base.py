"""Shared helpers of the parts of :class:`~p2pfl_core.testing.LearnerContract`.

The contract's tests live in three modules: ``learner_contract`` (weights,
seeds, evaluation), ``learner_contract_settings`` (``from_settings``) and
``learner_contract_algorithms`` (callbacks, FedProx, SCAFFOLD, federations).
This module contains their data, their helpers and the attributes that a
subclass sets.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

from p2pfl_core.data.dataset import NodeData
from p2pfl_core.learning.learner import Learner
from p2pfl_core.weights import ModelWeights


@functools.cache
def digits_node_data(train: int = 240, test: int = 60) -> NodeData:
    """Return one node's data: the first digits of scikit-learn's 8x8 digits.

    Features are 64 floats in [0, 1], labels 0 to 9; ``train`` samples for
    training and the next ``test`` for testing. The result is cached, so its
    arrays must not be modified.
    """
    from p2pfl_core.data.sources import load_digits

    digits = load_digits()
    x, y = digits.x, digits.y
    end = train + test
    return NodeData(
        x[:train], y[:train], x[train:end], y[train:end], digits.num_classes
    )


def assert_same_weights(first: ModelWeights, second: ModelWeights) -> None:
    """Assert equal layer names, order, shapes, dtypes and bytes."""
    assert list(first.layers) == list(second.layers)
    for name, array in first.layers.items():
        assert second[name].shape == array.shape, name
        assert second[name].dtype == array.dtype, name
        assert second[name].tobytes() == array.tobytes(), name


def changed_layers(first: ModelWeights, second: ModelWeights) -> list[str]:
    """Return the names of the layers whose bytes differ between two models."""
    return [
        name
        for name, array in first.layers.items()
        if array.tobytes() != second[name].tobytes()
    ]


def run_in_threads(tasks: list[Callable[[], Any]], timeout: float = 120.0) -> list[Any]:
    """Run the tasks at once, one thread each, and return their results in order.

    Raises:
        AssertionError: A task raised, or a thread did not end within
            ``timeout`` seconds.
    """
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(tasks))

    def work(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = tasks[index]()
        except BaseException as exc:  # the caller's assert reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, repr(errors[0])
    assert not any(thread.is_alive() for thread in threads), "a thread timed out"
    return results


class LearnerContractBase:
    """The attributes and the factory that every part of the contract uses.

    Attributes:
        learner_class: The learner under test. :meth:`make_learner` then
            defaults to ``learner_class.from_settings(settings, data,
            seed=seed)`` on :func:`digits_node_data`, and the tests of
            ``from_settings`` run: unknown keys, failing model builders,
            training on other data.
        settings: The ``learner`` section of the model under test.
        layer_shapes: The name and shape of each layer of the model under
            test, in the order of ``get_weights``.
        user_builder: ``"module:function"`` of a model builder in the
            plugin's tests that takes a ``width`` keyword argument. The
            model it builds with ``width=7`` must have a layer with a
            dimension of 7.
        supports_algorithms: The learner runs algorithm callbacks: it calls
            ``on_fit_start`` and ``on_fit_end``, applies FedProx and SCAFFOLD
            to its trainable parameters only, reads ``learner.algorithm``
            from its settings, and keeps ``ModelWeights.extra`` from
            ``set_weights`` to ``get_weights``.
        linear_settings: Settings of softmax regression (one dense layer
            with a bias and nothing else), for the exact FedProx and SCAFFOLD
            steps. The tests add ``learning_rate``, ``batch_size`` and
            ``epochs``, and expect plain SGD by default.
        sgd_momentum: The settings take ``momentum`` for SGD with heavy-ball
            momentum, whose longer steps SCAFFOLD's control update counts.
        federation_settings: Settings added to :attr:`settings` for a 4-node
            digits federation, which then runs twice each with FedAvg,
            FedProx and SCAFFOLD and must repeat its metrics exactly. The
            learner must be registered under ``learner_class.name``.
        federation_min_accuracy: The mean test accuracy that each of those
            federations reaches after 3 rounds.
    """

    learner_class: ClassVar[type[Learner] | None] = None
    settings: ClassVar[Mapping[str, Any]] = {}
    layer_shapes: ClassVar[Mapping[str, tuple[int, ...]] | None] = None
    user_builder: ClassVar[str | None] = None
    supports_algorithms: ClassVar[bool] = False
    linear_settings: ClassVar[Mapping[str, Any] | None] = None
    sgd_momentum: ClassVar[bool] = False
    federation_settings: ClassVar[Mapping[str, Any] | None] = None
    federation_min_accuracy: ClassVar[float] = 0.0

    def make_learner(self, seed: int) -> Learner:
        """Return a new learner whose initial weights depend only on ``seed``."""
        if self.learner_class is None:
            raise NotImplementedError("subclasses of LearnerContract implement this")
        return self.learner_class.from_settings(
            dict(self.settings), digits_node_data(), seed=seed
        )

    def build_from_settings(
        self, data: NodeData | None = None, *, seed: int = 0, **settings: Any
    ) -> Learner:
        """Build a learner with ``from_settings``: :attr:`settings` plus ``settings``.

        Skips the calling test when :attr:`learner_class` is unset.
        """
        section = {**self.settings, **settings}
        return self.settings_learner().from_settings(
            section, data or digits_node_data(), seed=seed
        )

    def settings_learner(self) -> type[Learner]:
        """Return :attr:`learner_class`; skip the calling test when it is unset."""
        if self.learner_class is None:
            pytest.skip("set learner_class to run the tests of from_settings")
        return self.learner_class

    def require_algorithms(self) -> None:
        """Skip the calling test unless :attr:`supports_algorithms` is set."""
        if not self.supports_algorithms:
            pytest.skip("set supports_algorithms to run the tests of algorithms")
