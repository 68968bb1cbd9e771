"""The ``flax`` learner: a ``flax.linen`` module trained with optax on JAX.

Weights are exchanged under the path of each leaf of the variable tree joined
with ``/`` (``params/hidden0/kernel``, ``batch_stats/norm0/mean``), in the
order ``module.init`` created them, so non-trainable collections travel with
the model and keep their dtype. Optimizer state stays local to the node.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import traverse_util
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

from p2pfl_flax.settings import PARSER, FlaxSettings
from p2pfl_flax.steps import (
    StepConfig,
    TermTrees,
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
        settings: Optimizer, batch size and epochs; ``model``,
            ``model_args`` and ``algorithm`` are not used here.
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
        # Only the params collection trains; batch_stats and counters do not.
        self._trainable = {
            name: path[1:]
            for name, path in zip(self._names, self._paths, strict=True)
            if path[0] == "params"
        }
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
        parsed = PARSER.parse(settings)
        model = PARSER.build_model(
            parsed.model,
            parsed.model_args,
            lambda builder: builder(
                data.input_shape, data.num_classes, **parsed.model_args
            ),
            model_type=nn.Module,
            type_name="flax.linen.Module",
        )
        variables = init_variables(model, data.input_shape, seed)
        return cls(
            model,
            variables,
            data,
            settings=parsed,
            seed=seed,
            callbacks=learner_callbacks(parsed.algorithm),
        )

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
                ``batch_size``, ``epochs`` and ``algorithm``, as in an
                experiment file.

        Raises:
            ConfigError: An unknown or invalid setting.
        """
        if "model_args" in settings:
            raise ConfigError(
                "learner.model_args: from_model takes a built module; remove "
                "model_args and pass the arguments to your module"
            )
        parsed = PARSER.parse(settings)
        if variables is None:
            variables = init_variables(model, data.input_shape, seed)
        callbacks = [*(callbacks or []), *learner_callbacks(parsed.algorithm)]
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
        """Load weights, checking names, shapes and dtypes, and keep their ``extra``.

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
            self._extra = dict(weights.extra)

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs; return the mean batch loss as ``loss``.

        FedProx and SCAFFOLD add their terms to the gradients of ``params``;
        other collections such as ``batch_stats`` get none. Callbacks see the
        weights with the ``extra`` arrays of the last ``set_weights``.

        Args:
            round: The learning round; the data order and dropout keys are
                seeded from ``(seed, round)``.
        """
        with self._lock:
            terms = begin_fit(self, self._trainable)
            trees = None if terms is None else self._term_trees(terms)
            losses = self._train_epochs(round, trees)
            # Adam has momentum 0 here, so its steps count as plain SGD steps.
            # NOTE: the optax state keeps its momentum between rounds, which
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
                self._test_logits, self._y_test, EVALUATION_BATCH_SIZE
            )

    def _test_logits(self, rows: np.ndarray) -> np.ndarray:
        """Return the logits of test rows, padded to one compiled batch shape."""
        padded = np.resize(rows, EVALUATION_BATCH_SIZE)
        logits = predict_logits(self._config, self.variables, self._x_test[padded])
        return np.asarray(logits)[: len(rows)]

    def _train_epochs(self, round: int, terms: TermTrees | None) -> list[float]:
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
                    terms,
                )
                losses.append(loss)
                step += 1
        return [float(loss) for loss in losses]

    def _term_trees(self, terms: StepTerms) -> TermTrees:
        """Return the terms as device arrays shaped like ``params``."""
        params = traverse_util.flatten_dict(self.variables["params"])
        trees = []
        for values in (terms.mu, terms.anchor, terms.offset):
            flat = {
                path: jnp.asarray(values[name], params[path].dtype)
                for name, path in self._trainable.items()
            }
            trees.append(traverse_util.unflatten_dict(flat))
        return trees[0], trees[1], trees[2]


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
