"""Tests of the built-in topologies."""

from __future__ import annotations

import pytest

from p2pfl_core import topology


def test_small_topologies_have_the_expected_edges() -> None:
    """Edges of 4 nodes for each deterministic topology."""
    assert topology.full(4) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert topology.ring(4) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    assert topology.line(4) == [(0, 1), (1, 2), (2, 3)]
    assert topology.star(4) == [(0, 1), (0, 2), (0, 3)]
    assert topology.ring(2) == [(0, 1)]


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_random_topology_is_connected_and_seeded(n: int) -> None:
    """A random graph is connected, has about degree*n/2 edges, and repeats per seed."""
    edges = topology.random(n, seed=4, degree=3)
    assert topology.is_connected(n, edges)
    assert edges == topology.random(n, seed=4, degree=3)
    assert len(edges) == min(round(3 * n / 2), n * (n - 1) // 2) or n <= 2


def test_zero_nodes_is_an_error() -> None:
    """A topology needs a node."""
    with pytest.raises(ValueError, match="at least 1 node"):
        topology.ring(0)
