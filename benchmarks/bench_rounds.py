"""Framework time per round: round wall time minus time inside fit and evaluate.

Runs federations of memory nodes with the numpy learner on digits. Training
slots are set to 1, so fit and evaluate never overlap and the remainder of
each round's wall time is time spent in the framework (messages, encoding,
waits). Target: under 50 ms per round at 8 nodes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import round_timings, write_json  # noqa: E402

from p2pfl_core.experiment import run_experiment  # noqa: E402
from p2pfl_core.manager import PluginManager  # noqa: E402

TARGET_MS_AT_8 = 50.0


def measure(nodes: int, rounds: int, topology: str) -> dict[str, float]:
    """Run one federation and return its per-round timings in milliseconds."""
    result = run_experiment(
        {
            "name": f"bench-{nodes}",
            "seed": 1,
            "nodes": nodes,
            "rounds": rounds,
            "topology": topology,
            "training_slots": 1,
            "data": {"dataset": "digits", "partition": "iid"},
            "learner": {"name": "numpy", "learning_rate": 0.5},
        },
        manager=PluginManager(autoload=False),
    )
    timings = round_timings(result.metrics)
    return {
        "nodes": nodes,
        "rounds": result.rounds_completed,
        **timings,
        "final_mean_accuracy": result.final_mean_accuracy,
        "total_wall_s": result.wall_seconds,
    }


def main() -> None:
    """Measure 8 and 64 nodes and print the framework time per round."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 rounds only")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    rows = [measure(8, rounds, "ring"), measure(64, rounds, "ring")]
    print(
        f"{'nodes':>6} {'round wall ms':>14} {'framework ms/round':>19} {'accuracy':>9}"
    )
    for row in rows:
        print(
            f"{row['nodes']:>6} {row['round_wall_ms_median']:>14.1f} "
            f"{row['framework_ms_per_round_median']:>19.1f} {row['final_mean_accuracy']:>9.4f}"
        )
    at8 = rows[0]["framework_ms_per_round_median"]
    print(
        f"framework time at 8 nodes / target {TARGET_MS_AT_8:.0f} ms = {at8 / TARGET_MS_AT_8:.2f}"
    )
    write_json("rounds", {"target_ms_at_8": TARGET_MS_AT_8, "runs": rows})


if __name__ == "__main__":
    main()
