"""Process-wide TensorFlow setup: thread pools and seeded model construction.

Keras keeps two kinds of global state that matter when many learners share
one process. Its random initializers draw their seeds from Python's global
``random`` module, and its automatic layer names (``dense``, ``dense_1``, ...)
come from counters kept per thread. Building every model in a new thread,
under a lock, with Keras seeded from the node's seed, therefore gives the same
initial weights and the same weight names in every process and every thread.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

_build_lock = threading.Lock()
_threads_lock = threading.Lock()
_threads_warned = False


def configure_threads(threads: int | None) -> None:
    """Set TensorFlow's intra-op and inter-op thread pools to ``threads`` each.

    TensorFlow fixes its pools when its runtime starts (on the first operation
    or model built), so only the first call before that takes effect. A later
    call that requests another size changes nothing and logs a warning, once
    per process.

    Args:
        threads: Threads per pool; None leaves TensorFlow's setting unchanged.
    """
    global _threads_warned
    if threads is None:
        return
    with _threads_lock:
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        if intra == threads and inter == threads:
            return
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            if _threads_warned:
                return
            _threads_warned = True
            logger.warning(
                "TensorFlow runtime already started with %d intra-op and %d "
                "inter-op threads (0 means one per core); learner.threads=%d not "
                "applied. Build the first learner before running TensorFlow "
                "operations, or set learner.threads to null",
                intra,
                inter,
                threads,
            )


def build_seeded(
    build: Callable[[], keras.Model], input_shape: tuple[int, ...], seed: int
) -> keras.Model:
    """Call ``build`` in a new thread with Keras seeded from ``seed``.

    The model is called once on a zero batch when ``build`` returns it
    unbuilt, so its weights exist before this function returns. Python's and
    numpy's global random states are restored afterwards.

    Args:
        build: Returns a Keras model.
        input_shape: Shape of one sample, for building an unbuilt model.
        seed: Seed of the initial weights.

    Returns:
        The model ``build`` returned, with its weights created.

    Raises:
        Exception: Whatever ``build`` raised, re-raised in the caller's thread.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            keras.utils.set_random_seed(seed)
            model = build()
            if isinstance(model, keras.Model) and not model.weights:
                model(np.zeros((1, *input_shape), np.float32), training=False)
            outcome["model"] = model
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc

    with _build_lock:
        python_state = random.getstate()
        numpy_state = np.random.get_state()
        try:
            worker = threading.Thread(target=run, name=f"p2pfl-keras-build-{seed}")
            worker.start()
            worker.join()
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["model"]  # type: ignore[no-any-return]


def check_backend() -> None:
    """Raise when Keras runs on another backend than TensorFlow.

    Raises:
        RuntimeError: ``keras.backend.backend()`` is not ``tensorflow``.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"the tensorflow learner needs Keras on the TensorFlow backend, but "
            f"Keras runs on {backend!r}; unset KERAS_BACKEND or set it to "
            "'tensorflow' before Python starts"
        )
