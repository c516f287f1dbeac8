"""How the compare verdict behaves on simulated runs: false alarms on unchanged pairs, detection of known
slowdowns, by runs per side, and what the statistics cost.

Each simulated run has a run factor (log-normal, ``--run-sd``, the between-run variation a process sees:
memory layout, clocks, neighbours) and per-step times around it (3% jitter, 2% of steps stalled 3x, like a
CPU run here); a run's value is batch / mean step time, as the worker computes train_throughput. Pairs are
judged exactly as ``dlrmbench compare`` does (:func:`dlrmbench.results.verdict.judge`, defaults). The real
A/A figures on this machine come from ``bench/aa_compare.py``; this one shows the rule's operating curve.

    python bench/compare_statistics.py [--pairs 400] [--run-sd 0.02]
"""

from __future__ import annotations

import argparse
import math
import random
import time

from dlrmbench.results.compare import DEFAULT_ALPHA, DEFAULT_MIN_CHANGE
from dlrmbench.results.verdict import Run, judge


def run_value(rng: random.Random, slowdown: float, run_sd: float, steps: int = 100) -> float:
    factor = math.exp(rng.gauss(0.0, run_sd)) * (1 + slowdown)
    times = [0.010 * factor * (3.0 if rng.random() < 0.02 else 1.0) * rng.gauss(1.0, 0.03) for _ in range(steps)]
    return 256 / (sum(times) / len(times))


def verdict(slowdown: float, seed: int, runs: int, run_sd: float) -> str:
    rng = random.Random(seed)
    base = [Run(run_value(rng, 0.0, run_sd), f"run {i + 1}") for i in range(runs)]
    new = [Run(run_value(rng, slowdown, run_sd), f"run {i + 1}") for i in range(runs)]
    return judge(new, base, True, DEFAULT_MIN_CHANGE, DEFAULT_ALPHA).kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--run-sd", type=float, default=0.02, help="between-run standard deviation (log scale)")
    args = parser.parse_args()
    print(f"{args.pairs} simulated pairs per cell, between-run sd {args.run_sd:.1%}, alpha {DEFAULT_ALPHA}, "
          f"--min-change {DEFAULT_MIN_CHANGE:.0%}")
    print("runs/side  slowdown  regression  improvement  no change  inconclusive")
    start = time.perf_counter()
    for runs in (2, 3, 5):
        for slowdown in (0.0, 0.05, 0.10, 0.20):
            kinds = [verdict(slowdown, seed, runs, args.run_sd) for seed in range(args.pairs)]
            print(f"{runs:>9d}  {slowdown:>8.0%}  {kinds.count('regression'):>10d}  {kinds.count('improvement'):>11d}  "
                  f"{kinds.count('no change'):>9d}  {kinds.count('inconclusive'):>12d}")
    print(f"{time.perf_counter() - start:.1f} s in all")


if __name__ == "__main__":
    main()
