"""Measure aggregation speed against a plain memory copy in the same run.

FedAvg reads every input once, so its input read rate is compared with the
read rate of ``np.copyto`` over the same arrays. Track the ratio, because
absolute rates vary from machine to machine and from run to run.
Krum's time is dominated by the pairwise distances (Gram form, float64).

Run ``python benchmarks/bench_aggregation.py`` (about half a minute) or add
``--quick`` for smaller sizes. Results are printed and written as JSON to
``benchmarks/results/aggregation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from p2pfl_core.aggregators.fedavg import FedAvg
from p2pfl_core.weights import ModelWeights

RESULTS = Path(__file__).parent / "results" / "aggregation.json"


def best_seconds(function: Callable[[], object], repeats: int) -> float:
    """Return the fastest of ``repeats`` timed calls of ``function``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def make_models(count: int, size: int, seed: int) -> list[ModelWeights]:
    """Return ``count`` single-layer float32 models of ``size`` parameters."""
    rng = np.random.default_rng(seed)
    return [
        ModelWeights(
            {"weight": rng.standard_normal(size, dtype=np.float32)},
            num_samples=index + 1,
            contributors=(f"node-{index}",),
        )
        for index in range(count)
    ]


def bench_fedavg(count: int, size: int, repeats: int) -> dict[str, float]:
    """Time FedAvg and np.copyto over the same arrays, interleaved."""
    models = make_models(count, size, seed=0)
    arrays = [m.layers["weight"] for m in models]
    target = np.empty_like(arrays[0])
    aggregator = FedAvg(node="bench")
    for model in models:
        aggregator.add_model(model)

    def copy_all() -> None:
        for array in arrays:
            np.copyto(target, array)

    copy_seconds = fedavg_seconds = float("inf")
    # Interleave the two so that both see the same machine load.
    for _ in range(repeats):
        copy_seconds = min(copy_seconds, best_seconds(copy_all, 1))
        fedavg_seconds = min(fedavg_seconds, best_seconds(aggregator.aggregate, 1))
    read_bytes = float(sum(a.nbytes for a in arrays))
    return {
        "models": count,
        "parameters": size,
        "copy_read_gb_per_s": read_bytes / copy_seconds / 1e9,
        "fedavg_read_gb_per_s": read_bytes / fedavg_seconds / 1e9,
        "fedavg_to_copy_ratio": copy_seconds / fedavg_seconds,
        "fedavg_seconds": fedavg_seconds,
    }


def bench_krum(count: int, size: int, repeats: int) -> dict[str, float] | None:
    """Time Krum (f = 1) when the p2pfl-krum plugin is installed."""
    try:
        from p2pfl_krum.krum import Krum
    except ImportError:
        return None
    aggregator = Krum(node="bench", f=1)
    for model in make_models(count, size, seed=1):
        aggregator.add_model(model)
    return {
        "models": count,
        "parameters": size,
        "krum_seconds": best_seconds(aggregator.aggregate, repeats),
    }


def report(fedavg: dict[str, float], krum: dict[str, float] | None) -> None:
    """Print one line per benchmark."""
    print(
        f"FedAvg, {fedavg['models']} models of {fedavg['parameters']:,} float32: "
        f"{fedavg['fedavg_read_gb_per_s']:.2f} GB/s read; np.copyto "
        f"{fedavg['copy_read_gb_per_s']:.2f} GB/s; ratio "
        f"{fedavg['fedavg_to_copy_ratio']:.2f} (target >= 0.5)"
    )
    if krum is None:
        print("Krum: skipped, install plugins/p2pfl-krum to measure it")
        return
    print(
        f"Krum f=1, {krum['models']} models of {krum['parameters']:,} float32: "
        f"{krum['krum_seconds'] * 1000:.0f} ms"
    )


def main() -> None:
    """Run the benchmarks, print them and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="use 10x smaller sizes")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON file to write"
    )
    args = parser.parse_args()

    scale = 10 if args.quick else 1
    fedavg = bench_fedavg(10, 10_000_000 // scale, repeats=7)
    krum = bench_krum(50, 1_000_000 // scale, repeats=3)
    report(fedavg, krum)

    record = {
        "quick": args.quick,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "numpy": np.__version__,
        "fedavg": fedavg,
        "krum": krum,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
