"""TLS, mutual TLS and the plain-text policy."""

from __future__ import annotations

import grpc
import pytest
from grpc_helpers import NodeFactory, tls_options
from p2pfl_core.communication.message import Message
from p2pfl_core.errors import ConfigError
from p2pfl_core.testing.waiting import Mailbox, connect_and_wait

from p2pfl_grpc.certs import CertificatePaths
from p2pfl_grpc.proto import node_pb2, node_pb2_grpc
from p2pfl_grpc.protocol import GrpcProtocol
from p2pfl_grpc.settings import GrpcSettings


def _exchange(first: GrpcProtocol, second: GrpcProtocol) -> bool:
    mailbox = Mailbox(second, ["ping"])
    first.send(second.address, Message("ping", first.address, payload=b"secret"))
    return mailbox.wait_for("ping")


def test_tls_nodes_exchange_messages(
    make_node: NodeFactory, certs: CertificatePaths
) -> None:
    """Two nodes with server-side TLS connect and exchange a message."""
    first = make_node(**tls_options(certs, mutual=False))
    second = make_node(**tls_options(certs, mutual=False))
    assert connect_and_wait(first, second)
    assert _exchange(first, second)


def test_mutual_tls_nodes_exchange_messages(
    make_node: NodeFactory, certs: CertificatePaths
) -> None:
    """Mutual TLS nodes, one with the client certificate, exchange messages."""
    first = make_node(**tls_options(certs, mutual=True, client=True))
    second = make_node(**tls_options(certs, mutual=True))
    assert connect_and_wait(first, second)
    assert _exchange(first, second)
    assert _exchange(second, first)


def test_mutual_tls_rejects_foreign_certificate(
    make_node: NodeFactory,
    certs: CertificatePaths,
    other_certs: CertificatePaths,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client whose certificate another CA signed cannot connect and logs why."""
    server = make_node(**tls_options(certs, mutual=True))
    foreign = GrpcSettings.from_mapping(
        {
            "tls": {
                "cert": other_certs.server_cert,
                "key": other_certs.server_key,
                "ca": certs.ca,
                "mutual": True,
            }
        }
    ).tls
    intruder = make_node(tls=foreign, connect_timeout=1.0)
    assert intruder.connect(server.address) is False
    assert server.neighbors() == []
    assert "cannot reach" in caplog.text


def test_mutual_tls_rejects_client_without_certificate(
    make_node: NodeFactory, certs: CertificatePaths
) -> None:
    """The server rejects a TLS client that presents no certificate."""
    server = make_node(**tls_options(certs, mutual=True))
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    with grpc.secure_channel(server.address, credentials) as channel:
        stub = node_pb2_grpc.NodeTransportStub(channel)
        envelope = node_pb2.Envelope(sender="127.0.0.1:9", data=b"x")
        with pytest.raises(grpc.RpcError) as raised:
            stub.Send(envelope, timeout=2.0)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.servicer.dropped == 0


def test_plain_text_client_rejected_by_tls_server(
    make_node: NodeFactory, certs: CertificatePaths
) -> None:
    """A plain-text node cannot connect to a TLS node."""
    server = make_node(**tls_options(certs, mutual=False))
    client = make_node(connect_timeout=1.0)
    assert client.connect(server.address) is False


def test_plain_text_on_other_host_needs_insecure() -> None:
    """A non-loopback address without TLS or insecure is a configuration error."""
    with pytest.raises(ConfigError, match="plain-text gRPC on address 10.1.2.3"):
        GrpcProtocol("10.1.2.3:0")


def test_plain_text_bind_on_all_interfaces_needs_insecure() -> None:
    """Listening on 0.0.0.0 without TLS or insecure is a configuration error."""
    with pytest.raises(ConfigError, match="plain-text gRPC on bind_host 0.0.0.0"):
        GrpcProtocol("127.0.0.1:0", grpc_settings=GrpcSettings(bind_host="0.0.0.0"))


def test_unspecified_address_rejected() -> None:
    """0.0.0.0 as a node address is rejected, because peers cannot reach it."""
    with pytest.raises(ConfigError, match="cannot be reached by peers"):
        GrpcProtocol("0.0.0.0:0", grpc_settings=GrpcSettings(insecure=True))


def test_plain_text_connect_to_other_host_refused(make_node: NodeFactory) -> None:
    """Without TLS, connect() to a non-loopback address fails before any traffic."""
    node = make_node()
    assert node.connect("10.1.2.3:50051") is False
