"""The ``tensorflow`` learner: a Keras 3 model trained on TensorFlow.

Weights are exchanged under their Keras weight paths without the model's own
name (``hidden0/kernel``, ``norm0/moving_mean``), in ``model.weights`` order,
so non-trainable state such as BatchNorm statistics travels with the model and
keeps its dtype. Optimizer state (momentum buffers, the step counter) stays
local to the node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError, ModelMismatchError
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights

from p2pfl_tensorflow.runtime import build_seeded, check_backend, configure_threads
from p2pfl_tensorflow.settings import KerasSettings, parse_settings, resolve_builder

logger = logging.getLogger(__name__)

EVALUATION_BATCH_SIZE = 1024


class KerasLearner(Learner):
    """Trains a Keras model that maps a batch of samples to class logits.

    Use :meth:`from_settings` for experiment files and :meth:`from_model` for a
    model built in Python. The model must return logits (no final softmax);
    the loss is sparse categorical cross-entropy plus any ``model.losses``.

    Args:
        model: A built Keras model.
        data: The node's data.
        settings: Optimizer, batch size and epochs; ``model`` and
            ``model_args`` are not used here.
        seed: Seed of the data order.
        callbacks: Algorithm callbacks such as FedProx.
    """

    name = "tensorflow"

    def __init__(
        self,
        model: keras.Model,
        data: NodeData,
        *,
        settings: KerasSettings | None = None,
        seed: int = 0,
        callbacks: list[LearnerCallback] | None = None,
    ) -> None:
        settings = settings or KerasSettings()
        super().__init__(
            data,
            seed=seed,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            callbacks=callbacks,
        )
        check_backend()

        self.model = model
        self.settings = settings
        self._names = weight_names(model)
        self._lock = threading.RLock()
        self._extra: dict[str, np.ndarray] = {}

        self._x_train = np.asarray(data.x_train, dtype=np.float32)
        self._y_train = np.asarray(data.y_train, dtype=np.int64)
        self._x_test = np.asarray(data.x_test, dtype=np.float32)
        self._y_test = np.asarray(data.y_test, dtype=np.int64)

        self.optimizer = _make_optimizer(settings)
        self.optimizer.build(model.trainable_variables)
        self._train_step, self._logits = self._make_steps(data.input_shape)

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> KerasLearner:
        """Build the model named by ``learner.model`` and wrap it.

        Raises:
            ConfigError: Invalid settings, an unknown builder, or a builder
                that rejects ``model_args`` or returns no Keras model.
        """
        parsed = parse_settings(settings)
        configure_threads(parsed.threads)
        builder = resolve_builder(parsed.model)
        model = _call_builder(builder, parsed, data, seed)
        return cls(model, data, settings=parsed, seed=seed)

    @classmethod
    def from_model(
        cls,
        model: keras.Model,
        data: NodeData,
        *,
        seed: int = 0,
        callbacks: list[LearnerCallback] | None = None,
        **settings: Any,
    ) -> KerasLearner:
        """Wrap a Keras model built in Python.

        The model keeps the weights it has. An unbuilt model is called once on
        a zero batch to create them.

        Note:
            Keras layers draw their initializer seeds when they are created,
            so ``seed`` does not decide the initial weights here. Call
            ``keras.utils.set_random_seed`` before creating the model, or use
            :meth:`from_settings` with a ``module:function`` builder.

        Args:
            model: The Keras model; it must return logits.
            data: The node's data.
            seed: Seed of the data order.
            callbacks: Algorithm callbacks.
            **settings: ``optimizer``, ``learning_rate``, ``momentum``,
                ``batch_size``, ``epochs`` and ``threads``, as in an
                experiment file.

        Raises:
            ConfigError: An unknown or invalid setting.
        """
        if "model_args" in settings:
            raise ConfigError(
                "learner.model_args: from_model takes a built model; remove "
                "model_args and pass the arguments to your builder"
            )
        parsed = parse_settings(settings)
        configure_threads(parsed.threads)
        if not model.weights:
            model = build_seeded(lambda: model, data.input_shape, seed)
        return cls(model, data, settings=parsed, seed=seed, callbacks=callbacks)

    def get_weights(self) -> ModelWeights:
        """Return a copy of every model weight, trainable or not."""
        with self._lock:
            layers = {
                name: np.array(variable.numpy(), copy=True)
                for name, variable in zip(self._names, self.model.weights, strict=True)
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
            expected = ModelWeights(
                {
                    name: np.empty(variable.shape, variable.dtype)
                    for name, variable in zip(
                        self._names, self.model.weights, strict=True
                    )
                }
            )
            problems = expected.describe_mismatch(weights)
            if problems:
                raise ModelMismatchError(
                    f"weights do not fit the {self.model.name!r} Keras model: "
                    + "; ".join(problems)
                )
            for name, variable in zip(self._names, self.model.weights, strict=True):
                variable.assign(weights[name])
            self._extra = {}

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs; return the mean batch loss as ``loss``.

        Args:
            round: The learning round; the data order is seeded from
                ``(seed, round)``.
        """
        with self._lock:
            start = self.get_weights()
            for callback in self.callbacks:
                callback.on_fit_start(self, start)
            losses = self._train_epochs(np.random.default_rng([self.seed, round]))
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
                x = self._x_test[begin : begin + EVALUATION_BATCH_SIZE]
                y = self._y_test[begin : begin + EVALUATION_BATCH_SIZE]
                logits = self._logits(x).numpy().astype(np.float64)
                shifted = logits - logits.max(axis=1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                loss_sum += float(-log_probs[np.arange(len(y)), y].sum())
                correct += int((logits.argmax(axis=1) == y).sum())
            return {"loss": loss_sum / total, "accuracy": correct / total}

    def _train_epochs(self, rng: np.random.Generator) -> list[float]:
        losses: list[float] = []
        count = len(self._y_train)
        for _ in range(self.epochs):
            order = rng.permutation(count)
            for begin in range(0, count, self.batch_size):
                batch = order[begin : begin + self.batch_size]
                loss = self._train_step(self._x_train[batch], self._y_train[batch])
                losses.append(float(loss))
        return losses

    def _finish_fit(self) -> None:
        trained = self.get_weights()
        shared = trained
        for callback in self.callbacks:
            shared = callback.on_fit_end(self, shared)
        if shared is not trained:
            self.set_weights(shared)
            self._extra = dict(shared.extra)

    def _make_steps(
        self, input_shape: tuple[int, ...]
    ) -> tuple[Callable[..., tf.Tensor], Callable[..., tf.Tensor]]:
        """Build the training and inference steps, traced once for any batch size.

        Each learner gets its own closures, because TensorFlow warns about
        excessive retracing when the instances of one method trace in turn.
        """
        model, optimizer = self.model, self.optimizer
        sample = tf.TensorSpec((None, *input_shape), tf.float32)
        labels = tf.TensorSpec((None,), tf.int64)

        def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=y, logits=logits
                    )
                )
                objective = loss + tf.add_n(model.losses) if model.losses else loss
            gradients = tape.gradient(objective, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return loss

        def predict_logits(x: tf.Tensor) -> tf.Tensor:
            return tf.cast(model(x, training=False), tf.float32)

        return (
            tf.function(train_step, input_signature=[sample, labels]),
            tf.function(predict_logits, input_signature=[sample]),
        )


def weight_names(model: keras.Model) -> list[str]:
    """Return the exchanged name of each of ``model.weights``, in order.

    The name is the weight's Keras path without the leading model name, so
    ``mlp/hidden0/kernel`` becomes ``hidden0/kernel``.

    Raises:
        ValueError: Two weights share a path; give the layers distinct names.
    """
    prefix = f"{model.name}/"
    names = [variable.path.removeprefix(prefix) for variable in model.weights]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"Keras model {model.name!r} has several weights named "
            f"{', '.join(duplicates)}; give its layers distinct names"
        )
    return names


def _make_optimizer(settings: KerasSettings) -> keras.optimizers.Optimizer:
    if settings.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=settings.learning_rate)
    return keras.optimizers.SGD(
        learning_rate=settings.learning_rate, momentum=settings.momentum
    )


def _call_builder(
    builder: Callable[..., keras.Model],
    settings: KerasSettings,
    data: NodeData,
    seed: int,
) -> keras.Model:
    def build() -> keras.Model:
        return builder(data.input_shape, data.num_classes, **settings.model_args)

    try:
        model = build_seeded(build, data.input_shape, seed)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"learner.model_args: model {settings.model!r} rejected "
            f"{settings.model_args!r}: {exc}"
        ) from exc
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"learner.model: builder {settings.model!r} returned "
            f"{type(model).__qualname__}, not a keras.Model"
        )
    logger.debug("Built Keras model %s with seed %d", model.name, seed)
    return model
