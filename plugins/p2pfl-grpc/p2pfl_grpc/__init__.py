"""gRPC transport for p2pfl: nodes in separate processes and on separate machines.

The transport is registered as the ``grpc`` protocol by :mod:`p2pfl_grpc.plugin`;
:class:`p2pfl_grpc.protocol.GrpcProtocol` is the implementation.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
