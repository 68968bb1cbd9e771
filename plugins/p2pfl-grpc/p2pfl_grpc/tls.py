"""gRPC credentials built from :class:`~p2pfl_grpc.settings.TlsSettings`."""

from __future__ import annotations

from typing import Any

import grpc

from p2pfl_grpc.settings import TlsSettings


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    """Return the server credentials; with ``mutual``, clients need a CA-signed cert."""
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=tls.ca.read_bytes() if tls.mutual and tls.ca else None,
        require_client_auth=tls.mutual,
    )


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials:
    """Return a client's credentials: the CA to verify peers, and its own cert."""
    cert = tls.client_cert or tls.cert
    key = tls.client_key or tls.key
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca.read_bytes() if tls.ca else None,
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )


def channel_options(tls: TlsSettings | None) -> list[tuple[str, Any]]:
    """Return the channel options that TLS needs, such as a server name override."""
    if tls is None or tls.server_name is None:
        return []
    return [("grpc.ssl_target_name_override", tls.server_name)]
