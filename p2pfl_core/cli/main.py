"""The ``p2pfl`` command line: command groups live in their own modules."""

from __future__ import annotations

import click

from p2pfl_core import __version__


@click.group()
@click.version_option(__version__, prog_name="p2pfl")
def cli() -> None:
    """p2pfl: decentralized federated learning."""


def _add_builtin_commands() -> None:
    from p2pfl_core.cli.node import node
    from p2pfl_core.cli.plugins import plugins
    from p2pfl_core.cli.run import run

    cli.add_command(run)
    cli.add_command(node)
    cli.add_command(plugins)


def _add_plugin_commands() -> None:
    from p2pfl_core.errors import P2PFLError
    from p2pfl_core.manager import get_plugin_manager

    try:
        get_plugin_manager().hook.p2pfl_add_commands(cli=cli)
    except P2PFLError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None


def main() -> None:
    """Run the command line."""
    _add_builtin_commands()
    _add_plugin_commands()
    cli()
