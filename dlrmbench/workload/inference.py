"""The inference benchmark (facts sheet 6.1): latency and throughput per batch size.

For each batch size: ``warmup_steps`` untimed steps, then ``steps`` timed forward passes under
``no_grad``, each synchronised with the device. Two numbers per batch size: end-to-end (the batch
starts in host memory and the host-to-device copy is timed) and device-only (the batch is already
on the device). On the CPU the copy is a no-op and the two agree.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch

from dlrmbench.results.stats import latency_summary
from dlrmbench.workload.build import Workload
from dlrmbench.workload.data import Batch
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import synchronize


def _host_batches(work: Workload, batch_size: int, needed: int) -> list[Batch]:
    stream = work.dataset.batches("test", batch_size, torch.device("cpu"))
    batches = list(itertools.islice(stream, needed))
    if not batches:
        raise ValueError(f"the test split has no complete batch of {batch_size}; lower the inference batch size")
    if work.device.type == "cuda":
        batches = [Batch(b.numerical.pin_memory(), b.categorical.pin_memory(), b.label) for b in batches]
    return batches


def _time_steps(model: torch.nn.Module, batches: list[Batch], device: torch.device, policy: Any,
                steps: int, warmup: int, copy: bool) -> list[float]:
    on_device = batches if copy else [b.to(device) for b in batches]
    times = []
    for i, batch in zip(range(warmup + steps), itertools.cycle(on_device)):
        synchronize(device)
        start = time.perf_counter()
        if copy:
            batch = batch.to(device, non_blocking=True)
        with torch.no_grad(), policy.autocast():
            model(batch.numerical, batch.categorical)
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def run_inference(work: Workload, reporter: Reporter) -> list[dict[str, Any]]:
    """Benchmark ``work.model`` at every batch size of the case; return one record per size."""
    case, model = work.case, work.model
    policy = apply_precision(case, work.device)
    cfg = case.inference
    model.eval()
    reporter.emit("start", mode="inference", total_steps=len(cfg.batch_sizes) * (cfg.steps + cfg.warmup_steps) * 2,
                  batch_sizes=cfg.batch_sizes)
    records = []
    done = 0
    for batch_size in cfg.batch_sizes:
        batches = _host_batches(work, batch_size, min(cfg.steps + cfg.warmup_steps, 64))
        record: dict[str, Any] = {"batch_size": batch_size, "steps": cfg.steps}
        for label, copy in (("end_to_end", True), ("device_only", False)):
            times = _time_steps(model, batches, work.device, policy, cfg.steps, cfg.warmup_steps, copy)
            summary = latency_summary(times)
            record[label] = {**summary, "throughput": batch_size / summary["mean_s"], "step_times_s": times}
            done += cfg.steps + cfg.warmup_steps
            reporter.emit("progress", step=done, batch_size=batch_size, variant=label,
                          throughput=batch_size / summary["mean_s"])
        records.append(record)
    return records
