"""The torch learner: trains an ``nn.Module`` on one node's data."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from p2pfl_core.algorithms.catalog import learner_callbacks
from p2pfl_core.algorithms.step_terms import begin_fit, end_fit, momentum_step_size
from p2pfl_core.data.dataset import NodeData
from p2pfl_core.learning.learner import Learner, LearnerCallback
from p2pfl_core.weights import ModelWeights
from torch import Tensor, nn
from torch.nn import functional

from p2pfl_torch.lightning_support import (
    configured_optimizer,
    is_lightning_style,
    training_step_loss,
)
from p2pfl_torch.seeding import build_seeded_model, round_seed
from p2pfl_torch.settings import PARSER
from p2pfl_torch.state import load_weights_into, weights_from_module
from p2pfl_torch.step_terms import TorchStepTerms

logger = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
LossFunction = Callable[[Tensor, Tensor], Tensor]

EVALUATION_BATCH_SIZE = 1024


class TorchLearner(Learner):
    """Minibatch training of a torch model, with weights as ``ModelWeights``.

    Weights are the model's ``state_dict()``: parameters and buffers, under
    their ``state_dict`` names and dtypes, so an integer buffer such as
    BatchNorm's ``num_batches_tracked`` stays int64.

    A Lightning-style model (one with ``training_step`` and
    ``configure_optimizers``) trains through those two methods when
    ``optimizer`` is None; evaluation always uses ``model(x)`` as logits.

    Args:
        model: The model; used as it is, not copied.
        data: The node's data, passed to the model with its sample shape.
        optimizer: ``"sgd"``, ``"adam"``, a function from parameters to an
            optimizer, or None for the model's ``configure_optimizers`` (sgd
            when the model has none). A new optimizer is made every round.
        learning_rate: Step size of ``"sgd"`` and ``"adam"``.
        momentum: Momentum of ``"sgd"``.
        seed: Seed of the data order, mixed with the round.
        epochs: Local epochs per round.
        batch_size: Samples per training step.
        threads: torch intra-op threads, set process-wide when the learner
            is built; None leaves torch's setting unchanged. One thread each
            suits many nodes training in threads of one process.
        loss_function: Training and evaluation loss of logits and labels,
            averaged over the batch; cross-entropy by default.
        callbacks: Algorithm callbacks.
    """

    name = "torch"

    def __init__(
        self,
        model: nn.Module,
        data: NodeData,
        *,
        optimizer: str | OptimizerFactory | None = None,
        learning_rate: float = 0.1,
        momentum: float = 0.0,
        seed: int = 0,
        epochs: int = 1,
        batch_size: int = 32,
        threads: int | None = 1,
        loss_function: LossFunction | None = None,
        callbacks: list[LearnerCallback] | None = None,
    ) -> None:
        super().__init__(
            data, seed=seed, epochs=epochs, batch_size=batch_size, callbacks=callbacks
        )
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}; use a non-negative seed")
        if threads is not None:
            torch.set_num_threads(threads)
        self.model = model
        self.loss_function: LossFunction = loss_function or functional.cross_entropy
        self._lightning_step = optimizer is None and is_lightning_style(model)
        self._make_optimizer = self._optimizer_factory(
            optimizer, learning_rate, momentum
        )
        device = next(model.parameters(), torch.empty(0)).device
        self.x_train = torch.as_tensor(data.x_train, dtype=torch.float32, device=device)
        self.y_train = torch.as_tensor(data.y_train, dtype=torch.int64, device=device)
        self.x_test = torch.as_tensor(data.x_test, dtype=torch.float32, device=device)
        self.y_test = torch.as_tensor(data.y_test, dtype=torch.int64, device=device)
        self._extra: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], data: NodeData, *, seed: int
    ) -> TorchLearner:
        """Build a learner from the ``learner`` section of an experiment file.

        Reads ``model``, ``model_args``, ``optimizer``, ``learning_rate``,
        ``momentum``, ``batch_size``, ``epochs``, ``threads`` and
        ``algorithm``. The same seed gives bit-identical initial weights.

        Raises:
            ConfigError: An invalid setting, or a builder that rejects its
                ``model_args`` or returns no ``nn.Module``; the message names
                ``learner.<key>``.
        """
        options = PARSER.parse(settings)
        model = PARSER.build_model(
            options.model,
            options.model_args,
            lambda builder: build_seeded_model(
                builder, seed, data.input_shape, data.num_classes, **options.model_args
            ),
            model_type=nn.Module,
            type_name="torch.nn.Module",
        )
        return cls(
            model,
            data,
            optimizer=options.optimizer,
            learning_rate=options.learning_rate,
            momentum=options.momentum,
            seed=seed,
            epochs=options.epochs,
            batch_size=options.batch_size,
            threads=options.threads,
            callbacks=learner_callbacks(options.algorithm),
        )

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        data: NodeData,
        *,
        copy_model: bool = True,
        **options: Any,
    ) -> TorchLearner:
        """Wrap a model built in Python, such as a ``LightningModule``.

        Args:
            model: The model; deep-copied unless ``copy_model`` is False, so
                one model object can seed many nodes.
            data: The node's data.
            copy_model: Copy the model instead of training it in place.
            **options: Keyword arguments of ``TorchLearner``.
        """
        return cls(copy.deepcopy(model) if copy_model else model, data, **options)

    def get_weights(self) -> ModelWeights:
        """Return a copy of the ``state_dict``, parameters and buffers included."""
        return weights_from_module(
            self.model, num_samples=self.num_samples, extra=self._extra
        )

    def set_weights(self, weights: ModelWeights) -> None:
        """Load weights into the model and keep their ``extra`` arrays.

        Raises:
            ModelMismatchError: Layer names, shapes or dtypes differ from the
                model's ``state_dict``; the message names each layer.
        """
        load_weights_into(self.model, weights)
        self._extra = dict(weights.extra)

    def fit(self, round: int = 0) -> dict[str, float]:
        """Train ``epochs`` epochs on the train split; return the mean batch loss.

        The data order comes from a generator seeded with ``(seed, round)``.
        A trailing batch of one sample joins the batch before it, because
        BatchNorm cannot train on a single sample.

        Callbacks get the starting weights, with the ``extra`` arrays of the
        last ``set_weights``, then the trained ones. FedProx and SCAFFOLD add
        their terms to the gradient of every trainable parameter before each
        optimizer step; buffers such as BatchNorm statistics get none. When
        an ``on_fit_end`` returns other weights, they are loaded into the
        model, and ``get_weights`` includes their ``extra`` arrays until the
        next ``set_weights``.
        """
        trainable = self._trainable_parameters() if self.callbacks else {}
        terms = begin_fit(self, trainable)
        step_terms = None if terms is None else TorchStepTerms(terms, trainable)
        optimizer = self._make_optimizer(self.model.parameters())
        generator = torch.Generator().manual_seed(round_seed(self.seed, round))
        self.model.train()
        losses: list[float] = []
        for _ in range(self.epochs):
            order = torch.randperm(self.num_samples, generator=generator)
            for batch_index, batch in enumerate(_batches(order, self.batch_size)):
                batch = batch.to(self.x_train.device)
                loss = self._training_loss(batch, batch_index)
                if loss is None:
                    continue
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                value = float(loss.detach())
                if step_terms is not None:
                    value += step_terms.add_to_gradients()
                optimizer.step()
                losses.append(value)
        end_fit(self, len(losses), _mean_step_size(optimizer, len(losses)))
        mean_loss = float(np.mean(losses)) if losses else 0.0
        logger.debug(
            "round %d: trained %d epochs on %d samples, loss %.4f",
            round,
            self.epochs,
            self.num_samples,
            mean_loss,
        )
        return {"loss": mean_loss}

    def evaluate(self) -> dict[str, float]:
        """Return the mean loss and the accuracy on the test split (0 when empty)."""
        total = len(self.y_test)
        if total == 0:
            return {"loss": 0.0, "accuracy": 0.0}
        self.model.eval()
        loss_sum, correct = 0.0, 0
        with torch.no_grad():
            for begin in range(0, total, EVALUATION_BATCH_SIZE):
                x = self.x_test[begin : begin + EVALUATION_BATCH_SIZE]
                y = self.y_test[begin : begin + EVALUATION_BATCH_SIZE]
                logits = self.model(x)
                loss_sum += float(self.loss_function(logits, y)) * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
        return {"loss": loss_sum / total, "accuracy": correct / total}

    def _training_loss(self, batch: Tensor, batch_index: int) -> Tensor | None:
        x, y = self.x_train[batch], self.y_train[batch]
        if self._lightning_step:
            return training_step_loss(self.model, (x, y), batch_index)
        return self.loss_function(self.model(x), y)

    def _trainable_parameters(self) -> dict[str, nn.Parameter]:
        """Return the parameters that train, by their ``state_dict`` name."""
        names = self.model.state_dict().keys()
        return {
            name: parameter
            for name, parameter in self.model.named_parameters()
            if parameter.requires_grad and name in names
        }

    def _optimizer_factory(
        self,
        optimizer: str | OptimizerFactory | None,
        learning_rate: float,
        momentum: float,
    ) -> OptimizerFactory:
        if self._lightning_step:
            return lambda _parameters: configured_optimizer(self.model)
        if optimizer is None or optimizer == "sgd":
            return lambda parameters: torch.optim.SGD(
                parameters, lr=learning_rate, momentum=momentum
            )
        if optimizer == "adam":
            return lambda parameters: torch.optim.Adam(parameters, lr=learning_rate)
        if callable(optimizer):
            return optimizer
        raise ValueError(
            f"unknown optimizer {optimizer!r}; use 'sgd', 'adam' or a function "
            "from parameters to a torch.optim.Optimizer"
        )


def _mean_step_size(optimizer: torch.optim.Optimizer, steps: int) -> float:
    """Return the mean step size of a round, for SCAFFOLD's control update.

    SGD with heavy-ball momentum moves further than its learning rate;
    other optimizers count as plain SGD steps of their learning rate.
    """
    group = optimizer.param_groups[0]
    learning_rate = float(group["lr"])
    if (
        isinstance(optimizer, torch.optim.SGD)
        and not group.get("nesterov", False)
        and group.get("dampening", 0.0) == 0.0
    ):
        return momentum_step_size(learning_rate, float(group["momentum"]), steps)
    return learning_rate


def _batches(order: Tensor, batch_size: int) -> Iterator[Tensor]:
    stops = list(range(batch_size, len(order), batch_size)) + [len(order)]
    if len(stops) > 1 and stops[-1] - stops[-2] == 1:
        del stops[-2]
    begin = 0
    for stop in stops:
        if stop > begin:
            yield order[begin:stop]
        begin = stop
