"""p2pfl-core's transport contract, run against the gRPC transport."""

from __future__ import annotations

import socket

from p2pfl_core.testing import ProtocolContract

from p2pfl_grpc.protocol import GrpcProtocol
from p2pfl_grpc.settings import GrpcSettings


def _free_port_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


class TestGrpcProtocol(ProtocolContract):
    """The contract on real gRPC endpoints on 127.0.0.1."""

    unreachable_address = _free_port_address()

    def make_protocol(self) -> GrpcProtocol:
        options = GrpcSettings(connect_timeout=1.0, retries=2, retry_backoff=0.05)
        return GrpcProtocol("127.0.0.1:0", self.settings, grpc_settings=options)
