"""Helpers shared by the benchmark scripts: timing and JSON output."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_json(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` with machine details to ``benchmarks/results/NAME.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor_count": __import__("os").cpu_count(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path
