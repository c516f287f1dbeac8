"""How the compare flag rule behaves: false alarms on noise-only pairs, detection of known slowdowns,
and what the statistics cost on long runs.

Synthetic step times (3% Gaussian jitter, 2% of steps stalled 3x, like a CPU run here) for a baseline and
a candidate that is slower by a known factor; every pair is compared exactly as ``dlrmbench compare``
does (Mann-Whitney U at alpha 0.002, 95% bootstrap CI of the ratio, --min-change 5%).

    python bench/compare_statistics.py [--pairs 40] [--steps 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the synthetic result sets of tests/core/test_statistics.py

from dlrmbench.results.compare import Cell, Row, Samples, judge_change


def steps(rng: random.Random, mean_s: float, n: int) -> list[float]:
    return [mean_s * (3.0 if rng.random() < 0.02 else 1.0) * rng.gauss(1.0, 0.03) for _ in range(n)]


def flagged(slowdown: float, seed: int, n: int, min_change: float = 0.05) -> str | None:
    rng = random.Random(seed)
    base_times, new_times = steps(rng, 0.010, n), steps(rng, 0.010 * (1 + slowdown), n)
    cells = []
    for times in (new_times, base_times):
        value = 256 / (sum(times) / len(times))
        cells.append(Cell(status="ok", value=value, values=[value], repeats=1,
                          samples=Samples(times, "steps", "mean", inverse=True)))
    row = Row(suite="s", case="c", metric="train_throughput", unit="samples/s", higher_is_better=True)
    judge_change(cells[0], cells[1], row, min_change, 0.002)
    return cells[0].flag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.pairs} pairs per row, {args.steps} step times per side")
    print("slowdown  flagged regression  flagged improvement")
    for slowdown in (0.0, 0.02, 0.05, 0.07, 0.10, 0.20):
        flags = [flagged(slowdown, seed, args.steps) for seed in range(args.pairs)]
        print(f"{slowdown:>7.0%}  {flags.count('regression'):>10d}/{args.pairs:<8d}  "
              f"{flags.count('improvement'):>10d}/{args.pairs}")

    from tests.core.test_statistics import write_set  # the same synthetic result sets as the tests

    from dlrmbench.results.compare import compare
    from dlrmbench.results.load import load_results

    with TemporaryDirectory() as tmp:
        for n in (1_000, 100_000):
            a = write_set(Path(tmp) / str(n), "a", 0.010, 1, repeats=1, steps=n)
            b = write_set(Path(tmp) / str(n), "b", 0.012, 2, repeats=1, steps=n)
            loaded = load_results([a, b])
            base = next(s for s in loaded.sets if s.path == a)
            start = time.perf_counter()
            compare([s for s in loaded.sets if s is not base], base)
            print(f"compare, 2 cases x {n:,} step times per side: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
