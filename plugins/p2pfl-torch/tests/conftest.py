"""Shared data for the p2pfl-torch tests: scikit-learn's digits, split 80/20."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from p2pfl_core.data.dataset import Dataset, NodeData
from p2pfl_core.data.partition import train_test_split
from p2pfl_core.data.sources import load_digits


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """All 1,797 digits."""
    return load_digits()


@pytest.fixture(scope="session")
def digits_split(digits: Dataset) -> NodeData:
    """All digits: 1,438 train and 359 test samples."""
    return train_test_split(digits, np.arange(len(digits)), test_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def small_digits(digits: Dataset) -> NodeData:
    """The first 250 digits: 200 train and 50 test samples."""
    return train_test_split(digits, np.arange(250), test_fraction=0.2, seed=0)


@pytest.fixture(autouse=True)
def restore_torch_threads() -> Iterator[None]:
    """Undo the process-wide thread count a learner sets."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
