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

from dlrmbench.batch import ids_num_features
from dlrmbench.config.schema import Case
from dlrmbench.model.schedule import learning_rate
from dlrmbench.workload.build import Workload
from dlrmbench.workload.loop import ProgressReporter, evaluation_due, final_evaluation_due, record_evaluation
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import StepTimer, WallClock, synchronize
from dlrmbench.workload.topology import SingleProcess, Topology

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
    optimizer: Any = field(default=None, repr=False, compare=False)  # the optimizer plugin's, for checkpoint.save


def check_batch_shape(batch: Any, case: Any, num_tables: int) -> None:
    """Refuse data whose feature counts do not match the model, naming the fields to fix."""
    numerical = tuple(batch.numerical.shape)
    if len(numerical) != 2 or numerical[1] != case.model.num_numerical:
        raise ValueError(f"the dataset gives numerical features of shape {numerical} but model.num_numerical is "
                         f"{case.model.num_numerical}; make them agree")
    features = ids_num_features(batch.categorical)
    if features != num_tables:
        if features < 0:
            shape = tuple(batch.categorical.shape)
            features = shape[-1] if shape else 0
        raise ValueError(f"the dataset gives {features} categorical features per sample "
                         f"but the model has {num_tables} tables (model.table_sizes); make them agree")


def make_optimizer(case: Case, model: torch.nn.Module, topology: "Topology | None" = None) -> torch.optim.Optimizer:
    """The case's optimizer plugin over the topology's parameter groups (dense, and the tables' sparse group)."""
    from dlrmbench.workload.build import build_optimizer

    groups = (topology or SingleProcess()).parameter_groups(model)
    return build_optimizer(case, groups)


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


def train_step(model: torch.nn.Module, batch: Any, labels: torch.Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: torch.nn.Module, policy: Any, gradient_scale: float = 1.0, scaler: Any = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (forward under the precision policy, scaled backward, optimizer step);
    returns the logits and the unscaled loss. The training loop and ``dlrmbench verify`` share it."""
    with policy.autocast():
        logits = model(batch.numerical, batch.categorical)
    # a rank without rows of a short batch still runs backward (its exchange and all-reduce): loss 0
    loss = loss_fn(logits.float(), labels) if labels.numel() else logits.float().sum()
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        (loss * gradient_scale if gradient_scale != 1 else loss).backward()
        optimizer.step()
    return logits, loss


def train(work: Workload, reporter: Reporter, mlperf: "MlperfLog | None" = None,
          topology: "Topology | None" = None) -> TrainOutcome:
    """Train ``work.model`` for the case's epochs or max_steps; evaluate as configured.

    The one training loop: ``topology`` (default: a single process) says what differs in a
    hybrid-parallel rank (its labels, its loss weight, its parameter groups, how losses and
    predictions are gathered). ``mlperf`` (optional) receives the MLPerf run markers: ``run_start``
    at the same instant the time to train starts, one eval block per evaluation, ``run_stop`` after
    the last one. Raises :class:`Diverged` naming the first step whose loss was NaN or infinite.
    """
    case, device, model = work.case, work.device, work.model
    topology = topology or SingleProcess()
    policy = apply_precision(case, device)
    if policy.dynamic_scaler and topology.world_size > 1:
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
    optimizer = make_optimizer(case, model, topology)
    if case.checkpoint is not None and case.checkpoint.load is not None and topology.world_size == 1:
        from dlrmbench.workload.checkpoint import load_optimizer_state, resolve_path

        load_optimizer_state(optimizer, resolve_path(case.checkpoint.load, case), case)
    fused = topology.embeddings(model)
    if fused is not None and not getattr(fused, "applies_own_optimizer", False):
        fused = None  # the optimizer plugin updates the tables
    fused_scale = topology.embedding_lr_scale()
    scaler = policy.make_scaler()
    base_lr = case.optimizer.lr / policy.static_loss_scale  # reference: lr / 1024 with loss x 1024
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = torch.zeros(total, device=device)
    timer, clock = StepTimer(device), WallClock(device)
    outcome = TrainOutcome(optimizer=optimizer)
    extra = {"world_size": topology.world_size} if topology.world_size > 1 else {}
    reporter.emit("start", mode="train", total_steps=total, steps_per_epoch=steps_per_epoch,
                  batch_size=case.batch_size, warmup_steps=case.benchmark_warmup_steps, **extra)
    model.train()
    if mlperf is not None:
        mlperf.train_samples(total * case.batch_size)  # batch_size is the global batch (the reference's count)
    progress = ProgressReporter(reporter, timer, case, total)
    step = 0

    def check_losses() -> None:
        """Global-batch losses of the steps since the last check; Diverged at the first non-finite one."""
        values = topology.global_losses(losses[len(outcome.losses):step])
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
        result = topology.evaluate(model, test_batches, device, policy, case.test_batches)
        elapsed = time.perf_counter() - run_start  # evaluate() returned host floats: the device is idle
        if mlperf is not None:
            mlperf.eval_result(epochs_done, result.auc, result.samples)
        return record_evaluation(outcome, reporter, case, step, result, elapsed)

    current_lr = base_lr
    stop = False
    while not stop:
        for batch in train_batches:
            if step == case.benchmark_warmup_steps:
                clock.resume()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step + 1, base_lr * group.get("lr_scale", 1.0), case.optimizer)
            current_lr = learning_rate(step + 1, base_lr, case.optimizer)
            if fused is not None:
                fused.set_learning_rate(learning_rate(step + 1, base_lr * fused_scale, case.optimizer))
            if step == 0:
                check_batch_shape(batch, case, len(work.table_sizes))
            timer.start()
            batch = batch.to(device, non_blocking=True)
            share = topology.share(batch.size)  # this rank's weight in the global-batch mean (1 alone)
            _, loss = train_step(model, batch, topology.labels(batch), optimizer, loss_fn, policy,
                                 share * topology.world_size * policy.static_loss_scale, scaler)
            timer.stop()
            losses[step] = loss.detach() * share
            step += 1
            measuring = step > case.benchmark_warmup_steps
            if progress.due(step):
                check_losses()
                progress.emit(step, outcome.losses[-1], current_lr * policy.static_loss_scale)
            if measuring:
                outcome.measured_steps += 1
                outcome.measured_samples += batch.size
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
        mlperf.run_stop(success=any(e["auc"] >= target for e in outcome.evaluations),
                        epochs_done=step / steps_per_epoch)
    outcome.final_loss = outcome.losses[-1]
    outcome.step_times = timer.times
    return outcome
