"""The inference benchmark (facts sheet 6.1): latency and throughput per batch size.

For each batch size: ``warmup_steps`` untimed steps, then ``steps`` timed forward passes under
``no_grad``, each synchronised with the device. Two numbers per batch size: end-to-end (the batch
starts in host memory and the host-to-device copy is timed) and device-only (the batch is already
on the device). On the CPU the copy is a no-op and the two agree.

``inference.cuda_graphs`` (GPU only) replays one captured graph per batch size instead of eager
calls. Deviation: with ``amp`` the forward runs under float16 autocast (tables stay float32);
NVIDIA's 2020 inference converted the whole model with ``.half()``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable

import torch

from dlrmbench.batch import global_rows
from dlrmbench.results.stats import latency_summary
from dlrmbench.workload.build import Workload
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import synchronize


def _host_batches(work: Workload, batch_size: int, needed: int) -> list[Any]:
    stream = work.dataset.batches("test", batch_size, torch.device("cpu"))
    batches = [b for b in itertools.islice(stream, needed) if global_rows(b) == batch_size]  # graphs: one shape
    if not batches:
        raise ValueError(f"the test split has no complete batch of {batch_size}; lower the inference batch size")
    if work.device.type == "cuda":
        batches = [b.pin_memory() if hasattr(b, "pin_memory") else b for b in batches]
    return batches


Forward = Callable[..., torch.Tensor]
"""``forward(*inputs)``: the model's outputs for the family's model inputs of one batch."""


def eager_forward(model: torch.nn.Module, policy: Any) -> Forward:
    """The model called directly, under ``no_grad`` and the precision's autocast."""

    def forward(*inputs: Any) -> torch.Tensor:
        with torch.no_grad(), policy.autocast():
            return model(*inputs)

    return forward


def graphed_forward(model: torch.nn.Module, policy: Any, example: tuple[Any, ...], device: torch.device,
                    warmup: int = 10) -> Forward:
    """A CUDA-graph replay of the forward pass at ``example``'s batch size (GPU only).

    As in NVIDIA's 21.10 ``--cuda_graphs``: ``warmup`` eager iterations on a side stream, one
    capture with static input tensors, then per call: copy the inputs into the static tensors
    and replay. The copy from a pinned host batch is the host-to-device transfer. Untested on
    the CPU-only development machine; refused on any device that is not CUDA.
    """
    if device.type != "cuda":
        raise ValueError(f"inference.cuda_graphs needs a CUDA device, not {device.type}")
    if not all(isinstance(x, torch.Tensor) for x in example):
        raise ValueError("inference.cuda_graphs needs the model's inputs as tensors (one-hot ids); this case's "
                         "inputs hold jagged features: set inference.cuda_graphs: false")
    static = [x.to(device).clone() for x in example]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side), torch.no_grad(), policy.autocast():
        for _ in range(max(1, warmup)):  # also runs any first-batch checks that synchronise
            model(*static)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph), torch.no_grad(), policy.autocast():
            static_out = model(*static)
    except RuntimeError as exc:
        raise RuntimeError(
            f"CUDA graph capture failed ({str(exc).splitlines()[0][:200]}); the backend or embedding "
            "strategy synchronises with the host inside forward(): set inference.cuda_graphs: false"
        ) from exc

    def forward(*inputs: torch.Tensor) -> torch.Tensor:
        for target, value in zip(static, inputs):
            target.copy_(value, non_blocking=True)
        graph.replay()
        return static_out

    return forward


def _time_steps(forward: Forward, family: Any, batches: list[Any], device: torch.device,
                steps: int, warmup: int, copy: bool, graphed: bool) -> list[float]:
    """Per-step latency: from the batch in host memory (``copy``) or on the device, to the output
    ready on the device. A graph replay copies host batches straight into its static inputs."""
    on_device = batches if copy else [b.to(device) for b in batches]
    times = []
    for i, batch in zip(range(warmup + steps), itertools.cycle(on_device)):
        synchronize(device)
        start = time.perf_counter()
        if copy and not graphed:
            batch = batch.to(device, non_blocking=True)
        forward(*family.model_inputs(batch))
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
        graphed = cfg.cuda_graphs and work.device.type == "cuda"
        record["cuda_graphs"] = graphed
        forward = (graphed_forward(model, policy, work.family.model_inputs(batches[0]), work.device) if graphed
                   else eager_forward(model, policy))
        for label, copy in (("end_to_end", True), ("device_only", False)):
            times = _time_steps(forward, work.family, batches, work.device, cfg.steps, cfg.warmup_steps, copy,
                                graphed)
            summary = latency_summary(times)
            record[label] = {**summary, "throughput": batch_size / summary["mean_s"], "step_times_s": times}
            done += cfg.steps + cfg.warmup_steps
            reporter.emit("progress", step=done, batch_size=batch_size, variant=label,
                          throughput=batch_size / summary["mean_s"])
        records.append(record)
    return records
