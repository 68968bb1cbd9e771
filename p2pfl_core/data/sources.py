"""Data sources: functions that return a whole :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from p2pfl_core.data.dataset import Dataset


def load_digits(**options: object) -> Dataset:
    """Return scikit-learn's 8x8 digits (1,797 samples, 10 classes).

    Pixel values 0..16 are scaled to 0..1. The data ships inside
    scikit-learn, so nothing is downloaded.
    """
    if options:
        raise TypeError(f"digits takes no options, got {sorted(options)}")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return Dataset(x, y, 10, "digits")


def load_npz(path: str | None = None, x_key: str = "x", y_key: str = "y") -> Dataset:
    """Load features and labels from a ``.npz`` file, never unpickling objects.

    Raises:
        ValueError: No path was given.
    """
    if path is None:
        raise ValueError(
            "dataset npz needs a file: set dataset_options: {path: data.npz}"
        )
    with np.load(Path(path), allow_pickle=False) as archive:
        x = archive[x_key]
        y = archive[y_key].astype(np.int64)
    return Dataset(x, y, int(y.max()) + 1 if len(y) else 0, Path(path).stem)


def load_csv(
    path: str | None = None, label_column: int = -1, skip_header: bool = True
) -> Dataset:
    """Load a numeric CSV file whose ``label_column`` contains integer labels.

    Raises:
        ValueError: No path was given.
    """
    if path is None:
        raise ValueError(
            "dataset csv needs a file: set dataset_options: {path: data.csv}"
        )
    table = np.loadtxt(
        Path(path), delimiter=",", skiprows=1 if skip_header else 0, ndmin=2
    )
    y = table[:, label_column].astype(np.int64)
    x = np.delete(table, label_column % table.shape[1], axis=1).astype(np.float32)
    return Dataset(x, y, int(y.max()) + 1 if len(y) else 0, Path(path).stem)
