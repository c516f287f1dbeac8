"""Run a function on N gloo ranks in spawned processes and collect what each rank returns."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world: int, port: int, out_dir: str, fn: Callable[..., Any], args: tuple) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    result = fn(rank, world, *args)
    torch.save(result, Path(out_dir) / f"rank{rank}.pt")
    dist.barrier()  # every rank has its result on disk
    # Leave without interpreter and C++ teardown: destroying gloo's threads at exit can abort a
    # finished process ("terminate called without an active exception"), seen here once in ~10 runs.
    os._exit(0)


def run_ranks(world: int, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """``fn(rank, world, *args)`` on ``world`` spawned gloo ranks; returns every rank's result."""
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_entry, args=(world, free_port(), out_dir, fn, args), nprocs=world, join=True)
        return [torch.load(Path(out_dir) / f"rank{r}.pt", weights_only=False) for r in range(world)]


def case_events(rank: int, world: int, cases: list[Any]) -> list[list[dict[str, Any]]]:
    """Every case through the rank's entry, as torchrun's rank would run it; its reporter's events (a
    :func:`run_ranks` target)."""
    from dlrmbench.distributed.worker import run_distributed
    from dlrmbench.workload.build import resolve
    from dlrmbench.workload.reporter import Reporter

    out = []
    for case in cases:
        reporter = Reporter(None, rank=rank)
        run_distributed(resolve(case), reporter, rank, world, rank)
        out.append(reporter.events)
    return out


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The events of one kind, in order."""
    return [e for e in events if e["event"] == kind]


def left_in(folder: Path) -> list[str]:
    """What a case left in the system's temp folder; torch's compile cache (one shared folder per user, made
    by torch for reuse across processes) is not a case's."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("torchinductor_"))
