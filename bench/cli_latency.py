"""Start-up latency of the light commands (`--help`, `list-plugins`, `validate`): none imports torch.

Each command runs ROUNDS times in a fresh interpreter; the median wall time is printed next to a
bare `python -c pass` measured in the same run. Usage: python bench/cli_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "dlrmbench --help": [sys.executable, "-m", "dlrmbench", "--help"],
    "dlrmbench list-plugins": [sys.executable, "-m", "dlrmbench", "list-plugins"],
    "dlrmbench validate suites/*.yaml": [sys.executable, "-m", "dlrmbench", "validate",
                                         *sorted(str(p) for p in (REPO / "suites").glob("*.yaml"))],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for label, command in COMMANDS.items():
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(command, cwd=REPO, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        print(f"{label:40s} median {statistics.median(times) * 1000:7.0f} ms  (min {min(times) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
