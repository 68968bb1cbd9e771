"""Data sources, per-node partitions and the arrays a learner trains on."""

from p2pfl_core.data.dataset import Dataset, NodeData

__all__ = ["Dataset", "NodeData"]
