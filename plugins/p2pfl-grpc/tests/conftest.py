"""Fixtures of the gRPC transport tests: real endpoints on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from grpc_helpers import NodeFactory, fast_settings
from p2pfl_core.communication.protocol import ProtocolSettings
from p2pfl_core.testing.waiting import connect_and_wait

from p2pfl_grpc.certs import CertificatePaths, make_certificates
from p2pfl_grpc.protocol import GrpcProtocol
from p2pfl_grpc.settings import GrpcSettings


@pytest.fixture
def make_node() -> Iterator[NodeFactory]:
    """Provide a factory of started gRPC endpoints, stopped after the test.

    ``make_node(address=None, start=True, settings=None, **grpc_options)``
    passes ``grpc_options`` to :class:`GrpcSettings`.
    """
    created: list[GrpcProtocol] = []

    def factory(
        address: str | None = None,
        *,
        start: bool = True,
        settings: ProtocolSettings | None = None,
        **grpc_options: Any,
    ) -> GrpcProtocol:
        options = {"connect_timeout": 2.0, **grpc_options}
        node = GrpcProtocol(
            address, settings or fast_settings(), grpc_settings=GrpcSettings(**options)
        )
        created.append(node)
        if start:
            node.start()
        return node

    yield factory
    for node in created:
        node.stop(notify=False)


@pytest.fixture
def pair(make_node: NodeFactory) -> tuple[GrpcProtocol, GrpcProtocol]:
    """Provide two connected endpoints."""
    first, second = make_node(), make_node()
    assert connect_and_wait(first, second)
    return first, second


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificatePaths:
    """Provide a CA with a server and a client certificate for 127.0.0.1."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertificatePaths:
    """Provide certificates of a second, unrelated CA."""
    return make_certificates(tmp_path_factory.mktemp("other-certs"))
