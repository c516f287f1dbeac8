"""A/A bench: how often does compare's verdict cry wolf on unchanged runs of this machine, and how often
does it find a planted slowdown?

Step 1 (``measure``) runs one small training case of the quickstart model (``--steps`` steps, the whole
harness path: a worker process per run, telemetry, noise checks) ``--runs`` times with ``dlrmbench run
--repeat``, once on the machine as it is ("quiet": this bench adds no load) and once while a CPU hog
(one busy process) is started and stopped at random ("noisy"). Every run is a real result file.

Step 2 (``analyse``) draws ``--pairs`` A/A pairs from each pool: two disjoint random sets of ``--per-side``
runs, judged exactly as ``dlrmbench compare`` does with its defaults (noise findings, per-run test). It
prints the verdict counts; a false alarm is a regression or improvement flagged on unchanged code. The
planted slowdowns divide the B side's per-run values by 1.10 and 1.20 (a proportional slowdown of every
step, as a sleep of that share in each step would give; the planting is in the values, not in the step).

Pairs drawn from one pool share runs, so they are not independent; the pool size says how much data
there is. Run from the repository root:

    python bench/aa_compare.py measure --runs 30 --out /tmp/aa     # minutes: one run is a process
    python bench/aa_compare.py analyse /tmp/aa --pairs 40 --per-side 3 [--ignore-noise]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dlrmbench.machine.variation import coefficient_of_variation, reference_suite

REPO = Path(__file__).resolve().parents[1]


class Hog:
    """A busy process started and stopped at random (on for 2-20 s, off for 2-20 s) until stopped."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.on_s = 0.0

    def _loop(self) -> None:
        while not self.stop.is_set():
            if self.rng.random() < 0.5:
                self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                t = self.rng.uniform(2, 20)
                self.stop.wait(t)
                self.on_s += t
                self.proc.kill()
                self.proc.wait()
                self.proc = None
            else:
                self.stop.wait(self.rng.uniform(2, 20))

    def __enter__(self) -> "Hog":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def measure(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for pool in args.pools:
        suite = out / f"aa-{pool}.yaml"
        suite.write_text(reference_suite(f"aa-{pool}", "train", args.steps * 512))
        command = [sys.executable, "-m", "dlrmbench", "run", str(suite), "-o", str(out / "results"), "--quiet",
                   "--repeat", str(args.runs), "--label", f"pool={pool}"]
        start = time.perf_counter()
        if pool == "noisy":
            with Hog(args.seed) as hog:
                subprocess.run(command, cwd=REPO, check=False, stdout=subprocess.DEVNULL)
            print(f"{pool}: {args.runs} runs in {time.perf_counter() - start:.0f} s, hog on {hog.on_s:.0f} s")
        else:
            subprocess.run(command, cwd=REPO, check=False, stdout=subprocess.DEVNULL)
            print(f"{pool}: {args.runs} runs in {time.perf_counter() - start:.0f} s")


def _pool_runs(out: Path, pool: str, ignore_noise: bool = False) -> list:
    from dlrmbench.results.load import load_results
    from dlrmbench.results.noise import noise_warnings
    from dlrmbench.results.verdict import Run

    runs = []
    for result_set in load_results([out / "results" / f"aa-{pool}"]).sets:
        for r in result_set.results:
            value = r.value("train_throughput")
            if r.status == "ok" and value:
                runs.append(Run(value, f"run {r.repeat + 1}", () if ignore_noise else tuple(noise_warnings(r))))
                STEPS[id(runs[-1])] = r.step_times_s[int(r.config.get("benchmark_warmup_steps") or 0):]
    return runs


STEPS: dict[int, list[float]] = {}


def old_step_rule(a: list, b: list, planted: float) -> bool:
    """The rule compare used before the run became the unit: the Mann-Whitney U test on the step times
    pooled over runs, p < 0.002, and a change of at least 5% in the mean-based throughput."""
    from dlrmbench.results.stats import mann_whitney_u

    sa = [t for r in a for t in STEPS[id(r)]]
    sb = [t * (1 + planted) for r in b for t in STEPS[id(r)]]
    change = (sum(sa) / len(sa)) / (sum(sb) / len(sb)) - 1
    return mann_whitney_u(sb, sa).p_value < 0.002 and abs(change) >= 0.05


def analyse(args: argparse.Namespace) -> None:
    from dlrmbench.results.compare import DEFAULT_ALPHA, DEFAULT_MIN_CHANGE
    from dlrmbench.results.verdict import Run, judge

    out = Path(args.out)
    print(f"defaults: alpha {DEFAULT_ALPHA}, --min-change {DEFAULT_MIN_CHANGE:.0%}; {args.pairs} pairs of "
          f"{args.per_side} vs {args.per_side} runs per row" + (" (noise findings ignored)" if args.ignore_noise else ""))
    print("pool   runs noisy  cv(quiet)  planted  regression  improvement  no change  inconclusive  untested"
          "  old step rule flagged")
    for pool in args.pools:
        runs = _pool_runs(out, pool, args.ignore_noise)
        if len(runs) < 2 * args.per_side:
            print(f"{pool}: {len(runs)} runs, too few")
            continue
        quiet = [r.value for r in runs if not r.noise]
        cv = coefficient_of_variation(quiet) if len(quiet) > 2 else float("nan")  # as doctor stores it
        for planted in (0.0, 0.10, 0.20):
            rng = random.Random(args.seed)
            kinds = []
            old = 0
            for _ in range(args.pairs):
                drawn = rng.sample(runs, 2 * args.per_side)
                a, b = drawn[: args.per_side], drawn[args.per_side:]
                old += old_step_rule(a, b, planted)
                b = [Run(r.value / (1 + planted), r.name, r.noise) for r in b]
                kinds.append(judge(b, a, True, DEFAULT_MIN_CHANGE, DEFAULT_ALPHA).kind)
            counts = {k: kinds.count(k) for k in ("regression", "improvement", "no change", "inconclusive",
                                                  "untested")}
            print(f"{pool:<6} {len(runs):>4} {len(runs) - len(quiet):>5}  {cv:>9.1%}  {planted:>7.0%}  "
                  f"{counts['regression']:>10}  {counts['improvement']:>11}  {counts['no change']:>9}  "
                  f"{counts['inconclusive']:>12}  {counts['untested']:>8}  {old:>21}")
    print("values per run (samples/s, * = noisy):")
    for pool in args.pools:
        runs = _pool_runs(out, pool)
        print(f"  {pool}: " + " ".join(f"{r.value:,.0f}{'*' if r.noise else ''}" for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--runs", type=int, default=30)
    m.add_argument("--steps", type=int, default=24, help="training steps per run (batch 512)")
    m.add_argument("--out", required=True)
    m.add_argument("--pools", nargs="+", default=["quiet", "noisy"])
    m.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("analyse")
    a.add_argument("out")
    a.add_argument("--pairs", type=int, default=40)
    a.add_argument("--per-side", type=int, default=3)
    a.add_argument("--pools", nargs="+", default=["quiet", "noisy"])
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--ignore-noise", action="store_true",
                   help="count every run as quiet (what the test alone does when the noise checks miss)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    measure(args) if args.step == "measure" else analyse(args)


if __name__ == "__main__":
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    main()
