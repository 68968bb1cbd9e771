"""Test loss and accuracy of a classifier, from its logits, for any framework.

A learner whose model outputs logits computes them batch by batch in its
framework and leaves the softmax cross-entropy and the accuracy to
:func:`classification_metrics`, in float64 numpy, so every framework reports
the same numbers for the same logits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["classification_metrics"]


def classification_metrics(
    logits_of: Callable[[np.ndarray], np.ndarray],
    labels: np.ndarray,
    batch_size: int,
) -> dict[str, float]:
    """Return the mean cross-entropy ``loss`` and the ``accuracy`` of a test split.

    Args:
        logits_of: Returns the logits, one row per sample, of the test samples
            at the given row indices.
        labels: The integer labels of the test split.
        batch_size: Rows per call of ``logits_of``.

    Returns:
        ``{"loss": ..., "accuracy": ...}``; both 0.0 for an empty split. Ties
        between the largest logits go to the first class.
    """
    total = len(labels)
    if total == 0:
        return {"loss": 0.0, "accuracy": 0.0}
    loss_sum = 0.0
    correct = 0
    for begin in range(0, total, batch_size):
        rows = np.arange(begin, min(begin + batch_size, total))
        logits = np.asarray(logits_of(rows), np.float64)
        y = labels[rows]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss_sum += float(-log_probs[np.arange(len(y)), y].sum())
        correct += int((logits.argmax(axis=1) == y).sum())
    return {"loss": loss_sum / total, "accuracy": correct / total}
