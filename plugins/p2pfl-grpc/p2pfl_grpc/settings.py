"""Settings of the gRPC transport, read from the ``protocol`` mapping of a file.

Every key is optional. Example of a node file's ``protocol`` section::

    protocol:
      name: grpc
      max_message_bytes: 536870912
      tls: {cert: certs/server.pem, key: certs/server.key, ca: certs/ca.pem,
            mutual: true}
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from p2pfl_core.errors import ConfigError

MIB = 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 1024 * MIB
DEFAULT_CHUNK_BYTES = 1 * MIB


@dataclass(frozen=True)
class TlsSettings:
    """Certificates for TLS, and for mutual TLS when ``mutual`` is true.

    Args:
        cert: PEM certificate the node's server presents.
        key: PEM private key of ``cert``.
        ca: PEM CA certificate that peers' certificates must be signed by;
            None trusts the system's root certificates.
        mutual: Require every client to present a certificate signed by
            ``ca``; clients without one are rejected during the handshake.
        client_cert: PEM certificate presented when this node calls a peer;
            defaults to ``cert``.
        client_key: PEM private key of ``client_cert``; defaults to ``key``.
        server_name: Host name expected in the peers' certificates, for
            addresses that do not match the certificates' names.
    """

    cert: Path
    key: Path
    ca: Path | None = None
    mutual: bool = False
    client_cert: Path | None = None
    client_key: Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if self.mutual and self.ca is None:
            raise ConfigError("protocol.tls.mutual: mutual TLS needs protocol.tls.ca")
        if (self.client_cert is None) != (self.client_key is None):
            raise ConfigError(
                "protocol.tls: set both client_cert and client_key, or neither"
            )


@dataclass(frozen=True)
class GrpcSettings:
    """Settings of one gRPC endpoint.

    Args:
        max_message_bytes: Largest encoded message, in bytes. It sets the
            gRPC send and receive limits on both ends and the largest message
            reassembled from chunks. A larger message fails at once with an
            error that states its size and this limit.
        chunk_bytes: Messages larger than this go as a stream of chunks of
            this size.
        max_workers: Threads of the server's pool (at least 1); handlers only
            queue the bytes, so a small pool cannot deadlock.
        max_concurrent_rpcs: Calls served at once; further calls are rejected
            with RESOURCE_EXHAUSTED and retried by the sender.
        rpc_timeout: Deadline in seconds of a call; streams get one more
            second per 8 MiB.
        connect_timeout: Seconds to wait for a new peer to accept a connection.
        retries: Attempts after the first before a peer is reported lost.
        retry_backoff: Seconds before the first retry; doubled on each retry.
        transfer_timeout: Seconds without a new chunk after which a partial
            message is discarded and its memory freed.
        queue_size: Messages waiting per peer before a send reports the peer
            as lost.
        keepalive_seconds: Interval of HTTP/2 keepalive pings; at least 5.
        bind_host: Host the server listens on, such as ``0.0.0.0``; defaults
            to the host of the node's address.
        insecure: Allow plain text to and from hosts other than loopback.
        tls: Certificates; None means plain text.
    """

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    max_workers: int = 8
    max_concurrent_rpcs: int = 256
    rpc_timeout: float = 10.0
    connect_timeout: float = 5.0
    retries: int = 5
    retry_backoff: float = 0.1
    transfer_timeout: float = 60.0
    queue_size: int = 1000
    keepalive_seconds: float = 30.0
    bind_host: str | None = None
    insecure: bool = False
    tls: TlsSettings | None = None

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"protocol.{name}: must be positive, got {getattr(self, name)}"
                )
        if self.retries < 0:
            raise ConfigError(
                f"protocol.retries: must be 0 or more, got {self.retries}"
            )
        if self.keepalive_seconds < 5:
            raise ConfigError(
                "protocol.keepalive_seconds: must be at least 5, because peers "
                f"reject more frequent pings; got {self.keepalive_seconds}"
            )

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None) -> GrpcSettings:
        """Build settings from a file's ``protocol`` mapping.

        The key ``name`` (the protocol's name) is ignored.

        Raises:
            ConfigError: A key is unknown or a value has the wrong type;
                the message names the key path.
        """
        values = {k: v for k, v in (mapping or {}).items() if k != "name"}
        tls = values.pop("tls", None)
        kwargs = _check_keys(values, cls, "protocol", skip={"tls"})
        if tls is not None:
            if not isinstance(tls, dict):
                raise ConfigError(f"protocol.tls: expected a mapping, got {tls!r}")
            tls_kwargs = _check_keys(tls, TlsSettings, "protocol.tls")
            for name in ("cert", "key", "ca", "client_cert", "client_key"):
                if tls_kwargs.get(name) is not None:
                    tls_kwargs[name] = _existing_file(tls_kwargs[name], name)
            kwargs["tls"] = TlsSettings(**tls_kwargs)
        return cls(**kwargs)


_POSITIVE = (
    "max_message_bytes",
    "chunk_bytes",
    "max_workers",
    "max_concurrent_rpcs",
    "rpc_timeout",
    "connect_timeout",
    "retry_backoff",
    "transfer_timeout",
    "queue_size",
)

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "Path": (str, Path),
}


def _check_keys(
    values: dict[str, Any], target: type, path: str, skip: Collection[str] = ()
) -> dict[str, Any]:
    known = {f.name: str(f.type) for f in fields(target) if f.name not in skip}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"{path}.{key}: unknown key; choose from: {', '.join(sorted(known))}"
            )
        type_name = known[key].split(" |")[0]
        allowed = _TYPES[type_name]
        wrong_bool = isinstance(value, bool) and bool not in allowed
        if value is not None and (wrong_bool or not isinstance(value, allowed)):
            raise ConfigError(f"{path}.{key}: expected {type_name}, got {value!r}")
    required = [
        f.name
        for f in fields(target)
        if f.name not in values and f.name not in skip and f.default is MISSING
    ]
    if required:
        raise ConfigError(f"{path}: missing key(s) {', '.join(required)}")
    return dict(values)


def _existing_file(value: str | Path, name: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"protocol.tls.{name}: file not found: {path}")
    return path
