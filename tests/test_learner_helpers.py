"""Model builder checks and test metrics shared by the framework learners."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.learning.builder_checks import (
    check_dropout,
    check_num_classes,
    image_shape,
    positive_widths,
)
from p2pfl_core.learning.evaluation import classification_metrics


def test_widths_from_int_and_list() -> None:
    """An int is one layer; a list keeps its widths; an empty list has none."""
    assert positive_widths("hidden", 64) == (64,)
    assert positive_widths("hidden", [32, 16]) == (32, 16)
    assert positive_widths("hidden", []) == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "hidden must be positive, got 0"),
        ([8, -1], "hidden must be positive, got [8, -1]"),
        ([8.5], "hidden must be an integer or a list of integers, got [8.5]"),
        (True, "hidden must be an integer or a list of integers, got True"),
    ],
)
def test_invalid_widths(value: object, message: str) -> None:
    """Widths below 1 and non-integers raise ValueError naming the argument."""
    with pytest.raises(ValueError) as error:
        positive_widths("hidden", value)  # type: ignore[arg-type]
    assert str(error.value) == message


def test_num_classes_and_dropout() -> None:
    """No classes and a dropout of 1 are rejected."""
    with pytest.raises(ValueError, match="num_classes must be >= 1, got 0"):
        check_num_classes(0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        check_dropout(1.0)


@pytest.mark.parametrize(
    ("input_shape", "channels_last", "expected"),
    [
        ((64,), False, (1, 8, 8)),
        ((64,), True, (8, 8, 1)),
        ((28, 28), False, (1, 28, 28)),
        ((28, 28), True, (28, 28, 1)),
        ((3, 32, 32), False, (3, 32, 32)),
        ((32, 32, 3), True, (32, 32, 3)),
    ],
)
def test_image_shape(
    input_shape: tuple[int, ...], channels_last: bool, expected: tuple[int, ...]
) -> None:
    """Flat square, 2-d and 3-d samples are read in the framework's order."""
    assert image_shape(input_shape, channels_last=channels_last) == expected


def test_image_shape_rejects_non_square() -> None:
    """A flat sample of 60 features is no image; the message gives the order."""
    with pytest.raises(ValueError) as error:
        image_shape((60,), channels_last=True)
    assert "a sample has 60 features" in str(error.value)
    assert "(height, width, channels)" in str(error.value)


def test_metrics_of_zero_logits() -> None:
    """Zero logits over 4 classes give ln 4 and ties go to class 0."""
    labels = np.array([0, 1, 0, 3, 2])
    metrics = classification_metrics(
        lambda rows: np.zeros((len(rows), 4), np.float32), labels, batch_size=2
    )
    assert metrics["loss"] == pytest.approx(1.3862944, abs=1e-7)
    assert metrics["accuracy"] == 0.4


def test_metrics_batches_cover_every_row() -> None:
    """Batches of 2 over 5 rows request rows 0-1, 2-3 and 4."""
    requested: list[list[int]] = []

    def logits_of(rows: np.ndarray) -> np.ndarray:
        requested.append(rows.tolist())
        return np.eye(3)[np.array([0, 1, 2, 0, 1])[rows]] * 50.0

    metrics = classification_metrics(logits_of, np.array([0, 1, 2, 0, 1]), 2)
    assert requested == [[0, 1], [2, 3], [4]]
    assert metrics["accuracy"] == 1.0
    assert metrics["loss"] == pytest.approx(0.0, abs=1e-12)


def test_metrics_of_empty_split() -> None:
    """No test samples give zeros."""
    metrics = classification_metrics(
        lambda rows: np.zeros((len(rows), 2)), np.zeros(0, np.int64), 8
    )
    assert metrics == {"loss": 0.0, "accuracy": 0.0}
