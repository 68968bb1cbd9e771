"""Exception types shared by the core and plugins."""

from __future__ import annotations


class P2PFLError(Exception):
    """Base class of the errors p2pfl raises on purpose."""


class DecodeError(P2PFLError):
    """Bytes from a peer or a file are malformed, oversize or inconsistent."""


class ConfigError(P2PFLError):
    """An experiment or node file is invalid; the message names the key path."""


class PluginError(P2PFLError):
    """A component cannot be resolved: unknown, ambiguous or failed to load."""


class AggregationError(P2PFLError):
    """Models cannot be aggregated (no models, mismatching layers, zero weights)."""


class NoModelsError(AggregationError):
    """``aggregate`` was called with no models."""


class ModelMismatchError(AggregationError):
    """Two models differ in layer names, shapes or dtypes."""
