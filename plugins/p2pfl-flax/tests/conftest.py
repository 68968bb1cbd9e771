"""Shared data for the p2pfl-flax tests: scikit-learn's digits, split 80/20."""

from __future__ import annotations

import numpy as np
import pytest
from p2pfl_core.data.dataset import Dataset, NodeData
from p2pfl_core.data.partition import train_test_split
from p2pfl_core.data.sources import load_digits


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """All 1,797 digits."""
    return load_digits()


@pytest.fixture(scope="session")
def small_digits(digits: Dataset) -> NodeData:
    """The first 250 digits: 200 train and 50 test samples."""
    return train_test_split(digits, np.arange(250), test_fraction=0.2, seed=0)
