"""Harness overhead: training throughput inside `dlrmbench run` versus a bare PyTorch loop.

Both run the quickstart's `train-joint` case (same model, same seed, same synthetic batches, same
warm-up exclusion), each in a fresh process, alternated ROUNDS times in one run; the medians are
compared. Usage: python bench/harness_overhead.py [--rounds 3] [--case train-joint]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE_LOOP = r"""
import json, sys, time, torch
from dlrmbench.config.loader import load_suite
from dlrmbench.workload.build import build_workload
from dlrmbench.workload.build import resolve
case = next(c for c in load_suite(sys.argv[1]).cases if c.name == sys.argv[2])
work = build_workload(resolve(case))
batches = list(work.dataset.batches("train", case.batch_size, work.device))
model = work.model
opt = torch.optim.SGD(model.parameters(), lr=case.optimizer.lr)
loss_fn = torch.nn.BCEWithLogitsLoss()
start = None
for step, b in enumerate(batches):
    if step == case.benchmark_warmup_steps:
        start = time.perf_counter()
    loss = loss_fn(model(b.numerical, b.categorical), b.label)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
elapsed = time.perf_counter() - start
measured = len(batches) - case.benchmark_warmup_steps
print(json.dumps({"throughput": measured * case.batch_size / elapsed}))
"""


def bare(suite: Path, case: str) -> float:
    out = subprocess.run([sys.executable, "-c", BARE_LOOP, str(suite), case], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])["throughput"]


def harness(suite: Path, case: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "dlrmbench", "run", str(suite), "--only", case, "-o", tmp, "--quiet"],
                       capture_output=True, text=True, check=True, cwd=REPO)
        result = json.loads(next(Path(tmp).rglob(f"cases/{case}.json")).read_text())
        return result["metrics"]["train_throughput"]["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suite", type=Path, default=REPO / "suites" / "quickstart.yaml")
    parser.add_argument("--case", default="train-joint")
    args = parser.parse_args()
    bare_runs, harness_runs = [], []
    started = time.monotonic()
    for _ in range(args.rounds):
        bare_runs.append(bare(args.suite, args.case))
        harness_runs.append(harness(args.suite, args.case))
    b, h = statistics.median(bare_runs), statistics.median(harness_runs)
    print(f"case {args.case} of {args.suite.name}, {args.rounds} alternating rounds, {time.monotonic() - started:.0f} s")
    print(f"bare loop        : {', '.join(f'{v:,.0f}' for v in bare_runs)} samples/s (median {b:,.0f})")
    print(f"dlrmbench run    : {', '.join(f'{v:,.0f}' for v in harness_runs)} samples/s (median {h:,.0f})")
    print(f"harness / bare   : {h / b:.3f}  (overhead {100 * (1 - h / b):+.1f}%)")


if __name__ == "__main__":
    main()
