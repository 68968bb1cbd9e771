"""``p2pfl plugins``: placeholder until the full command lands."""

from __future__ import annotations

import json

import click


@click.group()
def plugins() -> None:
    """List and create plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_plugins(as_json: bool) -> None:
    """List installed plugins."""
    from p2pfl_core.manager import get_plugin_manager

    infos = [i.as_dict() for i in get_plugin_manager().plugins.values()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
    else:
        for info in infos:
            click.echo(f"{info['name']:<20} {info['version']:<10} {info['status']}")
