"""Peak host memory of each torchrec_dmp rank while it builds its sharded model (issue 24).

Prints, per rank, the resident memory once torch, TorchRec and FBGEMM are imported (the baseline), the peak
resident memory (``VmHWM``, reset before the build) after ``build_dmp_workload``, their difference, and the bytes of table rows
the plan gives the rank. Before the tables were built on the meta device, every rank held the whole
single-process model (every table) and a copy of its tables on top of its shards.

    nice -n 19 .venv/bin/python bench/dmp_memory.py --rows 2000000 --dim 128 --tables 4 --world 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

MIB = 2**20


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case(rows: int, dim: int, tables: int, world: int, sharding: str | None) -> Any:
    from dlrmbench.config.schema import Case

    distributed: dict[str, Any] = {"topology": "torchrec_dmp"}
    if sharding:
        distributed["torchrec_sharding"] = sharding
    return Case.model_validate({
        "name": "dmp-memory", "device": "cpu", "processes": world, "embedding": "torchrec_fused",
        "distributed": distributed,
        "dataset": {"name": "synthetic", "options": {"train_samples": 64, "test_samples": 64, "seed": 3}},
        "batch_size": 32, "max_steps": 1, "seed": 5,
        "model": {"bottom_mlp": [512, 256, dim], "top_mlp": [1024, 1024, 512, 256, 1], "embedding_dim": dim,
                  "table_sizes": [rows] * tables},
        "optimizer": {"name": "sgd", "lr": 0.1, "warmup_steps": 0, "decay_start_step": 0, "decay_steps": 0},
    })


def _rank(rank: int, world: int, port: int, raw: dict[str, Any], out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    import psutil
    import torch
    import torch.distributed as dist
    import torchrec.distributed.embeddingbag  # noqa: F401  (imports counted in the baseline)
    import torchrec.distributed.planner  # noqa: F401

    from dlrmbench.config.schema import Case
    from dlrmbench.distributed.torchrec_dmp import build_dmp_workload
    from dlrmbench.workload.build import resolve

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    resolved = resolve(Case.model_validate(raw))
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (ru_maxrss would keep the pre-exec parent's)
    baseline = psutil.Process().memory_info().rss
    work = build_dmp_workload(resolved, rank, world, rank, dist.group.WORLD)
    peak = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text().splitlines()
                if l.startswith("VmHWM:"))
    planned = sum(math.prod(s.shard_sizes) * 4 for p in work.model.plan.plan.values() for spec in p.values()
                  for s in spec.sharding_spec.shards if s.placement.rank() == rank)
    Path(out_dir, f"{rank}.json").write_text(json.dumps({"baseline": baseline, "peak": peak, "planned": planned}))
    dist.barrier()
    os._exit(0)  # gloo's threads at interpreter exit can abort a finished process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--sharding", default="table_wise", help="distributed.torchrec_sharding ('' = the planner's)")
    args = parser.parse_args()
    import torch.multiprocessing as mp

    raw = case(args.rows, args.dim, args.tables, args.world, args.sharding or None).model_dump(mode="json")
    total = args.rows * args.dim * 4 * args.tables
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_rank, args=(args.world, _port(), raw, out_dir), nprocs=args.world, join=True)
        ranks = [json.loads(Path(out_dir, f"{r}.json").read_text()) for r in range(args.world)]
    print(f"tables: {args.tables} x {args.rows:,} rows x {args.dim} = {total / MIB:,.0f} MiB in all; "
          f"{args.world} ranks, sharding {args.sharding or 'planner'}")
    print(f"{'rank':>4} {'baseline MiB':>13} {'peak MiB':>9} {'growth MiB':>11} {'plan share MiB':>15}")
    for rank, r in enumerate(ranks):
        print(f"{rank:>4} {r['baseline'] / MIB:>13,.0f} {r['peak'] / MIB:>9,.0f} "
              f"{(r['peak'] - r['baseline']) / MIB:>11,.0f} {r['planned'] / MIB:>15,.0f}")


if __name__ == "__main__":
    main()
