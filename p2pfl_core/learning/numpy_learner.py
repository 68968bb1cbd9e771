"""Core's own learner: softmax regression or a one-hidden-layer MLP in numpy.

It lets the core run and test a whole federation without any ML framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from p2pfl_core.algorithms.catalog import make_learner_callback
from p2pfl_core.algorithms.step_callback import add_gradient_terms, step_callbacks
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.errors import ModelMismatchError
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.learning.settings import SettingsParser, check_algorithm
from p2pfl_core.weights import ModelWeights


def build_softmax(
    input_size: int, num_classes: int, *, seed: int
) -> dict[str, np.ndarray]:
    """Return zero-initialised softmax regression weights."""
    del seed
    return {
        "linear.weight": np.zeros((input_size, num_classes), np.float32),
        "linear.bias": np.zeros((num_classes,), np.float32),
    }


def build_mlp(
    input_size: int, num_classes: int, *, seed: int, hidden: int = 32
) -> dict[str, np.ndarray]:
    """Return He-initialised weights of a one-hidden-layer ReLU MLP."""
    rng = np.random.default_rng(seed)
    scale = np.sqrt(2.0 / input_size)
    return {
        "hidden.weight": (rng.standard_normal((input_size, hidden)) * scale).astype(
            np.float32
        ),
        "hidden.bias": np.zeros((hidden,), np.float32),
        "linear.weight": (
            rng.standard_normal((hidden, num_classes)) * np.sqrt(2.0 / hidden)
        ).astype(np.float32),
        "linear.bias": np.zeros((num_classes,), np.float32),
    }


MODEL_BUILDERS = {"softmax": build_softmax, "mlp": build_mlp}


@dataclass(frozen=True)
class NumpySettings:
    """Validated settings of the numpy learner, which trains with plain SGD.

    Args:
        model: ``softmax``, ``mlp`` or ``"package.module:function"``.
        model_args: Keyword arguments of the model builder.
        learning_rate: SGD step size.
        batch_size: Samples per training step.
        epochs: Local epochs per round.
        algorithm: A learner algorithm name or ``{name: ..., **params}``,
            which :func:`make_learner_callback` checks.
    """

    model: str = "softmax"
    model_args: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 0.1
    batch_size: int = 32
    epochs: int = 1
    algorithm: str | dict[str, Any] | None = None


SETTINGS = SettingsParser(
    NumpySettings,
    learner="numpy",
    builders=(
        ("softmax", "p2pfl_core.learning.numpy_learner:build_softmax"),
        ("mlp", "p2pfl_core.learning.numpy_learner:build_mlp"),
    ),
    extra={"algorithm": check_algorithm},
)


class NumpyLearner(Learner):
    """Minibatch SGD on softmax regression or a small MLP.

    Args:
        data: The node's data; features are flattened.
        params: Initial parameters from a model builder.
        learning_rate: SGD step size.
        seed: Seed of the data order.
        epochs: Local epochs per round.
        batch_size: Samples per step.
        callbacks: Algorithm callbacks.
    """

    name = "numpy"

    def __init__(
        self,
        data: NodeData,
        params: dict[str, np.ndarray],
        *,
        learning_rate: float = 0.1,
        seed: int = 0,
        epochs: int = 1,
        batch_size: int = 32,
        callbacks: list[LearnerCallback] | None = None,
    ) -> None:
        super().__init__(
            data, seed=seed, epochs=epochs, batch_size=batch_size, callbacks=callbacks
        )
        self.params = {k: np.array(v, dtype=np.float32) for k, v in params.items()}
        self.learning_rate = learning_rate
        # Arrays that travel with the model, such as SCAFFOLD's control variate.
        self.extra: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> NumpyLearner:
        """Build from ``model`` (softmax or mlp), ``model_args`` and SGD settings.

        Raises:
            ConfigError: An unknown key, an invalid value, or a builder that
                rejects its ``model_args``; the message names ``learner.<key>``.
        """
        parsed = SETTINGS.parse(settings)
        callbacks = (
            [make_learner_callback(parsed.algorithm)] if parsed.algorithm else []
        )
        input_size = int(np.prod(data.input_shape))
        params = SETTINGS.build_model(
            parsed.model,
            parsed.model_args,
            lambda builder: builder(
                input_size, data.num_classes, seed=seed, **parsed.model_args
            ),
            model_type=dict,
            type_name="dict of arrays",
        )
        return cls(
            data,
            params,
            learning_rate=parsed.learning_rate,
            seed=seed,
            epochs=parsed.epochs,
            batch_size=parsed.batch_size,
            callbacks=callbacks,
        )

    def get_weights(self) -> ModelWeights:
        """Return a copy of the parameters."""
        return ModelWeights(
            {k: v.copy() for k, v in self.params.items()},
            num_samples=self.num_samples,
            extra=dict(self.extra),
        )

    def set_weights(self, weights: ModelWeights) -> None:
        """Load parameters, checking names, shapes and dtypes."""
        expected = ModelWeights(self.params)
        problems = expected.describe_mismatch(weights)
        if problems:
            raise ModelMismatchError("; ".join(problems))
        self.params = {k: np.array(weights[k], dtype=np.float32) for k in self.params}
        self.extra = dict(weights.extra)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        hidden = None
        inputs = x
        if "hidden.weight" in self.params:
            hidden = np.maximum(
                x @ self.params["hidden.weight"] + self.params["hidden.bias"], 0
            )
            inputs = hidden
        logits = inputs @ self.params["linear.weight"] + self.params["linear.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs, hidden

    def _step(self, x: np.ndarray, y: np.ndarray) -> float:
        probs, hidden = self._forward(x)
        n = len(y)
        loss = float(-np.log(probs[np.arange(n), y] + 1e-12).mean())
        grad_logits = probs
        grad_logits[np.arange(n), y] -= 1.0
        grad_logits /= n
        inputs = x if hidden is None else hidden
        grads = {
            "linear.weight": inputs.T @ grad_logits,
            "linear.bias": grad_logits.sum(axis=0),
        }
        if hidden is not None:
            grad_hidden = (grad_logits @ self.params["linear.weight"].T) * (hidden > 0)
            grads["hidden.weight"] = x.T @ grad_hidden
            grads["hidden.bias"] = grad_hidden.sum(axis=0)
        steppers = step_callbacks(self.callbacks)
        if steppers:
            grads = add_gradient_terms(grads, self.params, self.learning_rate, steppers)
            loss += sum(c.loss_term(self.params) for c in steppers)
        for name, grad in grads.items():
            self.params[name] -= (self.learning_rate * grad).astype(np.float32)
        return loss

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs of minibatch SGD; return the mean loss."""
        start = self.get_weights()
        for callback in self.callbacks:
            callback.on_fit_start(self, start)
        features = int(np.prod(self.data.input_shape))
        x = self.data.x_train.reshape(len(self.data.x_train), features).astype(
            np.float32
        )
        y = self.data.y_train.astype(np.int64)
        rng = np.random.default_rng([self.seed, round])
        losses: list[float] = []
        for _ in range(self.epochs):
            order = rng.permutation(len(y))
            for begin in range(0, len(y), self.batch_size):
                batch = order[begin : begin + self.batch_size]
                losses.append(self._step(x[batch], y[batch]))
        weights = self.get_weights()
        for callback in self.callbacks:
            weights = callback.on_fit_end(self, weights)
        self.extra = dict(weights.extra)
        return {"loss": float(np.mean(losses)) if losses else 0.0}

    def evaluate(self) -> dict[str, float]:
        """Return cross-entropy loss and accuracy on the test split."""
        y = self.data.y_test.astype(np.int64)
        if len(y) == 0:
            return {"loss": 0.0, "accuracy": 0.0}
        x = self.data.x_test.reshape(len(y), -1).astype(np.float32)
        probs, _ = self._forward(x)
        loss = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
        accuracy = float((probs.argmax(axis=1) == y).mean())
        return {"loss": loss, "accuracy": accuracy}
