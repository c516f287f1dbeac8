"""History bench: does ``dlrmbench history`` find planted steps, and stay quiet on flat series?

Series of ``--points`` runs (one run per point, as a nightly job with --repeat 1 gives), a step of 5%, 10%
or 20% planted halfway (every later run that much slower), ``--series`` series per row. The run-to-run
noise is this machine's, measured: each run's value is drawn from the real per-run values of the A/A
bench's pool (``bench/aa_compare.py measure``), divided by their median, so their skew and outliers come
along. Noise findings travel with the drawn runs unless ``--ignore-noise`` (then every run counts as
quiet: the hardest case for false alarms). ``--cv X`` draws log-normal noise of that size instead.

Each series goes through :func:`dlrmbench.results.history.find_steps` exactly as ``dlrmbench history``
(ruptures PELT candidates, each confirmed by the per-run test with the defaults). A detection is a
confirmed regression within 2 points of the planted step; a false alarm is any confirmed step in a flat
series.

    python bench/history_steps.py --pool /tmp/aa/results/aa-quiet [--ignore-noise]
    python bench/history_steps.py --cv 0.03
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from pathlib import Path

from dlrmbench.results.history import Point, Series, find_steps
from dlrmbench.results.verdict import REGRESSION, Run


def pool_noise(path: Path, ignore_noise: bool) -> list[tuple[float, tuple[str, ...]]]:
    """(value / median, noise findings) of every ok run under ``path``."""
    from dlrmbench.results.load import load_results
    from dlrmbench.results.noise import noise_warnings

    runs = [(r.value("train_throughput"), () if ignore_noise else tuple(noise_warnings(r)))
            for s in load_results([path]).sets for r in s.results if r.status == "ok" and r.value("train_throughput")]
    median = statistics.median(v for v, _ in runs)
    return [(v / median, noise) for v, noise in runs]


def make_series(rng: random.Random, points: int, step: float, draw) -> Series:
    series = Series("m", "bench", "train", "train_throughput", None, None, "samples/s", True)
    for i in range(points):
        factor, noise = draw(rng)
        value = 1000.0 * factor / (1 + step if i >= points // 2 else 1.0)
        series.points.append(Point(f"p{i}", f"t{i}", [Run(value, f"run {i + 1}", noise)], [f"s{i}"]))
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=Path, help="result sets whose per-run values give the noise")
    parser.add_argument("--cv", type=float, help="log-normal noise of this size instead of a pool")
    parser.add_argument("--ignore-noise", action="store_true", help="treat every drawn run as quiet")
    parser.add_argument("--points", type=int, default=30)
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.pool is not None:
        pool = pool_noise(args.pool, args.ignore_noise)
        sd = statistics.stdev(math.log(v) for v, _ in pool)
        noisy = sum(bool(n) for _, n in pool)
        print(f"noise: {len(pool)} measured runs from {args.pool} (log sd {sd:.1%}, {noisy} noisy"
              f"{', treated as quiet' if args.ignore_noise else ''})")

        def draw(rng: random.Random):
            return rng.choice(pool)
    elif args.cv is not None:
        sigma = math.log1p(args.cv)
        print(f"noise: log-normal, sd {sigma:.1%}")

        def draw(rng: random.Random):
            return math.exp(rng.gauss(0.0, sigma)), ()
    else:
        parser.error("give --pool or --cv")
    print(f"{args.series} series of {args.points} runs per row; step planted at run {args.points // 2 + 1}")
    print("step   confirmed regression at the step   any confirmed step   candidates")
    start = time.perf_counter()
    for step in (0.0, 0.05, 0.10, 0.20):
        rng = random.Random(args.seed)
        hits = alarms = candidates = 0
        for _ in range(args.series):
            series = make_series(rng, args.points, step, draw)
            find_steps(series)
            candidates += len(series.steps)
            confirmed = series.confirmed
            alarms += bool(confirmed)
            hits += any(s.kind == REGRESSION and abs(s.index - args.points // 2) <= 2 for s in confirmed)
        print(f"{step:>4.0%}   {hits:>16d}/{args.series:<16d}  {alarms:>9d}/{args.series:<8d}  {candidates:>6d}")
    print(f"{time.perf_counter() - start:.1f} s in all")


if __name__ == "__main__":
    main()
