"""Experiment files: schema, loading, ``--set`` overrides and validation.

Every problem is reported as one :class:`ConfigError` whose message starts
with the key path, for example ``rounds: must be >= 1, got -3``.
"""

from __future__ import annotations

import copy
import inspect
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from p2pfl_core.errors import ConfigError, PluginError


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML loader that also reads ``1e-3`` (no dot) as a float.

    PyYAML follows YAML 1.1, where a float needs a dot, so ``1e-3`` would
    otherwise be the string "1e-3".
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """Parse YAML text with :class:`_Loader`."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(BaseModel):
    """A component chosen by name, with its parameters."""

    model_config = ConfigDict(extra="allow")

    name: str

    @property
    def params(self) -> dict[str, Any]:
        """The parameters other than ``name``."""
        return dict(self.model_extra or {})


class DataConfig(_Section):
    """Data source and partitioner settings of an experiment."""

    model_config = ConfigDict(extra="allow")

    dataset: str = "digits"
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    partition: str = "iid"
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)

    @property
    def partition_params(self) -> dict[str, Any]:
        """Parameters of the partitioner (the section's other keys)."""
        return dict(self.model_extra or {})


class TimeoutsConfig(_Section):
    """Workflow and liveness timeouts, in seconds."""

    start: float = Field(60.0, gt=0)
    vote: float = Field(30.0, gt=0)
    aggregation: float = Field(60.0, gt=0)
    gossip: float = Field(30.0, gt=0)
    heartbeat_period: float = Field(1.0, gt=0)
    heartbeat_timeout: float = Field(5.0, gt=0)


class ByzantineConfig(_Section):
    """Nodes that misbehave on purpose, for robustness experiments."""

    nodes: list[int] = Field(default_factory=list)
    behaviour: str = "sign_flip"
    options: dict[str, Any] = Field(default_factory=dict)


class Experiment(_Section):
    """A whole federation: nodes, data, learner, aggregator and rounds."""

    name: str = "experiment"
    seed: int = Field(0, ge=0, strict=True)
    nodes: int = Field(ge=1, strict=True)
    rounds: int = Field(ge=1, strict=True)
    epochs: int = Field(1, ge=1, strict=True)
    topology: Component = Field(default_factory=lambda: Component(name="full"))
    protocol: Component = Field(default_factory=lambda: Component(name="memory"))
    launch: Literal["threads", "processes"] = "threads"
    train_set_size: int | None = Field(None, ge=1, strict=True)
    vote: Literal["flood", "seeded"] = "flood"
    data: DataConfig = Field(default_factory=lambda: DataConfig())
    learner: Component = Field(default_factory=lambda: Component(name="numpy"))
    aggregator: Component = Field(default_factory=lambda: Component(name="fedavg"))
    timeouts: TimeoutsConfig = Field(default_factory=lambda: TimeoutsConfig())
    byzantine: ByzantineConfig | None = None
    required_plugins: list[str] = Field(default_factory=list)
    training_slots: int | None = Field(None, ge=1)
    output: str | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            raise ValueError(
                "must be letters, digits, '.', '_' or '-', starting with a letter "
                "or digit, because it names the results folder"
            )
        return value

    @field_validator("topology", "protocol", "learner", "aggregator", mode="before")
    @classmethod
    def _name_or_mapping(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class NodeFile(Experiment):
    """One node of a federation, started by ``p2pfl node start``.

    The experiment keys describe the federation the node belongs to: ``nodes``
    is the number of data partitions and ``index`` picks this node's one.
    """

    nodes: int = Field(1, ge=1, strict=True)
    rounds: int = Field(1, ge=1, strict=True)
    index: int = Field(0, ge=0, strict=True)
    address: str | None = None
    neighbors: list[str] = Field(default_factory=list)
    initiator: bool = False
    members: int | None = Field(None, ge=1)
    exit_after_learning: bool = False
    metrics_output: str | None = None


def _format_location(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _format_error(error: dict[str, Any]) -> str:
    path = _format_location(tuple(error["loc"]))
    kind = error["type"]
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    given = error.get("input")
    return f"{path}: {error['msg'].lower()}, got {given!r}"


def parse_experiment(
    data: Any, source: str = "experiment", schema: type[Experiment] = Experiment
) -> Experiment:
    """Validate a mapping as an experiment.

    Raises:
        ConfigError: The message names the key path and what is allowed.
    """
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the file must hold a mapping of keys, got {type(data).__name__}"
        )
    try:
        experiment = schema.model_validate(data)
    except ValidationError as exc:
        problems = [_format_error(dict(e)) for e in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    if (
        experiment.train_set_size is not None
        and experiment.train_set_size > experiment.nodes
    ):
        raise ConfigError(
            f"{source}: train_set_size: must be at most nodes ({experiment.nodes}), "
            f"got {experiment.train_set_size}"
        )
    index = getattr(experiment, "index", None)
    if index is not None and index >= experiment.nodes:
        raise ConfigError(
            f"{source}: index: must be below nodes ({experiment.nodes}), got {index}"
        )
    if experiment.byzantine is not None:
        wrong = [i for i in experiment.byzantine.nodes if not 0 <= i < experiment.nodes]
        if wrong:
            raise ConfigError(
                f"{source}: byzantine.nodes: indices must be in 0..{experiment.nodes - 1}, "
                f"got {wrong}"
            )
    return experiment


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML scalars.

    Raises:
        ConfigError: An override lacks ``=`` or crosses a non-mapping key.
    """
    result = copy.deepcopy(data)
    for override in overrides:
        path, sep, raw = override.partition("=")
        if not sep or not path:
            raise ConfigError(f"--set {override!r}: expected key.path=value")
        keys = path.split(".")
        target = result
        for key in keys[:-1]:
            node = target.get(key)
            if isinstance(node, str):
                node = {"name": node}
            if node is None:
                node = {}
            if not isinstance(node, dict):
                raise ConfigError(f"--set {override!r}: {key} is not a mapping")
            target[key] = node
            target = node
        try:
            target[keys[-1]] = parse_yaml(raw) if raw else raw
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(
                f"--set {override!r}: invalid YAML value: {problem}"
            ) from None
    return result


def load_experiment(
    source: str | Path | dict[str, Any],
    overrides: list[str] | tuple[str, ...] = (),
    schema: type[Experiment] = Experiment,
) -> Experiment:
    """Read, override and validate an experiment file or mapping.

    Raises:
        ConfigError: The file is missing, is not valid YAML, or is invalid.
    """
    if isinstance(source, dict):
        data, label = source, "experiment"
    else:
        path = Path(source)
        label = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not a text file (invalid UTF-8)") from None
        try:
            data = parse_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = (
                f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            )
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
        if isinstance(data, dict) and "name" not in data:
            data = {"name": path.stem, **data}
    if isinstance(data, dict):
        data = apply_overrides(data, list(overrides))
    return parse_experiment(data, label, schema)


def check_components(
    experiment: Experiment, manager: Any, source: str = "experiment"
) -> None:
    """Check that every named component exists and accepts its parameters.

    Raises:
        ConfigError: A name is unknown or a parameter is not accepted.
    """
    if "epochs" in experiment.learner.params:
        raise ConfigError(
            f"{source}: learner.epochs: set local epochs with the top-level key "
            "'epochs' instead"
        )
    checks = [
        ("protocol", "protocol", experiment.protocol.name),
        ("learner", "learner", experiment.learner.name),
        ("aggregator", "aggregator", experiment.aggregator.name),
        ("topology", "topology", experiment.topology.name),
        ("data.dataset", "dataset", experiment.data.dataset),
        ("data.partition", "partitioner", experiment.data.partition),
    ]
    for path, kind, name in checks:
        try:
            manager.get(kind, name)
        except PluginError as exc:
            raise ConfigError(f"{source}: {path}: {exc}") from None
    _check_algorithm(experiment, source)
    aggregator_cls = manager.load("aggregator", experiment.aggregator.name)
    try:
        aggregator = aggregator_cls(node="", **experiment.aggregator.params)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{source}: aggregator: {exc}") from None
    per_round = experiment.train_set_size or experiment.nodes
    needed = int(getattr(aggregator, "min_models", 1))
    if per_round < needed:
        raise ConfigError(
            f"{source}: aggregator: {experiment.aggregator.name} with these "
            f"parameters needs at least {needed} models per round, but the train "
            f"set has {per_round}; lower its parameters or raise train_set_size "
            "and nodes"
        )
    if experiment.launch == "processes" and experiment.protocol.name == "memory":
        raise ConfigError(
            f"{source}: launch: processes needs a protocol that crosses processes, "
            "such as 'protocol: grpc'; the memory protocol works with "
            "'launch: threads' only"
        )
    _check_params(
        manager.load("partitioner", experiment.data.partition),
        experiment.data.partition_params,
        f"{source}: data",
        skip={"labels", "num_nodes", "seed"},
    )
    _check_params(
        manager.load("topology", experiment.topology.name),
        experiment.topology.params,
        f"{source}: topology",
        skip={"n", "seed"},
    )


def _check_algorithm(experiment: Experiment, source: str) -> None:
    """Check that SCAFFOLD's learner and aggregator sides come together."""
    algorithm = experiment.learner.params.get("algorithm")
    name = algorithm.get("name") if isinstance(algorithm, dict) else algorithm
    learner_scaffold = name == "scaffold"
    aggregator_scaffold = experiment.aggregator.name.rpartition(":")[2] == "scaffold"
    if learner_scaffold and not aggregator_scaffold:
        raise ConfigError(
            f"{source}: aggregator: learner.algorithm scaffold needs "
            f"'aggregator: scaffold', got {experiment.aggregator.name!r}"
        )
    if aggregator_scaffold and not learner_scaffold:
        raise ConfigError(
            f"{source}: learner.algorithm: aggregator scaffold needs "
            "'algorithm: scaffold' in the learner section"
        )


def _check_params(
    function: Any, params: dict[str, Any], where: str, skip: set[str]
) -> None:
    signature = inspect.signature(function)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = [name for name in signature.parameters if name not in skip]
    for key in params:
        if key not in accepted:
            raise ConfigError(
                f"{where}.{key}: unknown key; accepted: {', '.join(accepted) or '(none)'}"
            )
