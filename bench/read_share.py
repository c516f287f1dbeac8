"""Host bytes read per rank, before (every rank reads the whole global batch) and after (each its share).

One 2-rank launch per topology runs the same case with ``distributed.read: global`` (dlrmbench before
issue 24) and ``share`` (now), reading the split layout (synthetic ``on: disk``: the reader counts every byte
its reads return, scan at open not included), and prints each rank's bytes and their sum. The figures are
byte counts, so they do not depend on the machine's load; the run also prints the training throughput of
each, which does (one run each: not a verdict).

Usage: python bench/read_share.py [--batch 8192] [--steps 8] [--ranks 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from _ranks import result_of, run_cases

# Criteo-like: ids of int32, int16 and int8 width in the split files (facts sheet 3.2)
SIZES = [400_000, 40_000, 300_000, 200_000, 300, 24, 12_000, 600, 3, 90_000, 5_000, 300_000, 3_000, 27, 15_000,
         200_000, 10, 5_000, 2_000, 4, 250_000, 17, 15, 80_000, 100, 70_000]


def case(topology: str, read: str, batch: int, steps: int, world: int, data: str) -> dict:
    return {
        "name": f"{topology}-{read}", "mode": "train", "device": "cpu", "processes": world, "seed": 1,
        "embedding": "torchrec_fused" if topology == "torchrec_dmp" else "joint",
        "distributed": {"topology": topology, "read": read, "oversubscribe": True},
        "dataset": {"name": "synthetic", "options": {"train_samples": batch * steps, "test_samples": batch,
                                                     "on": "disk", "dir": data}},
        "batch_size": batch, "test_freq": None, "progress_every": steps,
        "model": {"bottom_mlp": [64, 16], "top_mlp": [64, 1], "embedding_dim": 16, "table_sizes": SIZES},
        "optimizer": {"lr": 0.1, "warmup_steps": 0, "decay_start_step": None, "decay_steps": 0},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--topologies", nargs="+", default=["dlrmbench", "torchrec_dmp", "data_parallel"])
    args = parser.parse_args()
    print(f"{args.ranks} gloo ranks, split layout (26 tables, int32/int16/int8 ids, float16 dense), global batch "
          f"{args.batch}, {args.steps} training batches + 1 test batch of {args.batch}")
    print(f"{'topology':<14} {'read':<7} " + " ".join(f"{'rank ' + str(r) + ' MiB':>12}" for r in range(args.ranks))
          + f" {'sum MiB':>9} {'samples/s':>10}")
    with tempfile.TemporaryDirectory() as data:
        for topology in args.topologies:
            cases = [case(topology, read, args.batch, args.steps, args.ranks, data) for read in ("global", "share")]
            for raw, events in zip(cases, run_cases(args.ranks, cases)):
                result = result_of(events)
                ranks = [r["host_bytes_read"] for r in result["telemetry"]["ranks"]]
                cells = " ".join(f"{b / 2**20:>12.2f}" for b in ranks)
                print(f"{topology:<14} {raw['distributed']['read']:<7} {cells} {sum(ranks) / 2**20:>9.2f} "
                      f"{result['metrics']['train_throughput']['value']:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
