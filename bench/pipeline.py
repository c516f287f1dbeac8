"""Input pipelining on 2 CPU ranks: ``distributed.pipeline`` on vs off, interleaved, fresh processes.

The DLRMv2 data path at a small shape: the MLPerf ``.npy`` layout with the reference's multi-hot ids made on
the fly (``multi_hot: generate``: the expansion is host work per batch, as in the reference's loader), a
DCNv2 model, 2 gloo ranks. With ``pipeline: true`` each rank's next training batches are read, expanded and
cut to its share on a background thread while the current step computes; with ``false`` in the step. Each
run is one fresh 2-rank launch (the unit of replication); the two settings alternate (ABBA) within one
invocation, so drift of the machine's load falls on both. Prints every run's training throughput (samples/s
over the measured window, rank 0), the median and min-max per setting, and the ratio of the medians with the
range of the per-pair ratios.

Usage: python bench/pipeline.py [--pairs 3] [--batch 4096] [--steps 12] [--topologies dlrmbench torchrec_dmp]
Run where nothing else runs, or say what else did: a shared machine moves these by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _ranks import result_of, run_cases

HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]  # MLPerf DLRMv2
SIZES = [40_000, 30_000, 2_000, 20_000, 3_000, 30, 1_500, 600, 4, 40_000, 3_000, 40_000, 800, 30, 3_000, 40_000,
         10, 3_000, 2_000, 4, 40_000, 20, 15, 30_000, 100, 30_000]


def write_days(root: Path, days: int, rows: int) -> None:
    """``days`` days of the MLPerf preprocessed layout (labels, dense, one-hot sparse), seeded."""
    rng = np.random.default_rng(0)
    for day in range(days):
        np.save(root / f"day_{day}_labels.npy", rng.integers(0, 2, size=(rows, 1)).astype(np.int32))
        np.save(root / f"day_{day}_dense.npy", np.log(rng.integers(0, 100, size=(rows, 13)) + 3).astype(np.float32))
        np.save(root / f"day_{day}_sparse.npy", rng.integers(0, 2**31 - 1, size=(rows, 26)).astype(np.int32))


def case(topology: str, pipeline: bool, batch: int, steps: int, data: str) -> dict:
    return {
        "name": f"{topology}-{'on' if pipeline else 'off'}", "mode": "train", "device": "cpu", "processes": 2,
        "seed": 1, "embedding": "torchrec_fused" if topology == "torchrec_dmp" else "joint",
        "distributed": {"topology": topology, "pipeline": pipeline, "oversubscribe": True},
        "dataset": {"name": "mlperf_npy", "options": {"path": data, "multi_hot": "generate",
                                                      "multi_hot_sizes": HOTNESS}},
        "batch_size": batch, "max_steps": steps, "benchmark_warmup_steps": 2, "test_freq": None,
        "test_batches": 1, "progress_every": steps,
        "model": {"interaction": "dcnv2", "bottom_mlp": [64, 16], "top_mlp": [64, 32, 1], "embedding_dim": 16,
                  "table_sizes": SIZES},
        "optimizer": {"lr": 0.1, "warmup_steps": 0, "decay_start_step": None, "decay_steps": 0},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="runs per setting (each a fresh 2-rank launch)")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--topologies", nargs="+", default=["dlrmbench", "torchrec_dmp"])
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; 2 gloo ranks; global batch "
          f"{args.batch}; {args.steps} steps, 2 warm-up; mlperf_npy with generated multi-hot (hotness sum "
          f"{sum(HOTNESS)}); {args.pairs} runs per setting, ABBA order")
    with tempfile.TemporaryDirectory() as data:
        write_days(Path(data), 3, args.batch * args.steps // 2 + args.batch)
        for topology in args.topologies:
            runs: dict[bool, list[float]] = {True: [], False: []}
            for pair in range(args.pairs):
                for pipeline in ((False, True) if pair % 2 == 0 else (True, False)):
                    raw = case(topology, pipeline, args.batch, args.steps, data)
                    events = run_cases(2, [raw])[0]
                    throughput = result_of(events)["metrics"]["train_throughput"]["value"]
                    runs[pipeline].append(throughput)
                    print(f"  {topology:<13} pipeline {'on ' if pipeline else 'off'} run {pair + 1}: "
                          f"{throughput:>9,.0f} samples/s", flush=True)
            on, off = runs[True], runs[False]
            ratios = [a / b for a, b in zip(on, off)]
            print(f"{topology:<13} off {statistics.median(off):>9,.0f} ({min(off):,.0f}-{max(off):,.0f})  "
                  f"on {statistics.median(on):>9,.0f} ({min(on):,.0f}-{max(on):,.0f})  on/off x"
                  f"{statistics.median(on) / statistics.median(off):.2f} (pairs {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
