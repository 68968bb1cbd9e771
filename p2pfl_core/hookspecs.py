"""Hook specifications: the whole contract between p2pfl and its plugins.

Registration hooks return spec records; observer hooks are called for their
side effects and their return values are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from p2pfl_core.plugin import (
    PROJECT_NAME,
    AggregatorSpec,
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


@hookspec
def p2pfl_register_protocols() -> Iterable[ProtocolSpec]:
    """Offer transports.

    Example:
        ``return [ProtocolSpec("grpc", "p2pfl_grpc.protocol:GrpcProtocol")]``
    """


@hookspec
def p2pfl_register_learners() -> Iterable[LearnerSpec]:
    """Offer framework adapters (learners).

    Example:
        ``return [LearnerSpec("torch", "p2pfl_torch.learner:TorchLearner")]``
    """


@hookspec
def p2pfl_register_aggregators() -> Iterable[AggregatorSpec]:
    """Offer aggregation rules.

    Example:
        ``return [AggregatorSpec("krum", "p2pfl_krum.krum:Krum")]``
    """


@hookspec
def p2pfl_register_compressors() -> Iterable[CompressorSpec]:
    """Offer payload transforms applied to weights before they are sent.

    Example:
        ``return [CompressorSpec("zlib", "p2pfl_core.compressors.zlib:Zlib")]``
    """


@hookspec
def p2pfl_register_stages() -> Iterable[StageSpec]:
    """Offer workflow stages, or whole workflows, by name.

    Example:
        ``return [StageSpec("train", "p2pfl_core.workflow.stages:TrainStage")]``
    """


@hookspec
def p2pfl_register_datasets() -> Iterable[DatasetSpec]:
    """Offer data sources for experiment files.

    Example:
        ``return [DatasetSpec("digits", "p2pfl_core.data.sources:load_digits")]``
    """


@hookspec
def p2pfl_register_partitioners() -> Iterable[PartitionerSpec]:
    """Offer ways to split a dataset across nodes.

    Example:
        ``return [PartitionerSpec("iid", "p2pfl_core.data.partition:iid")]``
    """


@hookspec
def p2pfl_register_topologies() -> Iterable[TopologySpec]:
    """Offer ways to connect the nodes of an experiment.

    Example:
        ``return [TopologySpec("ring", "p2pfl_core.topology:ring")]``
    """


@hookspec(firstresult=True)
def p2pfl_learner_for_model(model: Any) -> str | None:
    """Name the learner for a model object, or return None to pass.

    This hook is firstresult: the first non-None answer wins. Implementations
    must not import their framework just to answer; check
    ``type(model).__module__`` or ``sys.modules`` instead.

    Example:
        ``return "torch" if "torch" in sys.modules and isinstance(model,
        sys.modules["torch"].nn.Module) else None``
    """


@hookspec
def p2pfl_add_commands(cli: click.Group) -> None:
    """Add commands to the ``p2pfl`` command line.

    Example:
        ``cli.add_command(my_command)``
    """


@hookspec(historic=True)
def p2pfl_configure(config: Any) -> None:
    """See the parsed experiment before nodes are built.

    This hook is historic: a plugin registered after the call still receives
    it exactly once.

    Example:
        ``print(config.seed)``
    """


@hookspec
def p2pfl_stage_started(node: str, stage: str, round: int) -> None:
    """Observe a node entering a workflow stage.

    Example:
        ``log.append((node, stage, round))``
    """


@hookspec
def p2pfl_stage_finished(node: str, stage: str, round: int, seconds: float) -> None:
    """Observe a node leaving a workflow stage, with the time spent in it.

    Example:
        ``timings[stage] += seconds``
    """


@hookspec
def p2pfl_round_finished(node: str, round: int, metrics: dict[str, float]) -> None:
    """Observe a node finishing a round, with its evaluation metrics.

    Example:
        ``print(node, round, metrics["accuracy"])``
    """


@hookspec
def p2pfl_message_sent(node: str, peer: str, cmd: str, nbytes: int) -> None:
    """Observe a message leaving a node.

    Example:
        ``sent[node] += nbytes``
    """


@hookspec
def p2pfl_message_received(node: str, peer: str, cmd: str, nbytes: int) -> None:
    """Observe a message arriving at a node (after duplicates are dropped).

    Example:
        ``received[node] += nbytes``
    """
