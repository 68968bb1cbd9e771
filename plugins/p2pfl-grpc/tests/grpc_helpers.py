"""Helpers shared by the gRPC transport tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from p2pfl_core.communication.protocol import ProtocolSettings

from p2pfl_grpc.certs import CertificatePaths
from p2pfl_grpc.protocol import GrpcProtocol
from p2pfl_grpc.settings import GrpcSettings

NodeFactory = Callable[..., GrpcProtocol]
"""Signature of the ``make_node`` fixture."""


def fast_settings(**overrides: Any) -> ProtocolSettings:
    """Return protocol settings with short heartbeats, so evictions take seconds."""
    values: dict[str, Any] = {"heartbeat_period": 0.2, "heartbeat_timeout": 2.0}
    values.update(overrides)
    return ProtocolSettings(**values)


def tls_options(
    paths: CertificatePaths, *, mutual: bool, client: bool = False
) -> dict[str, Any]:
    """Return ``make_node`` options for TLS with ``paths``."""
    tls: dict[str, Any] = {
        "cert": paths.server_cert,
        "key": paths.server_key,
        "ca": paths.ca,
    }
    tls["mutual"] = mutual
    if client:
        tls["client_cert"], tls["client_key"] = paths.client_cert, paths.client_key
    return {"tls": GrpcSettings.from_mapping({"tls": tls}).tls}


def payload_of(size: int, seed: int = 0) -> bytes:
    """Return ``size`` pseudo-random bytes."""
    return np.random.default_rng(seed).bytes(size)
