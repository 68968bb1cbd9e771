"""The ``flax`` learner: a ``flax.linen`` module trained with optax on JAX.

Weights are exchanged under the path of each leaf of the variable tree joined
with ``/`` (``params/hidden0/kernel``, ``batch_stats/norm0/mean``), in the
order ``module.init`` created them, so non-trainable collections travel with
the model and keep their dtype. Optimizer state stays local to the node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import traverse_util
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError, ModelMismatchError
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights

from p2pfl_flax.settings import FlaxSettings, parse_settings, resolve_builder
from p2pfl_flax.steps import (
    StepConfig,
    Variables,
    make_optimizer,
    predict_logits,
    takes_train_argument,
    train_step,
)

logger = logging.getLogger(__name__)

EVALUATION_BATCH_SIZE = 256


class FlaxLearner(Learner):
    """Trains a Flax module that maps a batch of samples to class logits.

    Use :meth:`from_settings` for experiment files and :meth:`from_model` for a
    module built in Python. The module must return logits. When its
    ``__call__`` has a ``train`` argument, the learner passes True in
    training and False in evaluation. Dropout draws from the ``dropout`` RNG
    stream.

    Note:
        Every batch is padded to ``batch_size`` with repeated samples that
        the loss ignores, so one compiled step serves every batch. BatchNorm
        statistics of a padded last batch do count the repeated samples.

    Args:
        model: The Flax module.
        variables: Its variables, as ``model.init`` returns them.
        data: The node's data.
        settings: Optimizer, batch size and epochs; ``model`` and
            ``model_args`` are not used here.
        seed: Seed of the data order and the dropout keys.
        callbacks: Algorithm callbacks such as FedProx.
    """

    name = "flax"

    def __init__(
        self,
        model: nn.Module,
        variables: Variables,
        data: NodeData,
        *,
        settings: FlaxSettings | None = None,
        seed: int = 0,
        callbacks: list[LearnerCallback] | None = None,
    ) -> None:
        settings = settings or FlaxSettings()
        super().__init__(
            data,
            seed=seed,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            callbacks=callbacks,
        )
        self.model = model
        self.settings = settings

        flat = traverse_util.flatten_dict(dict(variables))
        self._paths: list[tuple[str, ...]] = list(flat)
        self._names = ["/".join(path) for path in self._paths]
        self.variables: Variables = jax.tree_util.tree_map(jnp.asarray, variables)

        optimizer = make_optimizer(
            settings.optimizer, settings.learning_rate, settings.momentum
        )
        self._config = StepConfig(
            model,
            optimizer,
            tuple(name for name in self.variables if name != "params"),
            takes_train_argument(model),
        )
        self.optimizer_state = optimizer.init(self.variables["params"])

        self._lock = threading.RLock()
        self._extra: dict[str, np.ndarray] = {}
        self._x_train = np.asarray(data.x_train, dtype=np.float32)
        self._y_train = np.asarray(data.y_train, dtype=np.int32)
        self._x_test = np.asarray(data.x_test, dtype=np.float32)
        self._y_test = np.asarray(data.y_test, dtype=np.int64)

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> FlaxLearner:
        """Build the module named by ``learner.model`` and initialise it from ``seed``.

        Raises:
            ConfigError: Invalid settings, an unknown builder, or a builder
                that rejects ``model_args`` or returns no Flax module.
        """
        parsed = parse_settings(settings)
        builder = resolve_builder(parsed.model)
        model = _call_builder(builder, parsed, data)
        variables = init_variables(model, data.input_shape, seed)
        return cls(model, variables, data, settings=parsed, seed=seed)

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        data: NodeData,
        *,
        seed: int = 0,
        variables: Variables | None = None,
        callbacks: list[LearnerCallback] | None = None,
        **settings: Any,
    ) -> FlaxLearner:
        """Wrap a Flax module built in Python.

        Args:
            model: The module; it must return logits.
            data: The node's data.
            seed: Seed of the data order, and of the initial variables when
                ``variables`` is None.
            variables: Initial variables; None initialises them from ``seed``.
            callbacks: Algorithm callbacks.
            **settings: ``optimizer``, ``learning_rate``, ``momentum``,
                ``batch_size`` and ``epochs``, as in an experiment file.

        Raises:
            ConfigError: An unknown or invalid setting.
        """
        if "model_args" in settings:
            raise ConfigError(
                "learner.model_args: from_model takes a built module; remove "
                "model_args and pass the arguments to your module"
            )
        parsed = parse_settings(settings)
        if variables is None:
            variables = init_variables(model, data.input_shape, seed)
        return cls(
            model, variables, data, settings=parsed, seed=seed, callbacks=callbacks
        )

    def get_weights(self) -> ModelWeights:
        """Return a copy of every variable, ``params`` and the other collections."""
        with self._lock:
            flat = traverse_util.flatten_dict(self.variables)
            layers = {
                name: np.array(flat[path], copy=True)
                for name, path in zip(self._names, self._paths, strict=True)
            }
            return ModelWeights(
                layers, num_samples=self.num_samples, extra=dict(self._extra)
            )

    def set_weights(self, weights: ModelWeights) -> None:
        """Load weights, checking names, shapes and dtypes.

        Raises:
            ModelMismatchError: Layer names, shapes or dtypes differ; the
                message names the layers.
        """
        with self._lock:
            flat = traverse_util.flatten_dict(self.variables)
            expected = ModelWeights(
                {
                    name: np.empty(flat[path].shape, flat[path].dtype)
                    for name, path in zip(self._names, self._paths, strict=True)
                }
            )
            problems = expected.describe_mismatch(weights)
            if problems:
                raise ModelMismatchError(
                    f"weights do not fit the Flax {type(self.model).__name__} "
                    "module: " + "; ".join(problems)
                )
            loaded = {
                path: jnp.asarray(weights[name])
                for name, path in zip(self._names, self._paths, strict=True)
            }
            self.variables = traverse_util.unflatten_dict(loaded)
            self._extra = {}

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs; return the mean batch loss as ``loss``.

        Args:
            round: The learning round; the data order and dropout keys are
                seeded from ``(seed, round)``.
        """
        with self._lock:
            start = self.get_weights()
            for callback in self.callbacks:
                callback.on_fit_start(self, start)
            losses = self._train_epochs(round)
            self._finish_fit()
            return {"loss": float(np.mean(losses)) if losses else 0.0}

    def evaluate(self) -> dict[str, float]:
        """Return cross-entropy ``loss`` and ``accuracy`` on the test split."""
        with self._lock:
            total = len(self._y_test)
            if total == 0:
                return {"loss": 0.0, "accuracy": 0.0}
            loss_sum = 0.0
            correct = 0
            for begin in range(0, total, EVALUATION_BATCH_SIZE):
                rows = np.arange(begin, min(begin + EVALUATION_BATCH_SIZE, total))
                padded = np.resize(rows, EVALUATION_BATCH_SIZE)
                logits = np.asarray(
                    predict_logits(self._config, self.variables, self._x_test[padded])
                )[: len(rows)].astype(np.float64)
                y = self._y_test[rows]
                shifted = logits - logits.max(axis=1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                loss_sum += float(-log_probs[np.arange(len(y)), y].sum())
                correct += int((logits.argmax(axis=1) == y).sum())
            return {"loss": loss_sum / total, "accuracy": correct / total}

    def _train_epochs(self, round: int) -> list[float]:
        rng = np.random.default_rng([self.seed, round])
        round_key = jax.random.fold_in(jax.random.key(self.seed), round)
        losses: list[jax.Array] = []
        count = len(self._y_train)
        step = 0
        for _ in range(self.epochs):
            order = rng.permutation(count)
            for begin in range(0, count, self.batch_size):
                batch = order[begin : begin + self.batch_size]
                padded = np.resize(batch, self.batch_size)
                mask = (np.arange(self.batch_size) < len(batch)).astype(np.float32)
                self.variables, self.optimizer_state, loss = train_step(
                    self._config,
                    self.variables,
                    self.optimizer_state,
                    self._x_train[padded],
                    self._y_train[padded],
                    mask,
                    jax.random.fold_in(round_key, step),
                )
                losses.append(loss)
                step += 1
        return [float(loss) for loss in losses]

    def _finish_fit(self) -> None:
        trained = self.get_weights()
        shared = trained
        for callback in self.callbacks:
            shared = callback.on_fit_end(self, shared)
        if shared is not trained:
            self.set_weights(shared)
            self._extra = dict(shared.extra)


def init_variables(
    model: nn.Module, input_shape: tuple[int, ...], seed: int
) -> Variables:
    """Initialise the variables of ``model`` from ``seed``.

    The same module, input shape and seed give identical variables in every
    process. ``params`` comes from ``fold_in(key(seed), 0)`` and the
    ``dropout`` stream from ``fold_in(key(seed), 1)``.
    """
    root = jax.random.key(seed)
    rngs = {
        "params": jax.random.fold_in(root, 0),
        "dropout": jax.random.fold_in(root, 1),
    }
    kwargs = {"train": False} if takes_train_argument(model) else {}
    sample = jnp.zeros((1, *input_shape), jnp.float32)
    return dict(model.init(rngs, sample, **kwargs))


def _call_builder(
    builder: Callable[..., nn.Module], settings: FlaxSettings, data: NodeData
) -> nn.Module:
    try:
        model = builder(data.input_shape, data.num_classes, **settings.model_args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"learner.model_args: model {settings.model!r} rejected "
            f"{settings.model_args!r}: {exc}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"learner.model: builder {settings.model!r} returned "
            f"{type(model).__qualname__}, not a flax.linen.Module"
        )
    return model
