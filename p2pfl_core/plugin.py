"""The hook marker and spec records that a plugin's entry module imports.

A plugin module stays light: it imports only this module and returns specs
whose ``factory`` is a lazy ``"package.module:Attr"`` string, so listing
plugins never imports an ML framework.

Example::

    from p2pfl_core.plugin import AggregatorSpec, hookimpl

    @hookimpl
    def p2pfl_register_aggregators():
        return [AggregatorSpec("krum", "p2pfl_krum.krum:Krum", "Krum (Blanchard 2017)")]
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import pluggy

PROJECT_NAME = "p2pfl"
ENTRY_POINT_GROUP = "p2pfl"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate ``p2pfl_*`` functions with it."""


@dataclass(frozen=True)
class ComponentSpec:
    """A named component that a plugin offers.

    Args:
        name: The name used in experiment files, such as ``fedavg``.
        factory: Where the component lives, as ``"package.module:Attr"``;
            imported only when the component is used.
        description: One line shown by ``p2pfl plugins list``.
    """

    kind: ClassVar[str] = "component"

    name: str
    factory: str
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(
                f"invalid {self.kind} name {self.name!r}: use a plain name"
            )
        module, _, attr = self.factory.partition(":")
        if not module or not attr:
            raise ValueError(
                f"{self.kind} {self.name!r}: factory {self.factory!r} must look like "
                "'package.module:Attr'"
            )

    def load(self) -> Any:
        """Import and return the factory object."""
        module_name, _, attr = self.factory.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        return target


@dataclass(frozen=True)
class ProtocolSpec(ComponentSpec):
    """A transport, such as ``memory`` or ``grpc``."""

    kind: ClassVar[str] = "protocol"


@dataclass(frozen=True)
class LearnerSpec(ComponentSpec):
    """A framework adapter, such as ``torch`` or ``numpy``.

    Args:
        model_builders: Names of the model builders the learner offers for
            experiment files, mapped to ``"package.module:function"``.
    """

    kind: ClassVar[str] = "learner"

    model_builders: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AggregatorSpec(ComponentSpec):
    """An aggregation rule, such as ``fedavg``."""

    kind: ClassVar[str] = "aggregator"


@dataclass(frozen=True)
class CompressorSpec(ComponentSpec):
    """A payload transform, such as ``zlib`` or ``quantize``."""

    kind: ClassVar[str] = "compressor"


@dataclass(frozen=True)
class StageSpec(ComponentSpec):
    """A workflow stage class, or a whole workflow."""

    kind: ClassVar[str] = "stage"


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A data source, such as ``digits`` or ``npz``."""

    kind: ClassVar[str] = "dataset"


@dataclass(frozen=True)
class PartitionerSpec(ComponentSpec):
    """A way to split a dataset across nodes, such as ``dirichlet``."""

    kind: ClassVar[str] = "partitioner"


@dataclass(frozen=True)
class TopologySpec(ComponentSpec):
    """A way to connect nodes, such as ``ring``."""

    kind: ClassVar[str] = "topology"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    spec.kind: spec
    for spec in (
        ProtocolSpec,
        LearnerSpec,
        AggregatorSpec,
        CompressorSpec,
        StageSpec,
        DatasetSpec,
        PartitionerSpec,
        TopologySpec,
    )
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "SPEC_TYPES",
    "AggregatorSpec",
    "ComponentSpec",
    "CompressorSpec",
    "DatasetSpec",
    "LearnerSpec",
    "PartitionerSpec",
    "ProtocolSpec",
    "StageSpec",
    "TopologySpec",
    "hookimpl",
]
