"""The training loop (the only one): the optimizer plugin, NVIDIA's schedule, honest timing.

Throughput is the number of samples of the measured steps (after ``benchmark_warmup_steps``)
divided by the wall time of those steps, synchronised at both ends, with evaluations paused out.
Time to train follows MLPerf: from run start (before the training and test splits are opened)
to the end of the evaluation that reaches ``auc_threshold``, evaluations included. The model is
built and the dataset plugin constructed before run start (MLPerf's untimed initialisation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from dlrmbench.batch import global_rows
from dlrmbench.config.schema import Case
from dlrmbench.model.schedule import learning_rate
from dlrmbench.workload.build import Workload
from dlrmbench.workload.loop import ProgressReporter, evaluation_due, final_evaluation_due, record_evaluation
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import StepTimer, WallClock, synchronize
from dlrmbench.workload.layout import Layout, SingleProcess

if TYPE_CHECKING:
    from dlrmbench.workload.mlperf_log import MlperfLog


class Diverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainOutcome:
    steps: int = 0
    measured_steps: int = 0
    measured_samples: int = 0
    measured_seconds: float = 0.0
    wall_seconds: float = 0.0
    time_to_train_s: float | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    final_loss: float | None = None
    step_times: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # every step's global-batch mean loss
    measured_units: dict[str, float] = field(default_factory=dict)  # the family's work units (tokens) measured
    optimizer: Any = field(default=None, repr=False, compare=False)  # the optimizer plugin's, for checkpoint.save


def make_optimizer(resolved: Any, model: torch.nn.Module, layout: "Layout | None" = None) -> torch.optim.Optimizer:
    """The case's optimizer plugin over the layout's parameter groups (dense, and the tables' sparse group)."""
    from dlrmbench.workload.build import build_optimizer

    groups = (layout or SingleProcess()).parameter_groups(model)
    return build_optimizer(resolved, groups)


def total_steps(case: Case, steps_per_epoch: int) -> int:
    """Optimisation steps of the case: its epochs of ``steps_per_epoch``, capped by max_steps.

    Raises ValueError when the split has no complete batch or warm-up would leave nothing to measure.
    """
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {case.batch_size} is larger than the training split (no complete batch); "
                         "lower batch_size or use a larger dataset")
    total = math.ceil(case.epochs * steps_per_epoch)
    total = min(total, case.max_steps) if case.max_steps else total
    if case.benchmark_warmup_steps >= total:
        raise ValueError(
            f"benchmark_warmup_steps ({case.benchmark_warmup_steps}) leaves no measured step out of {total}; "
            "lower it or train longer"
        )
    return total


def _rows(target: Any) -> int:
    """Samples in ``target`` (a tensor's first dimension; a 0-d tensor or a target of another type, such as a
    family's own record, counts as non-empty)."""
    return int(target.shape[0]) if isinstance(target, torch.Tensor) and target.dim() > 0 else 1


def _zero_loss(outputs: Any) -> torch.Tensor:
    """Zero, still attached to the rank's graph: its backward runs the exchange and DDP's all-reduce."""
    return outputs.float().sum() * 0.0


def train_step(model: torch.nn.Module, batch: Any, target: Any, optimizer: torch.optim.Optimizer,
               family: Any, policy: Any, gradient_scale: float = 1.0, scaler: Any = None,
               after_backward: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (forward under the precision policy, the family's loss, scaled backward,
    optimizer step); returns the outputs and the unscaled loss. The training loop and ``dlrmbench verify``
    share it. The autocast context is entered for this step's forward only: autocast caches its low-precision
    copies of the weights until the outermost context exits, so a context around several steps would train
    with stale copies. ``after_backward()`` (a layout's) runs between backward and the optimizer step."""
    with policy.autocast():
        outputs = model(*family.model_inputs(batch))
    # a rank without rows of a short batch still runs backward (its exchange and all-reduce): loss 0
    loss = family.loss(outputs, target) if _rows(target) else _zero_loss(outputs)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if after_backward is not None:
            after_backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        (loss * gradient_scale if gradient_scale != 1 else loss).backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
    return outputs, loss


def train(work: Workload, reporter: Reporter, mlperf: "MlperfLog | None" = None,
          layout: "Layout | None" = None) -> TrainOutcome:
    """Train ``work.model`` for the case's epochs or max_steps; evaluate as configured.

    The one training loop: ``layout`` (default: a single process) says what differs in a rank of a
    topology (its slice and target, its loss weight, its parameter groups, how losses and the family's
    evaluation rows are gathered); the workload's family says what the model takes and how it is scored. ``mlperf`` (optional) receives the MLPerf run markers: ``run_start``
    at the same instant the time to train starts, one eval block per evaluation, ``run_stop`` after
    the last one. Raises :class:`Diverged` naming the first step whose loss was NaN or infinite.
    """
    case, device, model, family = work.case, work.device, work.model, work.family
    layout = layout or SingleProcess()
    policy = apply_precision(case, device)
    if policy.dynamic_scaler and layout.world_size > 1:
        raise ValueError("amp_scaler: dynamic is not supported in hybrid-parallel runs (each rank would decide "
                         "on overflow alone); use the reference's static loss scale")
    # MLPerf: the clock starts before the data is touched; opening the splits is timed.
    synchronize(device)
    run_start = time.perf_counter()
    if mlperf is not None:
        mlperf.init_stop_run_start()
    train_batches = work.dataset.batches("train", case.batch_size, device)
    steps_per_epoch = len(train_batches)
    total = total_steps(case, steps_per_epoch)
    test_batches = work.dataset.batches("test", case.eval_batch_size, device)
    optimizer = make_optimizer(work.resolved, model, layout)
    if case.checkpoint is not None and case.checkpoint.load is not None and layout.world_size == 1:
        from dlrmbench.config.paths import case_path
        from dlrmbench.workload.checkpoint import load_optimizer_state

        load_optimizer_state(optimizer, case_path(case.checkpoint.load, case), case)
    fused = layout.embeddings(model)
    if fused is not None and not getattr(fused, "applies_own_optimizer", False):
        fused = None  # the optimizer plugin updates the tables
    fused_scale = layout.embedding_lr_scale()
    scaler = policy.make_scaler()
    base_lr = case.optimizer.lr / policy.static_loss_scale  # reference: lr / 1024 with loss x 1024
    losses = torch.zeros(total, device=device)
    timer, clock = StepTimer(device), WallClock(device)
    outcome = TrainOutcome(optimizer=optimizer)
    extra = {"world_size": layout.world_size} if layout.world_size > 1 else {}
    reporter.emit("start", mode="train", total_steps=total, steps_per_epoch=steps_per_epoch,
                  batch_size=case.batch_size, warmup_steps=case.benchmark_warmup_steps, **extra)
    model.train()
    if mlperf is not None:
        mlperf.train_samples(total * case.batch_size)  # batch_size is the global batch (the reference's count)
    progress = ProgressReporter(reporter, timer, case, total)
    resolved = work.resolved
    target_metric = resolved.target_metric or (resolved.metrics[0].name if resolved.metrics else None)
    units = getattr(family, "units", None)  # optional: work per batch besides samples (tokens, items)
    after_backward = getattr(layout, "after_backward", None)  # optional: a layout's own gradient exchange
    layout_check = getattr(layout, "check_batch", None)  # optional: a rank's check of its share of the batch
    make_steps = getattr(layout, "train_pipeline", None)  # optional: a layout's own steps (TorchRec's pipeline)
    steps = make_steps(optimizer) if make_steps is not None else None

    def check_batch(batch: Any, table_sizes: list[int]) -> None:
        if layout_check is not None:
            layout_check(family, batch, table_sizes)
        else:
            family.check_batch(batch, table_sizes)
    step = 0

    def check_losses() -> None:
        """Global-batch losses of the steps since the last check; Diverged at the first non-finite one."""
        values = layout.global_losses(losses[len(outcome.losses):step])
        for i, value in enumerate(values):
            if not math.isfinite(value):
                first = len(outcome.losses) + i + 1
                lr_then = learning_rate(first, base_lr, case.optimizer) * policy.static_loss_scale
                raise Diverged(f"loss became {value} at step {first} (lr {lr_then:.6g}); "
                               "NaN/inf in the data (dlrmbench dataset inspect checks) or a seed that diverges "
                               "(the reference notes some do: try another seed or a lower lr)")
        outcome.losses.extend(values)

    def run_evaluation() -> bool:
        clock.pause()
        check_losses()  # never evaluate (or report an AUC for) a model that has already diverged
        epochs_done = step / steps_per_epoch
        if mlperf is not None:
            mlperf.eval_start(epochs_done)
        result = layout.evaluate(family, model, test_batches, device, policy, case.test_batches)
        elapsed = time.perf_counter() - run_start  # evaluate() returned host floats: the device is idle
        if mlperf is not None:
            mlperf.eval_result(epochs_done, result.metrics[target_metric], result.samples)
        return record_evaluation(outcome, reporter, case, step, result, elapsed, target_metric)

    current_lr = base_lr
    stop = False
    while not stop:
        # with a layout's pipeline, the loop holds each step's batch (rows, checks) while the pipeline reads ahead
        epoch = steps.feed(train_batches, total - step) if steps is not None else train_batches
        for batch in epoch:
            if step == case.benchmark_warmup_steps:
                clock.resume()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step + 1, base_lr * group.get("lr_scale", 1.0), case.optimizer)
            current_lr = learning_rate(step + 1, base_lr, case.optimizer)
            if fused is not None:
                fused.set_learning_rate(learning_rate(step + 1, base_lr * fused_scale, case.optimizer))
            if step == 0:
                check_batch(batch, work.table_sizes)
            timer.start()
            rows = global_rows(batch)  # the global batch's (a rank's share knows them)
            share = layout.share(rows)  # this rank's weight in the global-batch mean (1 alone)
            if steps is not None:  # the pipeline's step of this batch (its copy, weight and loss as below)
                loss = steps.step()
            else:
                # only this rank's part goes to the device (a data-parallel rank's slice; the whole batch otherwise)
                local = layout.local_batch(batch).to(device, non_blocking=True)
                _, loss = train_step(model, local, layout.target(family, local), optimizer, family, policy,
                                     share * layout.world_size * policy.static_loss_scale, scaler, after_backward)
            timer.stop()
            losses[step] = loss.detach() if share == 1 else loss.detach() * share
            step += 1
            measuring = step > case.benchmark_warmup_steps
            if progress.due(step):
                check_losses()
                progress.emit(step, outcome.losses[-1], current_lr * policy.static_loss_scale)
            if measuring:
                outcome.measured_steps += 1
                outcome.measured_samples += rows
                if units is not None:
                    for unit, count in units(batch).items():
                        outcome.measured_units[unit] = outcome.measured_units.get(unit, 0.0) + float(count)
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
    timer.flush()  # a stop at auc_threshold leaves GPU step events unread
    check_losses()
    outcome.steps = step
    outcome.measured_seconds = clock.elapsed
    if final_evaluation_due(case, outcome.evaluations, step):
        run_evaluation()
    outcome.wall_seconds = time.perf_counter() - run_start
    if mlperf is not None:
        target = mlperf.target()
        mlperf.run_stop(success=any(e[target_metric] >= target for e in outcome.evaluations),
                        epochs_done=step / steps_per_epoch)
    outcome.final_loss = outcome.losses[-1]
    outcome.step_times = timer.times
    return outcome
