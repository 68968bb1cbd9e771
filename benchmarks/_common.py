"""Helpers shared by the benchmark scripts: timing and JSON output."""

from __future__ import annotations

import json
import platform
import statistics
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


def round_timings(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """Return median round wall time and framework time per round, in ms.

    A round's wall time runs from the first node entering it to the last node
    finishing it. Its framework time is that minus every node's fit and
    evaluate time, which is exact when one training slot serialises compute.
    """
    walls, frameworks = [], []
    for number in sorted({m["round"] for m in metrics}):
        records = [m for m in metrics if m["round"] == number]
        wall = max(m["finished_at"] for m in records) - min(
            m["started_at"] for m in records
        )
        compute = sum(m["fit_seconds"] + m["evaluate_seconds"] for m in records)
        walls.append(wall * 1000)
        frameworks.append(max(0.0, wall - compute) * 1000)
    return {
        "round_wall_ms_median": statistics.median(walls),
        "framework_ms_per_round_median": statistics.median(frameworks),
        "framework_ms_per_round_max": max(frameworks),
    }
