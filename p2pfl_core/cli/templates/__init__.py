"""Files that ``p2pfl plugins new`` writes, one set per kind of component.

Each ``*.tmpl`` file is a :class:`string.Template`: ``${name}`` placeholders
are filled from :class:`PluginNames`. The ``project`` folder contains the
files every plugin gets, and the folder named after the kind contains the
component and its tests.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from string import Template

from p2pfl_core import __version__

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_KINDS = {
    # kind: (spec class, hook, module, attribute pattern)
    "aggregator": (
        "AggregatorSpec",
        "p2pfl_register_aggregators",
        "aggregator",
        "{cls}",
    ),
    "learner": ("LearnerSpec", "p2pfl_register_learners", "learner", "{cls}Learner"),
    "protocol": (
        "ProtocolSpec",
        "p2pfl_register_protocols",
        "protocol",
        "{cls}Protocol",
    ),
    "compressor": (
        "CompressorSpec",
        "p2pfl_register_compressors",
        "compressor",
        "{cls}Compressor",
    ),
    "stage": ("StageSpec", "p2pfl_register_stages", "stage", "{cls}Stage"),
    "dataset": ("DatasetSpec", "p2pfl_register_datasets", "dataset", "load_{func}"),
    "partitioner": (
        "PartitionerSpec",
        "p2pfl_register_partitioners",
        "partitioner",
        "{func}",
    ),
    "topology": ("TopologySpec", "p2pfl_register_topologies", "topology", "{func}"),
}
# Template path (relative to this folder) to the path of the file it becomes
# in the new project.
_PROJECT_FILES = {
    "project/pyproject.toml.tmpl": "pyproject.toml",
    "project/README.md.tmpl": "README.md",
    "project/init.py.tmpl": "${package}/__init__.py",
    "project/plugin.py.tmpl": "${package}/plugin.py",
    "project/test_plugin.py.tmpl": "tests/test_plugin.py",
    "{kind}/component.py.tmpl": "${package}/${module}.py",
    "{kind}/test_component.py.tmpl": "tests/test_${module}.py",
}


@dataclass(frozen=True)
class PluginNames:
    """Every name a new plugin project uses, derived from one component name.

    Args:
        component: Name in experiment files, such as ``myagg``.
        kind: Kind of component, such as ``aggregator``.
        distribution: Distribution and entry point name, ``p2pfl-myagg``.
        package: Import package, ``p2pfl_myagg``.
        module: Module of the component inside the package.
        attr: Class or function the spec's factory points to.
        class_name: CamelCase stem of class names, ``Myagg``.
        spec_class: Spec record class, such as ``AggregatorSpec``.
        hook: Registration hook, such as ``p2pfl_register_aggregators``.
        core_requirement: Requirement on p2pfl-core, ``p2pfl-core>=0.1,<0.2``.
    """

    component: str
    kind: str
    distribution: str
    package: str
    module: str
    attr: str
    class_name: str
    spec_class: str
    hook: str
    core_requirement: str

    @classmethod
    def from_name(cls, name: str, kind: str) -> PluginNames:
        """Derive the names from ``NAME`` as typed after ``p2pfl plugins new``.

        Raises:
            ValueError: The name or kind is invalid.
        """
        if kind not in _KINDS:
            raise ValueError(
                f"unknown kind {kind!r}; choose one of: {', '.join(_KINDS)}"
            )
        stem = name.lower().removeprefix("p2pfl-").removeprefix("p2pfl_")
        if not _NAME.match(stem):
            raise ValueError(
                f"invalid plugin name {name!r}: use lowercase letters and digits, "
                "optionally joined by '-' or '_', starting with a letter (e.g. myagg)"
            )
        if keyword.iskeyword(stem.replace("-", "_")):
            raise ValueError(
                f"invalid plugin name {name!r}: it is a Python keyword, so it "
                "cannot name the plugin's function; choose another name"
            )
        func = stem.replace("-", "_")
        class_name = "".join(part.capitalize() for part in re.split(r"[-_]", stem))
        spec_class, hook, module, attr = _KINDS[kind]
        major, minor = (int(part) for part in __version__.split(".")[:2])
        return cls(
            component=func,
            kind=kind,
            distribution=f"p2pfl-{stem.replace('_', '-')}",
            package=f"p2pfl_{func}",
            module=module,
            attr=attr.format(cls=class_name, func=func),
            class_name=class_name,
            spec_class=spec_class,
            hook=hook,
            core_requirement=f"p2pfl-core>={major}.{minor},<{major}.{minor + 1}",
        )


def write_project(names: PluginNames, output: Path) -> Path:
    """Write the plugin project into ``output/<distribution>``.

    Returns:
        The project folder.

    Raises:
        FileExistsError: The project folder exists and is not empty.
    """
    folder = output / names.distribution
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(
            f"{folder} already exists and is not empty; choose another --output "
            "folder or remove it"
        )
    values = asdict(names)
    templates = resources.files(__name__)
    for source, target in _PROJECT_FILES.items():
        text = templates.joinpath(source.format(kind=names.kind)).read_text("utf-8")
        path = folder / Template(target).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    return folder
