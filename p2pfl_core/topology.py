"""Topologies: which nodes of an experiment connect to which.

Each function returns the sorted list of undirected edges ``(i, j)`` with
``i < j`` between node indices ``0..n-1``.
"""

from __future__ import annotations

import numpy as np

Edges = list[tuple[int, int]]


def _check(n: int, minimum: int = 1) -> None:
    if n < minimum:
        raise ValueError(f"a topology needs at least {minimum} node(s), got {n}")


def full(n: int, *, seed: int = 0) -> Edges:
    """Connect every pair of nodes."""
    _check(n)
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def line(n: int, *, seed: int = 0) -> Edges:
    """Connect node i to node i+1."""
    _check(n)
    return [(i, i + 1) for i in range(n - 1)]


def ring(n: int, *, seed: int = 0) -> Edges:
    """Connect node i to node i+1, and the last node to the first."""
    _check(n)
    if n <= 2:
        return line(n)
    return sorted({tuple(sorted((i, (i + 1) % n))) for i in range(n)})  # type: ignore[misc]


def star(n: int, *, seed: int = 0) -> Edges:
    """Connect node 0 to every other node."""
    _check(n)
    return [(0, i) for i in range(1, n)]


def random(n: int, *, seed: int = 0, degree: float = 3.0) -> Edges:
    """Return a seeded random connected graph with about ``degree`` edges per node.

    A random spanning tree guarantees connectivity; random extra edges are
    added until the mean degree is reached.
    """
    _check(n)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    edges: set[tuple[int, int]] = set()
    for position in range(1, n):
        parent = order[int(rng.integers(0, position))]
        child = order[position]
        edges.add((int(min(parent, child)), int(max(parent, child))))
    target = min(int(round(degree * n / 2)), n * (n - 1) // 2)
    while len(edges) < target:
        i, j = (int(v) for v in rng.choice(n, size=2, replace=False))
        edges.add((min(i, j), max(i, j)))
    return sorted(edges)


def is_connected(n: int, edges: Edges) -> bool:
    """Return True when every node is reachable from node 0."""
    adjacency: dict[int, set[int]] = {i: set() for i in range(n)}
    for i, j in edges:
        adjacency[i].add(j)
        adjacency[j].add(i)
    seen = {0}
    frontier = [0]
    while frontier:
        for neighbor in adjacency[frontier.pop()]:
            if neighbor not in seen:
                seen.add(neighbor)
                frontier.append(neighbor)
    return len(seen) == n
