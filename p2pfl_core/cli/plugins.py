"""``p2pfl plugins``: list installed plugins and start new ones.

This path imports click, pluggy and packaging only: listing reads entry point
metadata and each plugin's light entry module, never an ML framework.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from p2pfl_core.manager import PluginManager
    from p2pfl_core.registry import PluginInfo

KINDS = (
    "aggregator",
    "learner",
    "protocol",
    "compressor",
    "stage",
    "dataset",
    "partitioner",
    "topology",
)
HEADERS = ("Name", "Version", "Status", "Provides")


@click.group()
def plugins() -> None:
    """List installed plugins, or write a new plugin project."""


@plugins.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include core's built-ins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--hooks", is_flag=True, help="Show which plugin implements which hook.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 1 when a plugin failed to load, is incompatible, "
    "or offers a name another plugin offers too.",
)
def list_plugins(show_all: bool, as_json: bool, hooks: bool, strict: bool) -> None:
    """List installed plugins with their version, status and components."""
    from p2pfl_core.errors import PluginError
    from p2pfl_core.manager import get_plugin_manager

    try:
        manager = get_plugin_manager()
    except PluginError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    rows = [info for info in manager.plugins.values() if show_all or not info.builtin]
    if as_json:
        click.echo(json.dumps(_as_json(manager, rows, hooks), indent=2))
    else:
        _print_table(rows)
        _print_conflicts(manager)
        if hooks:
            _print_hooks(manager, rows)
    if strict and _problems(manager):
        sys.exit(1)


def _problems(manager: PluginManager) -> list[str]:
    broken = [
        f"{info.name} is {info.status}"
        for info in manager.plugins.values()
        if info.status in ("error", "incompatible")
    ]
    return broken + [c.message() for c in manager.registry.conflicts()]


def _as_json(
    manager: PluginManager, rows: list[PluginInfo], hooks: bool
) -> dict[str, Any]:
    from p2pfl_core.manager import core_version

    shown = {info.name for info in rows}
    result: dict[str, Any] = {
        "core_version": core_version(),
        "plugins": [info.as_dict() for info in rows],
        "conflicts": [
            {
                "kind": c.kind,
                "name": c.name,
                "plugins": list(c.plugins),
                "message": c.message(),
            }
            for c in manager.registry.conflicts()
        ],
    }
    if hooks:
        result["hooks"] = {
            hook: [name for name in names if name in shown]
            for hook, names in manager.hook_table().items()
        }
    return result


def _provides(info: PluginInfo) -> str:
    return "; ".join(
        f"{kind}: {', '.join(names)}" for kind, names in info.provides.items()
    )


def _print_table(rows: list[PluginInfo]) -> None:
    if not rows:
        click.echo("No plugins installed. Use --all to list core's built-ins.")
        return
    cells = [(i.name, i.version, i.status, _provides(i)) for i in rows]
    widths = [max(len(row[c]) for row in [HEADERS, *cells]) for c in range(3)]
    for row, info in zip([HEADERS, *cells], [None, *rows], strict=True):
        line = "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=False)
        )
        click.echo(f"{line}  {row[3]}".rstrip())
        if info is not None and info.reason:
            click.echo(f"    {info.reason}")


def _print_conflicts(manager: PluginManager) -> None:
    conflicts = manager.registry.conflicts()
    if conflicts:
        click.echo("\nConflicts:")
        for conflict in conflicts:
            click.echo(f"  {conflict.message()}")


def _print_hooks(manager: PluginManager, rows: list[PluginInfo]) -> None:
    shown = {info.name for info in rows}
    table = manager.hook_table()
    width = max(len(hook) for hook in table)
    click.echo(f"\n{'Hook'.ljust(width)}  Implemented by")
    for hook, names in table.items():
        implementers = ", ".join(name for name in names if name in shown) or "-"
        click.echo(f"{hook.ljust(width)}  {implementers}")


@plugins.command("new")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    required=True,
    help="Kind of component the plugin offers.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder in which the project folder is created.",
)
def new_plugin(name: str, kind: str, output: Path) -> None:
    """Write a plugin project that installs, passes its tests and lists itself.

    NAME is the component name, such as ``myagg``; the distribution is
    ``p2pfl-NAME``.
    """
    from p2pfl_core.cli.templates import PluginNames, write_project

    try:
        names = PluginNames.from_name(name, kind)
        folder = write_project(names, output)
    except (ValueError, FileExistsError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Created {names.distribution} ({kind} '{names.component}') in {folder}")
    click.echo("Next steps:")
    click.echo(f"  pip install -e '{folder}[test]'")
    click.echo(f"  pytest {folder / 'tests'}")
    click.echo("  p2pfl plugins list")
