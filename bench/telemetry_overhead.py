"""What the telemetry sampler costs: the quickstart training case with and without sampling, interleaved.

Runs ``suites/quickstart.yaml``'s ``train-joint`` case (or ``--case``) in isolated workers, alternating
telemetry off / on ``--pairs`` times in one process, and prints each run's throughput and the ratio of
the medians (on / off). The sampler lives in the parent process, so its cost reaches the worker only
through CPU contention; the goal is a ratio above 0.99 (under 1% cost).

    python bench/telemetry_overhead.py [--pairs 3] [--interval-ms 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from dlrmbench.config.loader import load_suite
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated
from dlrmbench.telemetry.sampler import CaseTelemetry
from dlrmbench.workload.build import resolve

REPO = Path(__file__).resolve().parents[1]


def run_once(case, sampling: bool) -> tuple[float, int]:
    """Throughput of one run of ``case`` and the number of telemetry samples taken."""
    case = case.model_copy(update={"telemetry": case.telemetry.model_copy(update={"enabled": sampling})})
    with CaseTelemetry(case) as telemetry:
        outcome = run_isolated(resolve(case), telemetry.observe(lambda event: None))
    result = collect(case, outcome, {"suite": "bench", "run_id": "bench", "case": case.name})
    telemetry.attach(result)
    if result.status != "ok":
        raise SystemExit(f"{case.name} {result.status}: {result.reason}")
    return float(result.value("train_throughput")), int(result.telemetry.get("samples", 0))


def sampler_cpu_cost(interval_ms: int, seconds: float = 5.0) -> str:
    """CPU time the sampler thread itself uses (this process, following one idle child), per sample and per second."""
    from dlrmbench.host import current_host
    from dlrmbench.telemetry.sampler import Sampler

    import subprocess

    child = subprocess.Popen(["sleep", str(seconds + 5)])  # a worker tree to follow, as during a case
    sampler = Sampler(interval_ms / 1000, [g.index for g in current_host().gpus])
    cpu0 = time.process_time()
    sampler.start()
    time.sleep(seconds)
    timeline = sampler.stop()
    child.kill()
    child.wait()
    cpu = time.process_time() - cpu0
    n = len(timeline["t_s"])
    return (f"sampler alone: {n} samples in {seconds:.0f} s, {cpu / n * 1e3:.2f} ms CPU per sample, "
            f"{cpu / seconds:.2%} of one core ({'GPU + host' if timeline['gpus'] else 'host only: ' + str(sampler.gpu_reason)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(REPO / "suites" / "quickstart.yaml"))
    parser.add_argument("--case", default="train-joint")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--interval-ms", type=int, default=100)
    args = parser.parse_args()
    case = next(c for c in load_suite(args.suite).cases if c.name == args.case)
    case = case.model_copy(update={"telemetry": case.telemetry.model_copy(update={"interval_ms": args.interval_ms})})
    print(sampler_cpu_cost(args.interval_ms), flush=True)
    off, on = [], []
    start = time.monotonic()
    for i in range(args.pairs):
        for sampling in ((False, True) if i % 2 == 0 else (True, False)):  # ABBA: drift hits both equally
            throughput, samples = run_once(case, sampling)
            (on if sampling else off).append(throughput)
            print(f"pair {i + 1}: telemetry {'on ' if sampling else 'off'} {throughput:10,.0f} samples/s"
                  + (f" ({samples} samples at {args.interval_ms} ms)" if sampling else ""), flush=True)
    ratio = statistics.median(on) / statistics.median(off)
    print(f"case {case.name}: median off {statistics.median(off):,.0f}, on {statistics.median(on):,.0f} samples/s; "
          f"ratio on/off {ratio:.4f} ({(1 - ratio) * 100:+.2f}% cost); "
          f"spread off {(max(off) - min(off)) / statistics.median(off):.1%}, on {(max(on) - min(on)) / statistics.median(on):.1%}; "
          f"{time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
