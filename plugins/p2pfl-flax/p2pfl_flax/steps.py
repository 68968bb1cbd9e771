"""Jitted training and inference steps, shared by every learner of a process.

The steps are pure functions jitted once at module level. Their static
argument is a :class:`StepConfig`, which compares equal for equal models and
optimizer settings. So the learners of a federation that share a model share
one compiled step, and XLA compiles once per process and batch shape, not
once per node or round. Every batch is padded to ``batch_size`` and masked,
so a partition whose size is not a multiple of the batch size adds no shape.

FedProx and SCAFFOLD reach the training step as :data:`TermTrees`, arrays
shaped like ``params`` that change value every round but never structure, so
a new round compiles nothing: a step compiles once without terms and once
with them.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

Variables = dict[str, Any]

TermTrees = tuple[Any, Any, Any]
"""``(mu, anchor, offset)``, each a tree shaped like ``params``; ``mu`` has
a scalar per parameter array."""


@dataclass(frozen=True)
class StepConfig:
    """Everything a step is compiled for, besides array shapes.

    Attributes:
        model: The Flax module; linen modules hash and compare by their fields.
        optimizer: The optax transformation, from :func:`make_optimizer`.
        mutable: Variable collections other than ``params`` that training
            updates, such as ``batch_stats``.
        takes_train: Whether ``model.__call__`` has a ``train`` argument.
    """

    model: nn.Module
    optimizer: optax.GradientTransformation
    mutable: tuple[str, ...]
    takes_train: bool


@functools.lru_cache(maxsize=64)
def make_optimizer(
    name: str, learning_rate: float, momentum: float
) -> optax.GradientTransformation:
    """Return the optax optimizer for the settings, the same object for equal ones.

    Args:
        name: ``sgd`` or ``adam``.
        learning_rate: Step size.
        momentum: SGD momentum; 0 means plain SGD.
    """
    if name == "adam":
        return optax.adam(learning_rate)
    return optax.sgd(learning_rate, momentum=momentum or None)


def takes_train_argument(model: nn.Module) -> bool:
    """Return True when ``model.__call__`` accepts a ``train`` argument."""
    try:
        parameters = inspect.signature(model.__call__).parameters
    except (TypeError, ValueError):
        return False
    return "train" in parameters


def _apply(
    config: StepConfig,
    variables: Variables,
    x: jax.Array,
    *,
    train: bool,
    key: jax.Array | None = None,
) -> tuple[jax.Array, Variables]:
    kwargs: dict[str, Any] = {"train": train} if config.takes_train else {}
    if key is not None:
        kwargs["rngs"] = {"dropout": key}
    if train and config.mutable:
        logits, updates = config.model.apply(
            variables, x, mutable=list(config.mutable), **kwargs
        )
        return logits, dict(updates)
    return config.model.apply(variables, x, **kwargs), {}


@functools.partial(jax.jit, static_argnums=0)
def train_step(
    config: StepConfig,
    variables: Variables,
    optimizer_state: optax.OptState,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    terms: TermTrees | None,
) -> tuple[Variables, optax.OptState, jax.Array]:
    """Take one optimizer step on the masked batch.

    Args:
        config: The model and optimizer (static).
        variables: ``params`` and the other collections.
        optimizer_state: The optimizer's state for ``params``.
        x: A batch of samples, padded to the batch size.
        y: Integer labels of ``x``.
        mask: 1.0 for real samples, 0.0 for padding.
        key: Dropout key of this step.
        terms: FedProx and SCAFFOLD terms; each gradient becomes
            ``g + mu * (w - anchor) + offset``. None adds nothing.

    Returns:
        The new variables, the new optimizer state and the mean loss of the
        real samples, plus the proximal term ``mu / 2 * ||w - anchor||**2``
        of the weights before the step.
    """
    state = {name: value for name, value in variables.items() if name != "params"}

    def loss_of(params: Any) -> tuple[jax.Array, Variables]:
        logits, updates = _apply(
            config, {"params": params, **state}, x, train=True, key=key
        )
        losses = optax.softmax_cross_entropy_with_integer_labels(
            logits.astype(jnp.float32), y
        )
        return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0), updates

    (loss, updates), grads = jax.value_and_grad(loss_of, has_aux=True)(
        variables["params"]
    )
    if terms is not None:
        grads, proximal = _add_terms(grads, variables["params"], terms)
        loss = loss + proximal
    changes, optimizer_state = config.optimizer.update(
        grads, optimizer_state, variables["params"]
    )
    params = optax.apply_updates(variables["params"], changes)
    return {**state, **updates, "params": params}, optimizer_state, loss


def _add_terms(grads: Any, params: Any, terms: TermTrees) -> tuple[Any, jax.Array]:
    """Return the corrected gradients and the proximal term of ``params``."""
    mu, anchor, offset = terms
    corrected = jax.tree_util.tree_map(
        lambda g, w, m, a, o: g + m * (w - a) + o, grads, params, mu, anchor, offset
    )
    squares = jax.tree_util.tree_map(
        lambda w, m, a: (m / 2.0 * jnp.sum(jnp.square(w - a))).astype(jnp.float32),
        params,
        mu,
        anchor,
    )
    return corrected, jnp.sum(jnp.stack(jax.tree_util.tree_leaves(squares)))


@functools.partial(jax.jit, static_argnums=0)
def predict_logits(config: StepConfig, variables: Variables, x: jax.Array) -> jax.Array:
    """Return the float32 logits of the batch ``x`` in inference mode."""
    logits, _ = _apply(config, variables, x, train=False)
    return logits.astype(jnp.float32)
