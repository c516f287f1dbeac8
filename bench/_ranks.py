"""Run dlrmbench cases on N gloo ranks of this machine, each rank through its torchrun entry, in fresh
processes; rank 0's events come back (for the benches of the distributed input path)."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, cases: list[dict[str, Any]], out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    from dlrmbench.config.schema import Case
    from dlrmbench.distributed.worker import run_distributed
    from dlrmbench.workload.build import resolve
    from dlrmbench.workload.reporter import Reporter

    out = []
    for raw in cases:
        reporter = Reporter(None, rank=rank)
        run_distributed(resolve(Case.model_validate(raw)), reporter, rank, world, rank)
        out.append(reporter.events)
    if rank == 0:
        Path(out_dir, "events.json").write_text(json.dumps(out, default=str))
    import torch.distributed as dist

    dist.barrier()
    os._exit(0)  # gloo's threads at interpreter exit can abort a finished process


def run_cases(world: int, cases: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Every case (a raw case dict) on ``world`` fresh gloo ranks, in one launch; rank 0's events per case."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_rank, args=(world, _port(), cases, out_dir), nprocs=world, join=True)
        return json.loads(Path(out_dir, "events.json").read_text())


def result_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["event"] == "result")
