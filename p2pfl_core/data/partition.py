"""Partitioners: split sample indices across nodes, seeded.

Each partitioner takes the label array and returns one index array per
node. The partitions are disjoint and their union is every sample.
"""

from __future__ import annotations

import numpy as np

from p2pfl_core.data.dataset import Dataset, NodeData

MAX_DIRICHLET_ATTEMPTS = 10


def iid(labels: np.ndarray, num_nodes: int, *, seed: int) -> list[np.ndarray]:
    """Shuffle the samples and deal them out in near-equal parts."""
    _check_nodes(labels, num_nodes)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part) for part in np.array_split(order, num_nodes)]


def dirichlet(
    labels: np.ndarray,
    num_nodes: int,
    *,
    seed: int,
    alpha: float = 0.5,
    min_partition_size: int = 1,
) -> list[np.ndarray]:
    """Give each class to the nodes in Dirichlet(alpha) proportions.

    Small ``alpha`` gives each node few classes. Proportions are redrawn
    while a partition has fewer than ``min_partition_size`` samples, at most
    ``MAX_DIRICHLET_ATTEMPTS`` times.

    Raises:
        ValueError: ``alpha`` is not positive, or no draw gave every node
            ``min_partition_size`` samples.
    """
    _check_nodes(labels, num_nodes)
    if not alpha > 0:
        raise ValueError(f"dirichlet alpha must be > 0, got {alpha}")
    if min_partition_size * num_nodes > len(labels):
        raise ValueError(
            f"{len(labels)} samples cannot give {num_nodes} nodes "
            f"{min_partition_size} each"
        )
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(MAX_DIRICHLET_ATTEMPTS):
        parts: list[list[int]] = [[] for _ in range(num_nodes)]
        for label in classes:
            members = rng.permutation(np.flatnonzero(labels == label))
            shares = rng.dirichlet(np.full(num_nodes, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for node, chunk in enumerate(np.split(members, cuts)):
                parts[node].extend(int(i) for i in chunk)
        if min(len(p) for p in parts) >= min_partition_size:
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise ValueError(
        f"dirichlet partition with alpha={alpha} gave some of the {num_nodes} nodes "
        f"fewer than min_partition_size={min_partition_size} samples in "
        f"{MAX_DIRICHLET_ATTEMPTS} attempts; raise alpha, lower "
        "min_partition_size or use fewer nodes"
    )


def label_skew(
    labels: np.ndarray, num_nodes: int, *, seed: int, classes_per_node: int = 2
) -> list[np.ndarray]:
    """Give each node ``classes_per_node`` classes, shared evenly among holders.

    Classes are assigned round-robin over a seeded shuffle, so every class is
    used when ``num_nodes * classes_per_node`` covers them.

    Raises:
        ValueError: More classes per node than classes exist, or a class has
            fewer samples than the nodes that need it.
    """
    _check_nodes(labels, num_nodes)
    classes = np.unique(labels)
    if not 1 <= classes_per_node <= len(classes):
        raise ValueError(
            f"classes_per_node={classes_per_node} must be between 1 and the number "
            f"of classes ({len(classes)})"
        )
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(classes)
    owners: dict[int, list[int]] = {int(c): [] for c in classes}
    for node in range(num_nodes):
        for slot in range(classes_per_node):
            label = int(shuffled[(node * classes_per_node + slot) % len(classes)])
            owners[label].append(node)
    parts: list[list[int]] = [[] for _ in range(num_nodes)]
    for label, nodes in owners.items():
        members = rng.permutation(np.flatnonzero(labels == label))
        if nodes and len(members) < len(nodes):
            raise ValueError(
                f"label {label} is needed by {len(nodes)} nodes but has only "
                f"{len(members)} samples; lower classes_per_node or num_nodes"
            )
        for node, chunk in zip(
            nodes, np.array_split(members, max(len(nodes), 1)), strict=False
        ):
            parts[node].extend(int(i) for i in chunk)
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def _check_nodes(labels: np.ndarray, num_nodes: int) -> None:
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if len(labels) < num_nodes:
        raise ValueError(
            f"{len(labels)} samples cannot be split across {num_nodes} nodes"
        )


def train_test_split(
    dataset: Dataset, indices: np.ndarray, *, test_fraction: float, seed: int
) -> NodeData:
    """Split one node's samples into a train and a held-out test part."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(indices)
    num_test = int(round(len(order) * test_fraction))
    test, train = np.sort(order[:num_test]), np.sort(order[num_test:])
    return NodeData(
        dataset.x[train],
        dataset.y[train],
        dataset.x[test],
        dataset.y[test],
        dataset.num_classes,
    )
