"""Node addresses of the form ``host:port`` (``[v6-host]:port`` for IPv6)."""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"


def split_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` into its host and port.

    A bare ``:port`` gets the host 127.0.0.1; port 0 means "pick a free one".

    Raises:
        ValueError: The address has no valid port.
    """
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"invalid gRPC address {address!r}: expected host:port with a port "
            "from 0 to 65535, such as 127.0.0.1:50051"
        )
    host = host.removeprefix("[").removesuffix("]") or DEFAULT_HOST
    return host, int(port)


def join_address(host: str, port: int) -> str:
    """Return ``host:port``, with brackets around an IPv6 host."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """Return True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_sender(sender: str) -> str | None:
    """Return why ``sender`` is not a valid node address, or None when it is."""
    if not sender or len(sender) > 256:
        return f"sender address of {len(sender)} characters"
    if not sender.isprintable():
        return "sender address with control characters"
    try:
        split_address(sender)
    except ValueError as exc:
        return str(exc)
    return None
