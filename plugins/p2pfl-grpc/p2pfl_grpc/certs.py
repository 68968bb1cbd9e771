"""Local certificates for trying TLS and mutual TLS.

:func:`make_certificates` writes a private CA, a server certificate and a
client certificate signed by it, using the ``cryptography`` package
(``pip install cryptography``). They suit tests and a private network;
docs/multi-machine.md shows the same steps with openssl.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class CertificatePaths:
    """The PEM files written by :func:`make_certificates`."""

    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def in_folder(cls, folder: Path) -> CertificatePaths:
        """Return the standard file names inside ``folder``."""
        names = (
            "ca.pem",
            "ca.key",
            "server.pem",
            "server.key",
            "client.pem",
            "client.key",
        )
        return cls(*(folder / name for name in names))


def make_certificates(
    directory: str | Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    days: int = 365,
    overwrite: bool = False,
) -> CertificatePaths:
    """Write a CA, a server certificate and a client certificate to ``directory``.

    The server certificate names every entry of ``hosts`` (IP addresses and
    DNS names) and may also be used as a client certificate, so one pair can
    serve a node in both roles. Keys are ECDSA P-256; private keys are
    written with mode 0600.

    Args:
        directory: Folder to write to; created if missing.
        hosts: Addresses and names the server certificate is valid for.
        days: Validity of the certificates, in days.
        overwrite: Replace existing files instead of raising.

    Raises:
        FileExistsError: A file exists and ``overwrite`` is false.
        ValueError: ``hosts`` is empty or ``days`` is not positive.
    """
    if not hosts:
        raise ValueError("hosts is empty: name at least one address, such as 127.0.0.1")
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    paths = CertificatePaths.in_folder(Path(directory))
    existing = [path for path in astuple(paths) if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing[0]} already exists; choose an empty folder, "
            "or overwrite the files"
        )
    Path(directory).mkdir(parents=True, exist_ok=True)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder("p2pfl local CA", _name("p2pfl local CA"), ca_key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    both_roles = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    server_names = [_san_entry(host) for host in hosts]
    server_key, server_cert = _leaf(
        hosts[0], both_roles, server_names, ca_key, ca_cert, days
    )
    client_key, client_cert = _leaf(
        "p2pfl client", [ExtendedKeyUsageOID.CLIENT_AUTH], [], ca_key, ca_cert, days
    )

    _write_cert(paths.ca, ca_cert)
    _write_key(paths.ca_key, ca_key)
    _write_cert(paths.server_cert, server_cert)
    _write_key(paths.server_key, server_key)
    _write_cert(paths.client_cert, client_cert)
    _write_key(paths.client_key, client_key)
    return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p2pfl"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _leaf(
    subject: str,
    usages: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName],
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    days: int,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca_cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _san_entry(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
