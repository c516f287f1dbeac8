"""Hybrid-parallel throughput on the CPU with gloo: 1, 2 and 4 processes on the same global batch.

For each world size: every rank builds its part of the same DLRM (placement and batch split as the
reference), runs warm-up steps, then timed steps; rank 0's mean step time gives the throughput
(global batch / step time: the ranks are in lock step through the exchange and DDP). The time spent
inside the forward and backward all-to-all is timed on every rank (wall clock around the collective,
so it includes waiting for slower ranks), and shown as a share of the step.

Usage: python bench/distributed.py [--worlds 1 2 4] [--batch 8192] [--steps 20] [--warmup 5]
Figures go in the engineer's note, never into a timed test. Threads per rank: cores // world (min 1), or --threads.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from dlrmbench.workload.build import resolve


def make_case(world: int, batch: int, steps: int) -> "object":
    from dlrmbench.config.schema import Case

    sizes = [100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500] * 3 + [100, 10]  # 26 tables
    return Case.model_validate({
        "name": f"bench-{world}", "device": "cpu", "processes": world, "batch_size": batch, "max_steps": steps,
        "dataset": {"name": "synthetic", "options": {"train_samples": batch * 4, "test_samples": batch}},
        "model": {"bottom_mlp": [256, 128, 64], "top_mlp": [512, 256, 1], "embedding_dim": 64, "table_sizes": sizes},
        "optimizer": {"lr": 0.1, "warmup_steps": 0, "decay_start_step": None, "decay_steps": 0},
        "distributed": {"init": "sharded", "oversubscribe": True},
    })


def _rank(rank: int, world: int, port: int, args: argparse.Namespace, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    import torch
    import torch.distributed as dist

    from dlrmbench.distributed.exchange import EXCHANGE_TIMER
    from dlrmbench.distributed.train import make_optimizer
    from dlrmbench.distributed.worker import build_distributed_workload

    threads = args.threads or max(1, (os.cpu_count() or 1) // world)
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    case = make_case(world, args.batch, args.steps + args.warmup)
    work = build_distributed_workload(resolve(case), rank, world, rank, dist.group.WORLD)
    model = work.model
    optimizer = make_optimizer(model, world)
    for group in optimizer.param_groups:
        group["lr"] = 0.1 * group["lr_scale"]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    batches = list(work.dataset.batches("train", case.batch_size, work.device))
    share = model.batch_sizes[rank] / case.batch_size * world
    step_times, exchange_times = [], []
    for step in range(args.warmup + args.steps):
        batch = batches[step % len(batches)]
        EXCHANGE_TIMER.enabled, EXCHANGE_TIMER.seconds = True, 0.0
        start = time.perf_counter()
        logits = model(batch.numerical, batch.categorical)
        loss = loss_fn(logits, batch.label) * share  # the rank's share of the batch: its rows' labels
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            step_times.append(elapsed)
            exchange_times.append(EXCHANGE_TIMER.seconds)
    Path(out_dir, f"{rank}.txt").write_text(f"{statistics.mean(step_times)} {statistics.mean(exchange_times)} {threads}")
    dist.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per rank (0: cores // ranks)")
    args = parser.parse_args()
    import torch.multiprocessing as mp

    print(f"CPU cores: {os.cpu_count()}, global batch {args.batch}, {args.steps} timed steps after {args.warmup} "
          "warm-up; 26 tables (188,610 rows x 64), bottom 256-128-64, top 512-256-1, gloo")
    print(f"{'ranks':>5} {'threads/rank':>12} {'step ms (rank 0)':>16} {'samples/s':>10} "
          f"{'all-to-all ms (per rank)':>26} {'all-to-all share':>17}")
    base = None
    for world in args.worlds:
        with tempfile.TemporaryDirectory() as out_dir:
            mp.spawn(_rank, args=(world, _port(), args, out_dir), nprocs=world, join=True)
            rows = [Path(out_dir, f"{r}.txt").read_text().split() for r in range(world)]
        step = float(rows[0][0])
        exchange = [float(r[1]) for r in rows]
        throughput = args.batch / step
        base = base or throughput
        share = max(exchange) / step if world > 1 else 0.0
        print(f"{world:>5} {rows[0][2]:>12} {step * 1e3:>16.1f} {throughput:>10,.0f} "
              f"{' / '.join(f'{e * 1e3:.1f}' for e in exchange):>26} {share:>16.0%}   (x{throughput / base:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
