"""The worker of one rank, started by torchrun: process group, this rank's model, the case, one report.

``dlrmbench.runner.worker`` hands over here (through :func:`dlrmbench.distributed.run_rank`) when the
case has more than one process; nothing here imports the runner. Rank 0 reports
progress and the result (with every rank's step times and peak memory, gathered at the end). Any rank
that fails reports its own error event (with its rank and the time), so the parent records the first
error; torchrun then stops the other ranks, and a rank blocked in a collective fails when its peer's
connection closes, or at the latest after ``distributed.timeout_s``. In a multi-node case a rank stopped on any
node is named within ``distributed.timeout_s`` by the heartbeat watch (:mod:`dlrmbench.distributed.heartbeat`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from datetime import timedelta
from typing import Any

from dlrmbench import allocators
from dlrmbench.config.schema import Case
from dlrmbench.resolved import ResolvedCase
from dlrmbench.workload.reporter import Reporter


def rank_environment() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables."""
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    return rank, world, int(os.environ.get("LOCAL_RANK", rank))


def init_process_group(case: Case, rank: int, world: int, local_rank: int) -> Any:
    """NCCL on GPUs, gloo on the CPU, with the case's collective timeout (in a multi-node case plus the
    heartbeat watch's slack, so that a stopped rank is named by the watch before a peer's collective times out)."""
    import torch.distributed as dist

    from dlrmbench.devices import device_of
    from dlrmbench.distributed.heartbeat import collective_timeout_s

    device = device_of(case.device)
    device.set_current(local_rank)
    backend = device.distributed_backend
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=timedelta(seconds=collective_timeout_s(case.distributed.timeout_s)))
    return dist.group.WORLD


def build_distributed_workload(resolved: ResolvedCase, rank: int, world: int, local_rank: int,
                               group: Any = None) -> Any:
    """Dataset, placement, this rank's modules (DDP around the top model) on its device, from the
    resolved case: one rank of dlrmbench's hybrid layout (the DLRM family)."""
    from torch.nn.parallel import DistributedDataParallel

    from dlrmbench.distributed.model import DistributedDlrm, build_parts
    from dlrmbench.data.share import BatchShare
    from dlrmbench.distributed.placement import device_mapping, split_batch
    from dlrmbench.distributed.rank_data import RankData, pipeline_mode
    from dlrmbench.distributed.train import DistributedWorkload
    from dlrmbench.host import current_host
    from dlrmbench.memory_plan import plan_for_host
    from dlrmbench.workload.build import build_family, open_case_data

    resolved, device, dataset, table_sizes = open_case_data(resolved, local_rank, rank, world)
    case = resolved.case
    plan = plan_for_host(resolved, current_host(), table_sizes)
    if plan is not None and not plan.fits:  # table sizes known only now (from the dataset)
        raise ValueError("the case does not fit: " + "; ".join(plan.problems))
    placement = device_mapping(table_sizes, world)
    share = BatchShare.columns(rank, world, placement.tables[rank], rank == placement.bottom_mlp_rank)
    dataset = RankData(dataset, share, case.distributed.read, pipeline_mode(case.distributed.pipeline))
    batch_sizes = split_batch(case.batch_size, world)
    parts = build_parts(resolved, table_sizes, placement, rank)
    top = parts.top.to(device)
    if world > 1:
        top = DistributedDataParallel(top, device_ids=[local_rank] if device.type == "cuda" else None,
                                      process_group=group)
    model = DistributedDlrm(parts.bottom_mlp, parts.embeddings, top, placement, batch_sizes, rank,
                            case.model.embedding_dim, group).to(device)
    return DistributedWorkload(case, device, dataset, model, table_sizes, rank, world,
                               family=build_family(resolved, table_sizes), resolved=resolved)


def host_bytes_read(dataset: Any) -> int | None:
    """Bytes this rank read from the dataset's files (None when its dataset does not count them)."""
    counter = getattr(dataset, "bytes_read", None)
    return counter() if callable(counter) else None


def _rank_summary(outcome: Any, case: Case, rank: int, device: Any, dataset: Any = None) -> dict[str, Any]:
    from dlrmbench.devices import device_type_of
    from dlrmbench.results.stats import latency_summary

    measured = outcome.step_times[case.benchmark_warmup_steps:]
    summary = latency_summary(measured) if measured else {}
    peak, kind = device_type_of(device).peak_memory(device)
    return {"rank": rank, "step_time_mean_s": summary.get("mean_s"), "step_times_s": outcome.step_times,
            "peak_memory_bytes": peak, "peak_memory_kind": kind, "host_bytes_read": host_bytes_read(dataset)}


def run_rank_mode(work: Any, reporter: Reporter, layout: dict[str, Any], batch_sizes: list[int],
                  train: Any, evaluate: Any) -> None:
    """What every topology's rank does once its share is built: report it, then train (``train(work,
    reporter)``) or evaluate (``evaluate(work, policy, limit)``) with the one loop; rank 0 emits the result
    with every rank's step times and peak memory, gathered at the end."""
    from dlrmbench.workload.mlperf_log import open_mlperf_log

    record = getattr(work.dataset, "record", None)  # how this rank reads its input (rank 0's is reported)
    if callable(record):
        layout = {**layout, "input": record()}
    mlperf = open_mlperf_log(work.case) if work.rank == 0 else None  # rank 0 writes; its values are the gathered
    try:
        _run_mode(work, reporter, layout, batch_sizes, train, evaluate, mlperf)
    finally:
        if mlperf is not None:
            mlperf.run_stop(success=False, epochs_done=0.0)  # no-op unless the run stopped early
            mlperf.close()


def _run_mode(work: Any, reporter: Reporter, layout: dict[str, Any], batch_sizes: list[int], train: Any,
              evaluate: Any, mlperf: Any) -> None:
    """Train (with rank 0's MLLOG, ``mlperf``), evaluate, or run the inference benchmark on every rank."""
    import torch
    import torch.distributed as dist

    from dlrmbench.data.watch import data_files
    from dlrmbench.distributed.train import peak_memory_bytes
    from dlrmbench.workload.precision import apply_precision
    from dlrmbench.workload.result_metrics import inference_metrics, rank_metrics, test_metrics, train_metrics

    case, rank, world = work.case, work.rank, work.world_size
    group = dist.group.WORLD
    if os.environ.get("DLRMBENCH_TEST_FAIL_RANK") == str(rank):  # failure-handling tests only
        _injected_failure(rank)
    reporter.emit("built", table_sizes=work.table_sizes, world_size=world, **layout,
                  batch_sizes=batch_sizes,
                  parameters=sum(p.numel() for p in work.model.parameters()),
                  torch_version=torch.__version__, cuda_version=torch.version.cuda,
                  threads=torch.get_num_threads(),
                  allocator={**allocators.checked(), "huge_page_bytes": allocators.huge_page_bytes()},
                  data=data_files(work.dataset))
    if case.mode == "train":
        if mlperf is not None:
            mlperf.weights_initialized(work.model)
        outcome = train(work, reporter, mlperf)
        summary = _rank_summary(outcome, case, rank, work.device, work.dataset)
        everyone: list[Any] = [None] * world
        dist.all_gather_object(everyone, summary, group=group)
        metrics = {**train_metrics(outcome, work.resolved), **rank_metrics(everyone)}
        reporter.emit("result", metrics=metrics, evaluations=outcome.evaluations, step_times=outcome.step_times,
                      telemetry={"world_size": world, "ranks": everyone, **layout, "batch_sizes": batch_sizes})
    elif case.mode == "inference":
        from dlrmbench.workload.inference import run_inference

        records = run_inference(work, reporter)  # every rank in step: each global batch split over the ranks
        memory = [None] * world
        dist.all_gather_object(memory, peak_memory_bytes(work.device), group=group)
        reporter.emit("result", metrics=inference_metrics(records), inference=records,
                      telemetry={"world_size": world, **layout,
                                 "ranks": [{"rank": r, "peak_memory_bytes": m} for r, m in enumerate(memory)]})
    else:
        reporter.emit("start", mode="test", total_steps=1)
        result = evaluate(work, apply_precision(case, work.device), case.test_batches)
        memory = [None] * world
        dist.all_gather_object(memory, peak_memory_bytes(work.device), group=group)
        reporter.emit("result", metrics=test_metrics(result, work.resolved),
                      evaluations=[{"step": 0, **result.record()}],
                      telemetry={"world_size": world,
                                 "ranks": [{"rank": r, "peak_memory_bytes": m} for r, m in enumerate(memory)]})
    dist.barrier(group=group)


def run_distributed(resolved: ResolvedCase, reporter: Reporter, rank: int, world: int, local_rank: int) -> None:
    """Run the resolved case as rank ``rank`` of ``world`` on its topology plugin; rank 0 emits the result."""
    from dlrmbench.distributed.heartbeat import rank_heartbeat
    from dlrmbench.workload.build import PluginBuilder

    case = resolved.case
    allocators.checked()  # a rank whose allocator preload did not take fails before it joins the group
    if case.threads is not None:  # torchrun gives each rank one thread (OMP_NUM_THREADS=1) unless the case says
        import torch

        torch.set_num_threads(case.threads)
    init_process_group(case, rank, world, local_rank)
    with rank_heartbeat(rank, world, case.distributed.timeout_s):  # multi-node: a rank stopped anywhere is named
        runner = PluginBuilder(resolved, None, case.device, rank, world)("topology")
        runner.run(resolved, reporter, rank, world, local_rank)


class HybridRank:
    """One rank of dlrmbench's hybrid layout (the ``dlrmbench`` topology of the DLRM family)."""

    def run(self, resolved: ResolvedCase, reporter: Reporter, rank: int, world: int, local_rank: int) -> None:
        import torch.distributed as dist

        from dlrmbench.distributed.train import evaluate_distributed, train_distributed

        work = build_distributed_workload(resolved, rank, world, local_rank, dist.group.WORLD)
        layout = {"topology": resolved.plugins["topology"].name,
                  "placement": [list(t) for t in work.model.placement.tables]}
        run_rank_mode(work, reporter, layout, work.model.batch_sizes, train_distributed, evaluate_distributed)


def hybrid_rank(ctx: Any) -> HybridRank:
    """The ``dlrmbench`` topology's factory."""
    return HybridRank()


def main(resolved: ResolvedCase) -> int:
    """Entry of one torchrun rank (``dlrmbench.distributed.run_rank``, called by the worker with the
    resolved case it read from its case file)."""
    rank, world, local_rank = rank_environment()
    reporter = Reporter(sys.stdout, rank=rank)
    # SIGTERM keeps its default action: torchrun stops surviving ranks with it, and a rank blocked
    # inside a collective (C++) would never run a Python handler.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        run_distributed(resolved, reporter, rank, world, local_rank)
        return 0
    except KeyboardInterrupt:
        reporter.emit("interrupted")
        return 130
    except Exception as exc:
        from dlrmbench.workload.train import Diverged

        kind = "diverged" if isinstance(exc, Diverged) else type(exc).__name__
        any_rank = Reporter(sys.stdout, rank=0)  # every rank may report its own error
        any_rank.emit("error", kind=kind, message=f"rank {rank}: {exc}", failed_rank=rank, time=time.time(),
                      traceback=traceback.format_exc()[-3000:])
        return 1


def _injected_failure(rank: int) -> None:
    """``DLRMBENCH_TEST_FAIL_MODE``: ``raise`` an error, ``die`` (SIGKILL itself) or ``stop`` (SIGSTOP) once the process
    group is up, while the other ranks wait in the first exchange."""
    mode = os.environ.get("DLRMBENCH_TEST_FAIL_MODE", "raise")
    time.sleep(float(os.environ.get("DLRMBENCH_TEST_FAIL_AFTER_S", "1")))
    if mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "stop":  # stopped, as by a debugger or kill -STOP: never exits by itself
        os.kill(os.getpid(), signal.SIGSTOP)
    raise RuntimeError(f"injected failure on rank {rank}")
