"""The hybrid-parallel training loop and evaluation; one call per rank, every rank in lock step.

Shared pieces come from the single-process workload: the learning-rate schedule
(:func:`dlrmbench.model.schedule.learning_rate`), precision policies, step timing, prediction
(:func:`dlrmbench.workload.evaluate.predict`) and the AUC. What differs (facts sheet section 5):

* the loss of rank r is the mean over its slice, scaled by ``b_r * W / B``. DDP averages the top
  model's gradients over ranks, which gives the global-batch mean gradient exactly even when the
  slices are unequal (the reference's split is equal whenever it can be, and then the scale is 1);
* the bottom MLP and the tables get no all-reduce: their gradients arrive through the exchange as a
  sum over ranks, ``W`` times the global-mean gradient, so their learning rate is ``lr / W`` (SGD, as
  the reference);
* reported losses are the global-batch mean (the ranks' slice means weighted by ``b_r / B``,
  all-reduced once per progress window, not every step).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.distributed as dist

from dlrmbench.config.schema import Case
from dlrmbench.distributed.model import DistributedDlrm
from dlrmbench.metrics.auc import log_loss, roc_auc
from dlrmbench.model.schedule import learning_rate
from dlrmbench.workload.data import Batch
from dlrmbench.workload.evaluate import Evaluation, predict
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import StepTimer, WallClock
from dlrmbench.workload.loop import ProgressReporter, evaluation_due, record_evaluation
from dlrmbench.workload.train import Diverged, TrainOutcome, total_steps


@dataclass
class DistributedWorkload:
    """One rank's share of a case."""

    case: Case
    device: torch.device
    dataset: Any
    model: DistributedDlrm
    table_sizes: list[int]
    rank: int
    world_size: int


@dataclass
class DistributedTrainOutcome(TrainOutcome):
    """A training outcome plus every step's global-batch mean loss (the same on every rank)."""

    losses: list[float] = field(default_factory=list)


def make_optimizer(model: DistributedDlrm, world_size: int) -> torch.optim.SGD:
    """SGD with two groups: model-parallel (lr / world size) and data-parallel (lr)."""
    groups = [{"params": model.data_parallel_parameters(), "lr_scale": 1.0}]
    mp = model.model_parallel_parameters()
    if mp:
        groups.append({"params": mp, "lr_scale": 1.0 / world_size})
    return torch.optim.SGD(groups, lr=0.0)


class _LocalLabels:
    """A batch stream whose labels are this rank's slice (what the rank's logits predict)."""

    def __init__(self, batches: Any, model: DistributedDlrm) -> None:
        self.batches, self.model = batches, model

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for b in self.batches:
            yield Batch(b.numerical, b.categorical, self.model.local_slice(b.label))


def _gather_slices(tensor: torch.Tensor, sizes: list[int], group: Any) -> torch.Tensor:
    """Concatenate every rank's 1-D ``tensor`` (rank r has sizes[r] * k entries) in rank order."""
    world = len(sizes)
    if world == 1:
        return tensor
    counts = torch.tensor([tensor.numel()], device=tensor.device)
    all_counts = [torch.zeros_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts, group=group)
    longest = int(max(c.item() for c in all_counts))
    padded = torch.zeros(longest, dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.numel()] = tensor
    out = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(out, padded, group=group)
    return torch.cat([o[: int(c.item())] for o, c in zip(out, all_counts)])


def evaluate_distributed(work: DistributedWorkload, policy: Any, limit: int | None = None) -> Evaluation:
    """AUC and log loss over the test split: every rank predicts its slices, logits gathered in order.

    Every rank computes the same metrics from the same gathered tensors (no broadcast needed).
    """
    batches = work.dataset.batches("test", work.case.eval_batch_size, work.device)
    logits, labels = predict(work.model, _LocalLabels(batches, work.model), work.device, policy, limit)
    model = work.model
    # logits are [batch0 slice, batch1 slice, ...] per rank; regroup so the global order is restored
    per_batch = model.batch_sizes[model.rank]
    steps = logits.numel() // per_batch
    pieces = torch.stack([logits, labels]).reshape(2, steps, per_batch)
    gathered = _gather_slices(pieces.reshape(-1), model.batch_sizes, model.group)
    chunks, start = [], 0
    for size in model.batch_sizes:
        chunks.append(gathered[start:start + 2 * steps * size].reshape(2, steps, size))
        start += 2 * steps * size
    ordered = torch.cat(chunks, dim=2).reshape(2, -1)
    return Evaluation(auc=roc_auc(ordered[0], ordered[1]), log_loss=log_loss(ordered[0], ordered[1]),
                      samples=int(ordered.shape[1]))


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this rank: CUDA peak allocated bytes, or the process's peak RSS (VmHWM) on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def train_distributed(work: DistributedWorkload, reporter: Reporter) -> DistributedTrainOutcome:
    """Train this rank's part for the case's epochs or max_steps, evaluating as configured."""
    case, device, model, world = work.case, work.device, work.model, work.world_size
    policy = apply_precision(case, device)
    if policy.dynamic_scaler:
        raise ValueError("amp_scaler: dynamic is not supported in hybrid-parallel runs (each rank would decide "
                         "on overflow alone); use the reference's static loss scale")
    train_batches = work.dataset.batches("train", case.batch_size, device)
    steps_per_epoch = len(train_batches)
    total = total_steps(case, steps_per_epoch)
    optimizer = make_optimizer(model, world)
    base_lr = case.optimizer.lr / policy.static_loss_scale
    loss_fn = torch.nn.BCEWithLogitsLoss()
    mine = model.batch_sizes[work.rank]
    share = mine / case.batch_size  # this rank's weight in the global mean loss
    gradient_scale = share * world * policy.static_loss_scale
    local_losses = torch.zeros(total, device=device)
    global_losses: list[float] = []
    timer, clock = StepTimer(device), WallClock(device)
    outcome = DistributedTrainOutcome()
    reporter.emit("start", mode="train", total_steps=total, steps_per_epoch=steps_per_epoch,
                  batch_size=case.batch_size, warmup_steps=case.benchmark_warmup_steps, world_size=world)
    model.train()
    run_start = time.perf_counter()
    step = 0
    progress = ProgressReporter(reporter, timer, case, total)
    current_lr = base_lr

    def reduce_losses() -> None:
        window = local_losses[len(global_losses):step] * share
        if world > 1:
            dist.all_reduce(window, group=model.group)
        values = window.tolist()
        for i, value in enumerate(values):
            if not math.isfinite(value):
                at = len(global_losses) + i + 1
                raise Diverged(f"loss became {value} at step {at} (lr {current_lr:.6g}); "
                               "NaN/inf in the data (dlrmbench dataset inspect checks) or a seed that diverges "
                           "(the reference notes some do: try another seed or a lower lr)")
        global_losses.extend(values)

    def run_evaluation() -> bool:
        clock.pause()
        result = evaluate_distributed(work, policy, case.test_batches)
        return record_evaluation(outcome, reporter, case, step, result, time.perf_counter() - run_start)

    stop = False
    while not stop:
        for batch in train_batches:
            if step == case.benchmark_warmup_steps:
                clock.resume()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step + 1, base_lr * group["lr_scale"], case.optimizer)
            current_lr = optimizer.param_groups[0]["lr"]
            timer.start()
            batch = batch.to(device, non_blocking=True)
            with policy.autocast():
                logits = model(batch.numerical, batch.categorical)
            loss = loss_fn(logits.float(), model.local_slice(batch.label))
            optimizer.zero_grad(set_to_none=True)
            (loss * gradient_scale).backward()
            optimizer.step()
            timer.stop()
            local_losses[step] = loss.detach()
            step += 1
            if progress.due(step):
                reduce_losses()
                progress.emit(step, global_losses[-1], current_lr * policy.static_loss_scale)
            if step > case.benchmark_warmup_steps:
                outcome.measured_steps += 1
                outcome.measured_samples += case.batch_size
            if evaluation_due(case, step, total):
                if run_evaluation():
                    stop = True
                    break
                if step >= case.benchmark_warmup_steps:
                    clock.resume()
            if step >= total:
                stop = True
                break
    clock.pause()
    reduce_losses()
    outcome.steps = step
    outcome.measured_seconds = clock.elapsed
    if not outcome.evaluations or outcome.evaluations[-1]["step"] != step:
        run_evaluation()
    outcome.wall_seconds = time.perf_counter() - run_start
    outcome.final_loss = global_losses[-1]
    timer.flush()
    outcome.step_times = timer.times
    outcome.losses = global_losses
    return outcome
