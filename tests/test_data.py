"""Tests of the data sources and partitioners."""

from __future__ import annotations

import numpy as np
import pytest

from p2pfl_core.data.dataset import Dataset
from p2pfl_core.data.partition import dirichlet, iid, label_skew, train_test_split
from p2pfl_core.data.sources import load_csv, load_digits, load_npz


def _check_partition(parts: list[np.ndarray], total: int) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == total
    assert len(np.unique(joined)) == total


def test_digits_has_1797_scaled_samples() -> None:
    """scikit-learn's digits: 1,797 samples of 64 features in [0, 1], 10 classes."""
    data = load_digits()
    assert data.x.shape == (1797, 64)
    assert data.x.dtype == np.float32
    assert data.x.max() == 1.0
    assert data.num_classes == 10
    assert np.bincount(data.y)[0] == 178


def test_iid_deals_near_equal_parts() -> None:
    """10 samples over 3 nodes give parts of 4, 3 and 3."""
    parts = iid(np.zeros(10, np.int64), 3, seed=0)
    assert [len(p) for p in parts] == [4, 3, 3]
    _check_partition(parts, 10)


def test_partitions_depend_only_on_the_seed() -> None:
    """Seed 42 twice gives the same split; seed 43 another."""
    labels = load_digits().y
    first = dirichlet(labels, 8, seed=42, alpha=0.5)
    again = dirichlet(labels, 8, seed=42, alpha=0.5)
    other = dirichlet(labels, 8, seed=43, alpha=0.5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    _check_partition(first, 1797)


def test_dirichlet_gives_up_with_a_clear_error() -> None:
    """20 samples, 10 nodes, alpha 0.05: bounded attempts, then an error naming alpha."""
    labels = np.array([0] * 10 + [1] * 10)
    for minimum in (1, 2):
        with pytest.raises(ValueError, match="alpha=0.05.*min_partition_size=") as info:
            dirichlet(labels, 10, seed=0, alpha=0.05, min_partition_size=minimum)
        assert "10 attempts" in str(info.value)


def test_dirichlet_success_is_disjoint_and_complete() -> None:
    """Any successful split covers every sample exactly once."""
    labels = np.array([0] * 10 + [1] * 10)
    parts = dirichlet(labels, 2, seed=1, alpha=100.0)
    _check_partition(parts, 20)


def test_dirichlet_rejects_bad_alpha() -> None:
    """alpha must be positive."""
    with pytest.raises(ValueError, match="alpha must be > 0"):
        dirichlet(np.zeros(10, np.int64), 2, seed=0, alpha=0)


def test_label_skew_too_many_classes() -> None:
    """4 classes per node with 3 classes: an immediate error, no hang."""
    labels = np.repeat([0, 1, 2], 10)
    with pytest.raises(
        ValueError,
        match="classes_per_node=4 must be between 1 and the number of classes \\(3\\)",
    ):
        label_skew(labels, 4, seed=0, classes_per_node=4)


def test_label_skew_short_label_fails_with_counts() -> None:
    """Label 0 needed by 3 nodes with 2 samples: the error states both counts."""
    labels = np.array([0] * 2 + [1] * 10 + [2] * 10)
    with pytest.raises(
        ValueError, match="label 0 is needed by 3 nodes but has only 2 samples"
    ):
        label_skew(labels, 3, seed=0, classes_per_node=3)


def test_label_skew_gives_each_node_its_classes() -> None:
    """2 classes per node over 5 nodes: every node gets exactly 2 labels."""
    data = load_digits()
    parts = label_skew(data.y, 5, seed=0, classes_per_node=2)
    assert [len(np.unique(data.y[p])) for p in parts] == [2, 2, 2, 2, 2]
    _check_partition(parts, 1797)


def test_train_test_split_holds_out_a_fraction() -> None:
    """20 samples at 0.25 give 15 train and 5 test samples, disjoint."""
    data = Dataset(np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20) % 2, 2)
    split = train_test_split(data, np.arange(20), test_fraction=0.25, seed=0)
    assert len(split.y_train) == 15
    assert len(split.y_test) == 5
    train_rows = {tuple(r) for r in split.x_train}
    assert not train_rows & {tuple(r) for r in split.x_test}


def test_npz_and_csv_sources_read_small_files(tmp_path: object) -> None:
    """Files written by the test load back with the right labels."""
    from pathlib import Path

    folder = Path(str(tmp_path))
    np.savez(folder / "d.npz", x=np.ones((4, 3)), y=np.array([0, 1, 2, 1]))
    npz = load_npz(str(folder / "d.npz"))
    assert npz.num_classes == 3
    assert npz.x.shape == (4, 3)
    (folder / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    table = load_csv(str(folder / "d.csv"))
    assert table.y.tolist() == [0, 1]
    assert table.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_npz_with_objects_is_refused(tmp_path: object) -> None:
    """An .npz holding a pickled object array is not loaded."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_npz(str(path))
