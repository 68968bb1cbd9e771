# mypy: disable-error-code="empty-body"
"""Hook specifications: the whole contract between p2pfl and its plugins.

Registration hooks return spec records. Observer hooks are called for their
side effects, and their return values are ignored. docs/plugins/hooks.md
documents each hook. The end of this module contains what the manager does
with a plugin's hook functions: the checks for common mistakes, the call of
its registration hooks, and the tracer behind ``P2PFL_TRACE_PLUGINS``.
"""

from __future__ import annotations

import difflib
import reprlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from p2pfl_core.errors import PluginError
from p2pfl_core.plugin import (
    PROJECT_NAME,
    SPEC_TYPES,
    AggregatorSpec,
    ComponentSpec,
    CompressorSpec,
    DatasetSpec,
    LearnerSpec,
    PartitionerSpec,
    ProtocolSpec,
    StageSpec,
    TopologySpec,
)

if TYPE_CHECKING:
    import click

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

# -- registration hooks: called once per plugin when the plugin is loaded ---


@hookspec
def p2pfl_register_protocols() -> Iterable[ProtocolSpec]:
    """Offer transports, by name, for the ``protocol`` key of experiment files.

    Returns:
        Protocol specs whose factory is a ``CommunicationProtocol`` subclass.

    Example:
        ``return [ProtocolSpec("grpc", "p2pfl_grpc.protocol:GrpcProtocol")]``
    """


@hookspec
def p2pfl_register_learners() -> Iterable[LearnerSpec]:
    """Offer framework adapters (learners) for the ``learner`` key.

    Returns:
        Learner specs whose factory is a ``Learner`` subclass, with the model
        builders that ``learner.model`` may name.

    Example:
        ``return [LearnerSpec("torch", "p2pfl_torch.learner:TorchLearner")]``
    """


@hookspec
def p2pfl_register_aggregators() -> Iterable[AggregatorSpec]:
    """Offer aggregation rules for the ``aggregator`` key.

    Returns:
        Aggregator specs whose factory is an ``Aggregator`` subclass.

    Example:
        ``return [AggregatorSpec("krum", "p2pfl_krum.krum:Krum")]``
    """


@hookspec
def p2pfl_register_compressors() -> Iterable[CompressorSpec]:
    """Offer transforms applied to weights before they are sent.

    Returns:
        Compressor specs whose factory is a ``Compressor`` subclass.

    Example:
        ``return [CompressorSpec("float16", "p2pfl_half.half:Float16")]``
    """


@hookspec
def p2pfl_register_stages() -> Iterable[StageSpec]:
    """Offer workflow stages, or whole workflows, by name.

    Returns:
        Stage specs whose factory is a ``Stage`` subclass.

    Example:
        ``return [StageSpec("train", "p2pfl_core.workflow.stages:TrainStage")]``
    """


@hookspec
def p2pfl_register_datasets() -> Iterable[DatasetSpec]:
    """Offer data sources for the ``data.dataset`` key.

    Returns:
        Dataset specs whose factory returns a ``Dataset``.

    Example:
        ``return [DatasetSpec("digits", "p2pfl_core.data.sources:load_digits")]``
    """


@hookspec
def p2pfl_register_partitioners() -> Iterable[PartitionerSpec]:
    """Offer ways to split a dataset across nodes, for ``data.partition``.

    Returns:
        Partitioner specs whose factory is called as
        ``f(labels, num_nodes, *, seed, **options)`` and returns one index
        array per node.

    Example:
        ``return [PartitionerSpec("iid", "p2pfl_core.data.partition:iid")]``
    """


@hookspec
def p2pfl_register_topologies() -> Iterable[TopologySpec]:
    """Offer ways to connect the nodes of an experiment, for ``topology``.

    Returns:
        Topology specs whose factory is called as ``f(n, *, seed, **options)``
        and returns sorted edges ``(i, j)`` with ``i < j``.

    Example:
        ``return [TopologySpec("ring", "p2pfl_core.topology:ring")]``
    """


# -- hooks the core calls while it runs --------------------------------------


@hookspec(firstresult=True)
def p2pfl_learner_for_model(model: Any) -> str | None:
    """Name the learner for a model object, or return None to pass.

    This hook is firstresult: the first non-None result wins. Implementations
    must not import their framework to decide; check ``sys.modules``
    instead, since a model of a framework exists only once it is imported.

    Args:
        model: The model object a user passed in.

    Example:
        ``return "torch" if "torch" in sys.modules and isinstance(model,
        sys.modules["torch"].nn.Module) else None``
    """


@hookspec
def p2pfl_add_commands(cli: click.Group) -> None:
    """Add commands to the ``p2pfl`` command line.

    Called once when ``p2pfl`` starts, after core's own commands are added.

    Args:
        cli: The top-level ``p2pfl`` click group.

    Example:
        ``cli.add_command(my_command)``
    """


@hookspec(historic=True)
def p2pfl_configure(config: Any) -> None:
    """See the parsed experiment before its nodes are built.

    This hook is historic: the host calls it with ``call_historic`` (see
    ``PluginManager.configure``), so a plugin registered after the call
    still receives it, exactly once per call.

    Args:
        config: The validated experiment (``p2pfl_core.config.Experiment``).

    Example:
        ``self.seed = config.seed``
    """


# -- observer hooks: called from node threads, return values ignored --------


@hookspec
def p2pfl_stage_started(node: str, stage: str, round: int) -> None:
    """Observe a node entering a workflow stage.

    Args:
        node: The node's address.
        stage: The stage name, such as ``train``.
        round: The learning round, from 0.

    Example:
        ``log.append((node, stage, round))``
    """


@hookspec
def p2pfl_stage_finished(node: str, stage: str, round: int, seconds: float) -> None:
    """Observe a node leaving a workflow stage, with the time spent in it.

    Args:
        node: The node's address.
        stage: The stage name.
        round: The learning round, from 0.
        seconds: Wall-clock time spent in the stage.

    Example:
        ``timings[stage] += seconds``
    """


@hookspec
def p2pfl_round_finished(node: str, round: int, metrics: dict[str, float]) -> None:
    """Observe a node finishing a round, with its evaluation metrics.

    Args:
        node: The node's address.
        round: The learning round that finished, from 0.
        metrics: The node's record of the round: ``accuracy`` and ``loss``
            on its test split, timings and byte counts.

    Example:
        ``print(node, round, metrics["accuracy"])``
    """


@hookspec
def p2pfl_message_sent(node: str, peer: str, cmd: str, nbytes: int) -> None:
    """Observe a message leaving a node.

    Args:
        node: The sender's address.
        peer: The neighbour it was handed to.
        cmd: The message command, such as ``vote`` or ``model``.
        nbytes: The encoded size in bytes.

    Example:
        ``sent[node] += nbytes``
    """


@hookspec
def p2pfl_message_received(node: str, peer: str, cmd: str, nbytes: int) -> None:
    """Observe a message arriving at a node, after duplicates are dropped.

    Args:
        node: The receiver's address.
        peer: The neighbour that handed it over.
        cmd: The message command.
        nbytes: The encoded size in bytes.

    Example:
        ``received[node] += nbytes``
    """


HOOK_NAMES = frozenset(
    name
    for name, value in list(globals().items())
    if name.startswith("p2pfl_") and hasattr(value, f"{PROJECT_NAME}_spec")
)
"""Names of every hook above."""

REGISTER_HOOKS = {
    "protocol": "p2pfl_register_protocols",
    "learner": "p2pfl_register_learners",
    "aggregator": "p2pfl_register_aggregators",
    "compressor": "p2pfl_register_compressors",
    "stage": "p2pfl_register_stages",
    "dataset": "p2pfl_register_datasets",
    "partitioner": "p2pfl_register_partitioners",
    "topology": "p2pfl_register_topologies",
}
"""Kind of component to the hook that registers it."""


def find_hook_problems(plugin: object, name: str) -> list[str]:
    """Return mistakes that would make pluggy silently ignore part of a plugin.

    pluggy ignores a ``p2pfl_*`` function without the ``@hookimpl`` marker and
    accepts a marked function whose name matches no hook (a typo).
    """
    problems: list[str] = []
    for attribute in dir(plugin):
        if not attribute.startswith("p2pfl_"):
            continue
        function = getattr(plugin, attribute, None)
        if not callable(function):
            continue
        marked = hasattr(function, f"{PROJECT_NAME}_impl")
        if attribute in HOOK_NAMES and not marked:
            problems.append(
                f"{attribute} is not decorated with @hookimpl, so it would be "
                "ignored; add `from p2pfl_core.plugin import hookimpl` and "
                "`@hookimpl`"
            )
        elif marked and attribute not in HOOK_NAMES:
            close = difflib.get_close_matches(attribute, HOOK_NAMES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{attribute} is not a p2pfl hook{hint}")
    return [f"plugin {name}: {problem}" for problem in problems]


def print_trace(text: str) -> None:
    """Print one line of the hook trace that ``P2PFL_TRACE_PLUGINS=1`` turns on."""
    print(f"p2pfl trace: {text}", file=sys.stderr, flush=True)


def install_tracer(pm: pluggy.PluginManager) -> None:
    """Print every hook call, its implementations and its result to stderr."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60

    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        arguments = ", ".join(f"{k}={short.repr(v)}" for k, v in kwargs.items())
        plugins = ", ".join(impl.plugin_name for impl in impls) or "none"
        print_trace(f"{hook_name}({arguments}) -> implemented by: {plugins}")

    def after(outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Any) -> None:
        if outcome.exception is not None:
            print_trace(f"{hook_name} raised {outcome.exception!r}")
        else:
            print_trace(f"{hook_name} returned {short.repr(outcome.get_result())}")

    pm.add_hookcall_monitoring(before, after)


def collect_specs(
    pm: pluggy.PluginManager, name: str, *, tracing: bool
) -> list[ComponentSpec]:
    """Call the plugin's registration hooks and check what they return.

    The hooks are called per plugin, not through the relay, so each spec is
    attributed to its plugin.
    """
    specs: list[ComponentSpec] = []
    for kind, hook_name in REGISTER_HOOKS.items():
        expected = SPEC_TYPES[kind]
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != name:
                continue
            result = impl.function()
            if isinstance(result, ComponentSpec):
                raise PluginError(
                    f"plugin {name}: {hook_name} returned one {type(result).__name__}; "
                    "it must return a list of them"
                )
            returned = list(result or ())
            if tracing:
                print_trace(f"{hook_name}() of plugin {name} returned {returned!r}")
            for spec in returned:
                if not isinstance(spec, expected):
                    raise PluginError(
                        f"plugin {name}: {hook_name} returned {spec!r}; it must "
                        f"return {expected.__name__} records"
                    )
                if any(s.kind == kind and s.name == spec.name for s in specs):
                    raise PluginError(
                        f"plugin {name}: {hook_name} returned {kind} "
                        f"'{spec.name}' twice"
                    )
                specs.append(spec)
    return specs
