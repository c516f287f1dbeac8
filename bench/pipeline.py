"""Input pipelining on 2 CPU ranks: ``distributed.pipeline`` modes against each other, interleaved, fresh processes.

The DLRMv2 data path at a small shape: the MLPerf ``.npy`` layout with the reference's multi-hot ids made on
the fly (``multi_hot: generate``: the expansion is host work per batch, as in the reference's loader), a
DCNv2 model, 2 gloo ranks. Modes (``--modes``, the first is the baseline): ``off`` reads each batch in the
step; ``thread`` reads, expands and cuts the next batches on a background thread while the current step
computes; ``sparse_dist`` (torchrec_dmp only) adds TorchRec's TrainPipelineSparseDist (the next batch's input
all-to-all issued before the current step's forward, waited after it); ``auto`` is the topology's default.
Each run is one fresh 2-rank launch (the unit of replication); the order of the modes rotates every round
within one invocation, so drift of the machine's load falls on all of them. Prints every run's training
throughput (samples/s over the measured window, rank 0), the median and min-max per mode, and each mode's
ratio of medians to the baseline with the range of the per-round ratios.

Usage: python bench/pipeline.py [--pairs 3] [--batch 4096] [--steps 12] [--topologies dlrmbench torchrec_dmp]
                                [--modes off auto]
  TorchRec's pipeline: python bench/pipeline.py --topologies torchrec_dmp --modes off thread sparse_dist
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


def case(topology: str, pipeline: str, batch: int, steps: int, data: str) -> dict:
    return {
        "name": f"{topology}-{pipeline}", "mode": "train", "device": "cpu", "processes": 2,
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


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):>9,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="rounds: runs per mode (each a fresh 2-rank launch)")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--topologies", nargs="+", default=["dlrmbench", "torchrec_dmp"])
    parser.add_argument("--modes", nargs="+", default=["off", "auto"],
                        help="distributed.pipeline values; the first is the baseline of the ratios")
    args = parser.parse_args()
    modes = args.modes
    print(f"CPU cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start; 2 gloo ranks; global batch "
          f"{args.batch}; {args.steps} steps, 2 warm-up; mlperf_npy with generated multi-hot (hotness sum "
          f"{sum(HOTNESS)}); {args.pairs} runs per mode, the order rotating every round")
    with tempfile.TemporaryDirectory() as data:
        write_days(Path(data), 3, args.batch * args.steps // 2 + args.batch)
        for topology in args.topologies:
            runs: dict[str, list[float]] = {mode: [] for mode in modes}
            for round_ in range(args.pairs):
                shift = round_ % len(modes)
                for mode in modes[shift:] + modes[:shift]:
                    events = run_cases(2, [case(topology, mode, args.batch, args.steps, data)])[0]
                    result = result_of(events)
                    throughput = result["metrics"]["train_throughput"]["value"]
                    ran = result["telemetry"]["input"]["pipeline"]  # what the rank recorded it ran
                    runs[mode].append(throughput)
                    print(f"  {topology:<13} pipeline {mode:<11} ({ran}) round {round_ + 1}: "
                          f"{throughput:>9,.0f} samples/s", flush=True)
            base = runs[modes[0]]
            line = f"{topology:<13} {modes[0]} {spread(base)}"
            for mode in modes[1:]:
                ratios = [a / b for a, b in zip(runs[mode], base)]
                line += (f"  {mode} {spread(runs[mode])} x{statistics.median(runs[mode]) / statistics.median(base):.2f}"
                         f" (rounds {min(ratios):.2f}-{max(ratios):.2f})")
            print(line)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
