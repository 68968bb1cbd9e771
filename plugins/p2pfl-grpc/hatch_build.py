"""Generate the protobuf and gRPC modules from ``node.proto`` at build time.

hatchling runs this hook for wheels and editable installs. The generated
``node_pb2.py``, ``node_pb2.pyi`` and ``node_pb2_grpc.py`` are written next to
the ``.proto`` and are not committed. protoc is run from the plugin root, so the
generated gRPC module imports ``p2pfl_grpc.proto.node_pb2`` by its absolute
name and works inside the installed package.

Recent grpcio-tools releases stamp the generated code with the protobuf and
grpcio versions they were made with, and the code refuses to import with an
older runtime. The hook therefore adds those versions as minimum requirements
to the wheel's metadata.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO = Path("p2pfl_grpc") / "proto" / "node.proto"
GENERATED = ("node_pb2.py", "node_pb2.pyi", "node_pb2_grpc.py")

_PROTOBUF_STAMP = re.compile(
    r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,"
    r"\s*(\d+),\s*(\d+),\s*(\d+),"
)
_GRPC_STAMP = re.compile(r"GRPC_GENERATED_VERSION = '([0-9.]+)'")


def generate(root: Path) -> list[Path]:
    """Run protoc on the plugin's ``.proto`` and return the generated files.

    Raises:
        RuntimeError: protoc reported an error.
    """
    from grpc_tools import protoc

    args = [
        "grpc_tools.protoc",
        f"--proto_path={root}",
        f"--python_out={root}",
        f"--pyi_out={root}",
        f"--grpc_python_out={root}",
        str(root / PROTO),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {root / PROTO}; see its output above")
    return [root / PROTO.parent / name for name in GENERATED]


def runtime_requirements(proto_dir: Path) -> list[str]:
    """Return the minimum protobuf and grpcio versions the generated code needs."""
    requirements = []
    messages = (proto_dir / "node_pb2.py").read_text(encoding="utf-8")
    match = _PROTOBUF_STAMP.search(messages)
    if match:
        requirements.append("protobuf>={}.{}.{}".format(*match.groups()))
    service = (proto_dir / "node_pb2_grpc.py").read_text(encoding="utf-8")
    match = _GRPC_STAMP.search(service)
    if match:
        requirements.append(f"grpcio>={match.group(1)}")
    return requirements


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Generate the gRPC modules before hatchling collects the wheel's files."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Generate the modules and ship them although git ignores them."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        files = generate(root)
        build_data["artifacts"].extend(
            path.relative_to(root).as_posix() for path in files
        )
        build_data["dependencies"].extend(runtime_requirements(root / PROTO.parent))

    def clean(self, versions: list[str]) -> None:
        """Remove the generated modules."""
        for name in GENERATED:
            (Path(self.root) / PROTO.parent / name).unlink(missing_ok=True)
