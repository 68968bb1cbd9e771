"""Seeded model construction and per-round data-order seeds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

_INIT_LOCK = threading.Lock()
"""Serialises seeding torch's global generator and building a model, so
learners built at the same time in several threads get their own seed."""


def build_seeded_model(
    builder: Callable[..., nn.Module], seed: int, *args: Any, **kwargs: Any
) -> nn.Module:
    """Call ``builder`` with torch's default generator seeded with ``seed``.

    The generator state is restored afterwards, so the caller's random
    stream is unchanged.

    Note:
        Code in other threads that draws from torch's default generator
        while a model is built changes the drawn initial weights. Training
        draws from it only through random layers such as dropout, which the
        ``mlp`` and ``cnn`` builders leave out by default. With dropout on,
        neither initial weights nor training are reproducible when several
        learners train in threads of one process.
    """
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(*args, **kwargs)


def round_seed(seed: int, round: int) -> int:
    """Return the data-order seed of ``round``, mixed from ``(seed, round)``."""
    return int(np.random.SeedSequence([seed, round]).generate_state(1, np.uint64)[0])
