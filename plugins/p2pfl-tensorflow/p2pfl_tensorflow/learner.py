"""The ``tensorflow`` learner: a Keras 3 model trained on TensorFlow.

Weights are exchanged under their Keras weight paths without the model's own
name (``hidden0/kernel``, ``norm0/moving_mean``), in ``model.weights`` order,
so non-trainable state such as BatchNorm statistics travels with the model and
keeps its dtype. Optimizer state (momentum buffers, the step counter) stays
local to the node.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from p2pfl_core.algorithms.catalog import learner_callbacks
from p2pfl_core.algorithms.step_terms import (
    StepTerms,
    begin_fit,
    end_fit,
    momentum_step_size,
)
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ConfigError, ModelMismatchError
from p2pfl_core.learning.evaluation import classification_metrics
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights

from p2pfl_tensorflow.runtime import build_seeded, check_backend, configure_threads
from p2pfl_tensorflow.settings import PARSER, KerasSettings
from p2pfl_tensorflow.steps import KerasStepTerms, make_predict_logits, make_train_step

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
        settings: Optimizer, batch size and epochs; ``model``,
            ``model_args`` and ``algorithm`` are not used here.
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
        self._trainable_names = weight_names(model, model.trainable_variables)
        self._lock = threading.RLock()
        self._extra: dict[str, np.ndarray] = {}

        self._x_train = np.asarray(data.x_train, dtype=np.float32)
        self._y_train = np.asarray(data.y_train, dtype=np.int64)
        self._x_test = np.asarray(data.x_test, dtype=np.float32)
        self._y_test = np.asarray(data.y_test, dtype=np.int64)

        self.optimizer = _make_optimizer(settings)
        self.optimizer.build(model.trainable_variables)
        self._train_step = make_train_step(model, self.optimizer, data.input_shape)
        self._logits = make_predict_logits(model, data.input_shape)
        # Built on the first fit with FedProx or SCAFFOLD, then reused.
        self._step_terms: KerasStepTerms | None = None
        self._train_step_with_terms: Callable[..., tf.Tensor] | None = None

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> KerasLearner:
        """Build the model named by ``learner.model`` and wrap it.

        Raises:
            ConfigError: Invalid settings, an unknown builder, or a builder
                that rejects ``model_args`` or returns no Keras model.
        """
        parsed = PARSER.parse(settings)
        configure_threads(parsed.threads)

        def build(builder: Callable[..., keras.Model]) -> keras.Model:
            make = functools.partial(
                builder, data.input_shape, data.num_classes, **parsed.model_args
            )
            return build_seeded(make, data.input_shape, seed)

        model = PARSER.build_model(
            parsed.model,
            parsed.model_args,
            build,
            model_type=keras.Model,
            type_name="keras.Model",
        )
        logger.debug("Built Keras model %s with seed %d", model.name, seed)
        callbacks = learner_callbacks(parsed.algorithm)
        return cls(model, data, settings=parsed, seed=seed, callbacks=callbacks)

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
                ``batch_size``, ``epochs``, ``threads`` and ``algorithm``, as
                in an experiment file.

        Raises:
            ConfigError: An unknown or invalid setting.
        """
        if "model_args" in settings:
            raise ConfigError(
                "learner.model_args: from_model takes a built model; remove "
                "model_args and pass the arguments to your builder"
            )
        parsed = PARSER.parse(settings)
        configure_threads(parsed.threads)
        if not model.weights:
            model = build_seeded(lambda: model, data.input_shape, seed)
        callbacks = [*(callbacks or []), *learner_callbacks(parsed.algorithm)]
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
        """Load weights, checking names, shapes and dtypes, and keep their ``extra``.

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
            self._extra = dict(weights.extra)

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs; return the mean batch loss as ``loss``.

        FedProx and SCAFFOLD add their terms to the gradients of the trainable
        variables; BatchNorm statistics and other non-trainable weights get
        none. Callbacks see the weights with the ``extra`` arrays of the last
        ``set_weights``.

        Args:
            round: The learning round; the data order is seeded from
                ``(seed, round)``.
        """
        with self._lock:
            terms = begin_fit(self, self._trainable_names)
            step = self._train_step if terms is None else self._step_with(terms)
            rng = np.random.default_rng([self.seed, round])
            losses = self._train_epochs(step, rng)
            # Adam has momentum 0 here, so its steps count as plain SGD steps.
            # NOTE: the Keras optimizer keeps its momentum between rounds, which
            # SCAFFOLD's step count assumes empty at the start of the round.
            step_size = momentum_step_size(
                self.settings.learning_rate, self.settings.momentum, len(losses)
            )
            end_fit(self, len(losses), step_size)
            return {"loss": float(np.mean(losses)) if losses else 0.0}

    def evaluate(self) -> dict[str, float]:
        """Return cross-entropy ``loss`` and ``accuracy`` on the test split."""
        with self._lock:
            return classification_metrics(
                lambda rows: self._logits(self._x_test[rows]).numpy(),
                self._y_test,
                EVALUATION_BATCH_SIZE,
            )

    def _train_epochs(
        self, step: Callable[..., tf.Tensor], rng: np.random.Generator
    ) -> list[float]:
        losses: list[float] = []
        count = len(self._y_train)
        for _ in range(self.epochs):
            order = rng.permutation(count)
            for begin in range(0, count, self.batch_size):
                batch = order[begin : begin + self.batch_size]
                loss = step(self._x_train[batch], self._y_train[batch])
                losses.append(float(loss))
        return losses

    def _step_with(self, terms: StepTerms) -> Callable[..., tf.Tensor]:
        """Return the training step with the round's terms loaded.

        The step and its term variables are built on the first call only.
        """
        if self._step_terms is None or self._train_step_with_terms is None:
            self._step_terms = KerasStepTerms(
                self.model.trainable_variables, self._trainable_names
            )
            self._train_step_with_terms = make_train_step(
                self.model, self.optimizer, self.data.input_shape, self._step_terms
            )
        self._step_terms.assign(terms)
        return self._train_step_with_terms


def weight_names(
    model: keras.Model, variables: list[keras.Variable] | None = None
) -> list[str]:
    """Return the exchanged name of each weight of ``model``, in order.

    The name is the weight's Keras path without the leading model name, so
    ``mlp/hidden0/kernel`` becomes ``hidden0/kernel``.

    Args:
        model: The model.
        variables: Some of its weights, such as ``model.trainable_variables``;
            all of ``model.weights`` by default.

    Raises:
        ValueError: Two weights share a path; give the layers distinct names.
    """
    prefix = f"{model.name}/"
    chosen = model.weights if variables is None else variables
    names = [variable.path.removeprefix(prefix) for variable in chosen]
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
