"""Entry module of p2pfl-grpc: registers the ``grpc`` protocol and its commands.

This module imports only :mod:`p2pfl_core.plugin`, so listing plugins does
not import grpc.
"""

from __future__ import annotations

from typing import Any

from p2pfl_core.plugin import ProtocolSpec, hookimpl


@hookimpl
def p2pfl_register_protocols() -> list[ProtocolSpec]:
    """Register the ``grpc`` transport."""
    return [
        ProtocolSpec(
            "grpc",
            "p2pfl_grpc.protocol:GrpcProtocol",
            "gRPC between processes and machines, with chunking and (mutual) TLS",
        )
    ]


@hookimpl
def p2pfl_add_commands(cli: Any) -> None:
    """Add ``p2pfl grpc make-certs DIR``."""
    import click

    @click.group(name="grpc")
    def grpc_group() -> None:
        """Tools for the gRPC transport."""

    @grpc_group.command(name="make-certs")
    @click.argument("directory", type=click.Path(file_okay=False))
    @click.option(
        "--host",
        "hosts",
        multiple=True,
        help="Address or DNS name the server certificate is valid for; "
        "repeatable. Default: 127.0.0.1 and localhost.",
    )
    @click.option("--days", default=365, show_default=True, help="Validity in days.")
    @click.option("--force", is_flag=True, help="Overwrite existing files.")
    def make_certs(
        directory: str, hosts: tuple[str, ...], days: int, force: bool
    ) -> None:
        """Write a local CA, a server and a client certificate to DIRECTORY."""
        try:
            from p2pfl_grpc.certs import DEFAULT_HOSTS, make_certificates
        except ImportError as exc:
            raise click.ClickException(
                f"{exc}; install it with: pip install cryptography"
            ) from None
        try:
            paths = make_certificates(directory, hosts or DEFAULT_HOSTS, days, force)
        except FileExistsError as exc:
            raise click.ClickException(f"{exc} with --force") from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        for label, path in vars(paths).items():
            click.echo(f"{label:12} {path}")

    cli.add_command(grpc_group)
