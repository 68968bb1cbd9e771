"""Many nodes in one process: wall time per round and peak memory.

Runs 1,000 memory nodes (or --nodes) on a random topology of mean degree 4,
10 trainers per round drawn from the seed (``vote: seeded``), the numpy
learner on digits. Prints seconds per round and the process's peak resident
memory, and writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_json  # noqa: E402

from p2pfl_core.experiment import run_experiment  # noqa: E402
from p2pfl_core.manager import PluginManager  # noqa: E402


def main() -> None:
    """Run the federation and report its cost."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = run_experiment(
        {
            "name": "bench-scale",
            "seed": 1,
            "nodes": args.nodes,
            "rounds": args.rounds,
            "topology": {"name": "random", "degree": 4},
            "train_set_size": 10,
            "vote": "seeded",
            "data": {"dataset": "digits", "partition": "iid", "test_fraction": 0.3},
            "learner": {"name": "numpy", "learning_rate": 0.5},
            "timeouts": {"heartbeat_period": 2, "heartbeat_timeout": 30},
        },
        manager=PluginManager(autoload=False),
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_round = result.wall_seconds / max(1, result.rounds_completed)
    print(
        f"{args.nodes} nodes: {result.rounds_completed}/{args.rounds} rounds, "
        f"{per_round:.2f} s per round, peak memory {peak_mib:.0f} MiB, "
        f"{len(result.errors)} node errors"
    )
    write_json(
        "scale",
        {
            "nodes": args.nodes,
            "rounds_completed": result.rounds_completed,
            "seconds_per_round": per_round,
            "peak_memory_mib": peak_mib,
            "node_errors": len(result.errors),
        },
    )


if __name__ == "__main__":
    main()
