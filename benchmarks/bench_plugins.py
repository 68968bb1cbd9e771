"""Start-up cost of `p2pfl plugins list`, next to a bare Python start.

Each command runs in a new process, alternating, several times; the median
wall time of each is reported with their ratio. Listing reads entry point
metadata and imports each plugin's light entry module, never an ML
framework, so it should stay well under a second. Results go to
benchmarks/results/plugins.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_json  # noqa: E402

CLI = "from p2pfl_core.cli.main import main; main()"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import p2pfl_core.manager": [sys.executable, "-c", "import p2pfl_core.manager"],
    "p2pfl plugins list": [sys.executable, "-c", CLI, "plugins", "list"],
    "p2pfl plugins list --all --json": [
        sys.executable, "-c", CLI, "plugins", "list", "--all", "--json",
    ],
}  # fmt: skip
TARGET_SECONDS = 1.0


def time_once(command: list[str]) -> float:
    """Return the wall time of one run of ``command`` in seconds."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    """Time each command, print medians and ratios, and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():
        time_once(command)  # warm the file cache
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            samples[name].append(time_once(command))
    baseline = statistics.median(samples["python -c pass"])
    rows = {}
    for name, times in samples.items():
        median = statistics.median(times)
        rows[name] = {"median_seconds": median, "ratio_to_python": median / baseline}
        print(f"{name:34s} {median * 1000:8.1f} ms  {median / baseline:6.1f}x python")
    listing = rows["p2pfl plugins list"]["median_seconds"]
    verdict = "within" if listing < TARGET_SECONDS else "OVER"
    print(
        f"p2pfl plugins list: {listing:.3f} s, {verdict} the {TARGET_SECONDS} s target"
    )
    write_json(
        "plugins",
        {"repeats": args.repeats, "target_seconds": TARGET_SECONDS, "commands": rows},
    )


if __name__ == "__main__":
    main()
