"""Settings from a file's protocol mapping, addresses, plugin and CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from p2pfl_core.communication.protocol import ProtocolSettings
from p2pfl_core.errors import ConfigError

from p2pfl_grpc import plugin
from p2pfl_grpc.address import is_loopback, join_address, split_address
from p2pfl_grpc.certs import CertificatePaths
from p2pfl_grpc.protocol import GrpcProtocol
from p2pfl_grpc.settings import GrpcSettings


def test_from_settings_reads_mapping() -> None:
    """from_settings applies the mapping and sets the core's decode limit."""
    node = GrpcProtocol.from_settings(
        None,
        {
            "name": "grpc",
            "max_message_bytes": 2048,
            "chunk_bytes": 512,
            "max_workers": 1,
        },
        ProtocolSettings(heartbeat_period=0.5),
        None,
    )
    try:
        assert node.grpc_settings.max_message_bytes == 2048
        assert node.grpc_settings.chunk_bytes == 512
        assert node.grpc_settings.max_workers == 1
        assert node.settings.max_message_bytes == 2048
        assert node.settings.heartbeat_period == 0.5
    finally:
        node.stop()


def test_from_settings_uses_protocol_limit() -> None:
    """Without the key, ProtocolSettings.max_message_bytes sets the limit."""
    node = GrpcProtocol.from_settings(
        "127.0.0.1:0", {}, ProtocolSettings(max_message_bytes=4096), None
    )
    try:
        assert node.grpc_settings.max_message_bytes == 4096
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"chunk_size": 1},
            r"protocol.chunk_size: unknown key; choose from: .*chunk_bytes",
        ),
        ({"retries": "3"}, r"protocol.retries: expected int, got '3'"),
        ({"insecure": 1}, r"protocol.insecure: expected bool, got 1"),
        ({"max_workers": True}, r"protocol.max_workers: expected int, got True"),
        ({"max_workers": 0}, r"protocol.max_workers: must be positive, got 0"),
        ({"keepalive_seconds": 1}, r"protocol.keepalive_seconds: must be at least 5"),
        ({"tls": "yes"}, r"protocol.tls: expected a mapping"),
        ({"tls": {"cert": "c.pem"}}, r"protocol.tls: missing key\(s\) key"),
    ],
)
def test_invalid_mapping_names_key(mapping: dict[str, Any], message: str) -> None:
    """Each invalid setting raises ConfigError naming its key path."""
    with pytest.raises(ConfigError, match=message):
        GrpcSettings.from_mapping(mapping)


def test_missing_certificate_file_named(tmp_path: Path) -> None:
    """A TLS file that does not exist is named in the error."""
    missing = tmp_path / "server.pem"
    with pytest.raises(ConfigError, match="protocol.tls.cert: file not found"):
        GrpcSettings.from_mapping({"tls": {"cert": str(missing), "key": str(missing)}})


def test_mutual_tls_needs_ca(certs: CertificatePaths) -> None:
    """mutual: true without a CA is a configuration error."""
    tls = {"cert": str(certs.server_cert), "key": str(certs.server_key), "mutual": True}
    with pytest.raises(ConfigError, match="protocol.tls.mutual: mutual TLS needs"):
        GrpcSettings.from_mapping({"tls": tls})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("[::1]:7000", ("::1", 7000)),
        (":0", ("127.0.0.1", 0)),
        ("node.example.org:443", ("node.example.org", 443)),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    """Addresses split into host and port; a missing host means 127.0.0.1."""
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", "host:http", "host:70000", ""])
def test_split_address_rejects_invalid(address: str) -> None:
    """An address without a valid port raises ValueError with an example."""
    with pytest.raises(ValueError, match="such as 127.0.0.1:50051"):
        split_address(address)


def test_join_address_brackets_ipv6() -> None:
    """IPv6 hosts get brackets, others do not."""
    assert join_address("::1", 80) == "[::1]:80"
    assert join_address("10.0.0.1", 80) == "10.0.0.1:80"


def test_loopback_detection() -> None:
    """localhost, 127.0.0.0/8 and ::1 are loopback; other hosts are not."""
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.org")


def test_plugin_registers_grpc_protocol() -> None:
    """The entry module offers the grpc protocol, loaded lazily."""
    specs = plugin.p2pfl_register_protocols()
    assert [spec.name for spec in specs] == ["grpc"]
    assert specs[0].load() is GrpcProtocol


def test_make_certs_command(tmp_path: Path) -> None:
    """p2pfl grpc make-certs writes six files and refuses to overwrite them."""
    cli = click.Group()
    plugin.p2pfl_add_commands(cli)
    runner = CliRunner()
    result = runner.invoke(cli, ["grpc", "make-certs", str(tmp_path / "certs")])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "certs").iterdir())
    assert written == [
        "ca.key",
        "ca.pem",
        "client.key",
        "client.pem",
        "server.key",
        "server.pem",
    ]
    assert (tmp_path / "certs" / "server.key").stat().st_mode & 0o777 == 0o600
    again = runner.invoke(cli, ["grpc", "make-certs", str(tmp_path / "certs")])
    assert again.exit_code == 1
    assert "already exists" in again.output
