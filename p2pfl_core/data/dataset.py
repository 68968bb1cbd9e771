"""In-memory datasets and the per-node train/test split a learner receives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features and integer labels of a whole dataset.

    Args:
        x: Features, one row (or one sample of any shape) per sample.
        y: Integer class labels, one per sample.
        num_classes: Number of classes; labels lie in ``[0, num_classes)``.
        name: Short name shown in logs and results.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str = "dataset"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(
                f"dataset {self.name}: {len(self.x)} samples but {len(self.y)} labels"
            )

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> Dataset:
        """Return the samples at ``indices`` as a new dataset."""
        return Dataset(self.x[indices], self.y[indices], self.num_classes, self.name)


@dataclass(frozen=True)
class NodeData:
    """The private data of one node: a train split and a held-out test split.

    Args:
        x_train: Training features.
        y_train: Training labels.
        x_test: Test features.
        y_test: Test labels.
        num_classes: Number of classes in the whole dataset.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def num_samples(self) -> int:
        """Number of training samples."""
        return len(self.y_train)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        return tuple(self.x_train.shape[1:]) or tuple(self.x_test.shape[1:])
