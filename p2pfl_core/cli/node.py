"""``p2pfl node start``: run one node of a federation until it is stopped."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from p2pfl_core.errors import P2PFLError
from p2pfl_core.plugin import hookimpl

logger = logging.getLogger(__name__)


@click.group()
def node() -> None:
    """Run a single node (one process, one address)."""


class _Events:
    """Observer plugin that prints the node's progress."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        with self.lock:
            if self.as_json:
                click.echo(json.dumps({"event": event, **fields}))
            elif event == "round_finished":
                metrics = fields["metrics"]
                click.echo(
                    f"round {fields['round'] + 1}: accuracy {metrics['accuracy']:.4f} "
                    f"loss {metrics['loss']:.4f}"
                )
            else:
                details = ", ".join(f"{key} {value}" for key, value in fields.items())
                click.echo(f"{event}: {details}")

    @hookimpl
    def p2pfl_round_finished(
        self, node: str, round: int, metrics: dict[str, float]
    ) -> None:
        self.emit("round_finished", node=node, round=round, metrics=metrics)


def _connect_with_retries(node: Any, address: str, deadline: float) -> bool:
    """Connect to ``address``, retrying with backoff until ``deadline``.

    Stops early when the peer has connected to this node first, or when
    this node's learning already ended (the peer may have finished and left).
    """
    delay = 0.05
    while True:
        if address in node.protocol.neighbors() or node.connect(address):
            return True
        if node.finished.is_set() and node.metrics:
            return False
        if time.monotonic() + delay > deadline:
            return False
        # Wait out the backoff, waking early if learning ends meanwhile.
        node.finished.wait(delay)
        delay = min(delay * 2, 2.0)


@node.command("start")
@click.argument("node_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Override one key of the file.",
)
@click.option(
    "--events", is_flag=True, help="Print progress as JSON lines on standard output."
)
@click.option(
    "--verbose", "-v", count=True, help="Log stages (-v) or everything (-vv)."
)
def start(
    node_file: Path, overrides: tuple[str, ...], events: bool, verbose: int
) -> None:
    """Start the node described by NODE_FILE; stop it with Ctrl-C or stop_learning."""
    from p2pfl_core.cli.run import _interrupt, _setup_logging
    from p2pfl_core.config import NodeFile, load_experiment
    from p2pfl_core.experiment import FederationBuilder
    from p2pfl_core.manager import get_plugin_manager

    _setup_logging(verbose)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (from a launcher or a service manager) stops the node like
        # Ctrl-C, so it still writes its metrics.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        config = load_experiment(node_file, overrides, schema=NodeFile)
        assert isinstance(config, NodeFile)
        manager = get_plugin_manager()
        builder = FederationBuilder(config, manager)
        node = builder.node(config.index, config.address)
    except P2PFLError as exc:
        raise click.ClickException(f"{node_file.name}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(
            f"{node_file.name}: cannot start the node at "
            f"{getattr(config, 'address', '?')}: {exc}; "
            "is another process using that port?"
        ) from None
    printer = _Events(events)
    manager.pm.register(printer, name="node-events")
    node.start()
    printer.emit("started", node=node.address)
    try:
        _serve(node, config, printer)
    except KeyboardInterrupt:
        printer.emit("interrupted", node=node.address)
    finally:
        node.stop()
        if config.metrics_output:
            Path(config.metrics_output).write_text(
                json.dumps(node.metrics, indent=2) + "\n"
            )
        printer.emit("stopped", node=node.address, rounds=len(node.metrics))


def _serve(node: Any, config: Any, printer: _Events) -> None:
    deadline = time.monotonic() + config.timeouts.start
    for neighbor in config.neighbors:
        if _connect_with_retries(node, neighbor, deadline):
            continue
        if node.finished.is_set() and node.metrics:
            logger.info("learning ended before %s could be reached", neighbor)
        elif node.protocol.neighbors():
            logger.warning(
                "cannot connect to neighbour %s within %.0f s; going on with %s",
                neighbor,
                config.timeouts.start,
                ", ".join(node.protocol.neighbors()),
            )
        else:
            raise click.ClickException(
                f"cannot connect to neighbour {neighbor} within "
                f"{config.timeouts.start} s; is it running and reachable?"
            )
    if config.initiator:
        expected_members = config.members or config.nodes
        if not node.wait_members(expected_members, config.timeouts.start):
            raise click.ClickException(
                f"only {len(node.members())} of {expected_members} nodes joined within "
                f"{config.timeouts.start} s"
            )
        printer.emit("start_learning", node=node.address, members=node.members())
        node.set_start_learning(config.rounds, config.epochs)
    done = threading.Event()
    watched = [node.stop_requested] + (
        [node.finished] if config.exit_after_learning else []
    )

    def relay(event: threading.Event) -> None:
        event.wait()
        done.set()

    for event in watched:
        threading.Thread(target=relay, args=(event,), daemon=True).start()
    done.wait()
