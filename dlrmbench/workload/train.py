"""The training loop: SGD with sparse embedding gradients, NVIDIA's schedule, honest timing.

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

from dlrmbench.config.schema import Case
from dlrmbench.model.in_backward import set_learning_rate
from dlrmbench.model.schedule import learning_rate
from dlrmbench.workload.build import Workload
from dlrmbench.workload.evaluate import evaluate
from dlrmbench.workload.loop import ProgressReporter, evaluation_due, record_evaluation
from dlrmbench.workload.precision import apply_precision
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import StepTimer, WallClock, synchronize

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


def check_batch_shape(batch: Any, case: Any, num_tables: int) -> None:
    """Refuse data whose feature counts do not match the model, naming the fields to fix."""
    numerical, categorical = tuple(batch.numerical.shape), tuple(batch.categorical.shape)
    if len(numerical) != 2 or numerical[1] != case.model.num_numerical:
        raise ValueError(f"the dataset gives numerical features of shape {numerical} but model.num_numerical is "
                         f"{case.model.num_numerical}; make them agree")
    if len(categorical) != 2 or categorical[1] != num_tables:
        raise ValueError(f"the dataset gives {categorical[-1] if categorical else 0} categorical features per sample "
                         f"but the model has {num_tables} tables (model.table_sizes); make them agree")


def make_optimizer(model: torch.nn.Module) -> torch.optim.SGD:
    """Plain SGD (no momentum, no weight decay) over all parameters; tables get sparse grads."""
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)


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


def train(work: Workload, reporter: Reporter, mlperf: "MlperfLog | None" = None) -> TrainOutcome:
    """Train ``work.model`` for the case's epochs or max_steps; evaluate as configured.

    ``mlperf`` (optional) receives the MLPerf run markers: ``run_start`` at the same instant the
    time to train starts, one eval block per evaluation, ``run_stop`` after the last one.
    Raises :class:`Diverged` naming the first step whose loss was NaN or infinite.
    """
    case, device, model = work.case, work.device, work.model
    policy = apply_precision(case, device)
    # MLPerf: the clock starts before the data is touched; opening the splits is timed.
    synchronize(device)
    run_start = time.perf_counter()
    if mlperf is not None:
        mlperf.init_stop_run_start()
    train_batches = work.dataset.batches("train", case.batch_size, device)
    steps_per_epoch = len(train_batches)
    total = total_steps(case, steps_per_epoch)
    test_batches = work.dataset.batches("test", case.eval_batch_size, device)
    optimizer = make_optimizer(model)
    scaler = policy.make_scaler()
    base_lr = case.optimizer.lr / policy.static_loss_scale  # reference: lr / 1024 with loss x 1024
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = torch.zeros(total, device=device)
    timer, clock = StepTimer(device), WallClock(device)
    outcome = TrainOutcome()
    reporter.emit("start", mode="train", total_steps=total, steps_per_epoch=steps_per_epoch,
                  batch_size=case.batch_size, warmup_steps=case.benchmark_warmup_steps)
    model.train()
    if mlperf is not None:
        mlperf.train_samples(total * case.batch_size * case.world_size)
    progress = ProgressReporter(reporter, timer, case, total)
    checked = 0
    step = 0

    def check_losses() -> None:
        nonlocal checked
        window = losses[checked:step]
        bad = ~torch.isfinite(window)
        if bool(bad.any()):
            first = checked + int(bad.nonzero()[0]) + 1
            lr_then = learning_rate(first, base_lr, case.optimizer) * policy.static_loss_scale
            raise Diverged(f"loss became {float(losses[first - 1])} at step {first} (lr {lr_then:.6g}); "
                           "the reference notes some seeds diverge: try another seed or a lower lr")
        checked = step

    def run_evaluation() -> bool:
        clock.pause()
        check_losses()  # never evaluate (or report an AUC for) a model that has already diverged
        epochs_done = step / steps_per_epoch
        if mlperf is not None:
            mlperf.eval_start(epochs_done)
        result = evaluate(model, test_batches, device, policy, case.test_batches)
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
            current_lr = learning_rate(step + 1, base_lr, case.optimizer)
            for group in optimizer.param_groups:
                group["lr"] = current_lr
            set_learning_rate(model, current_lr)  # strategies that apply SGD inside backward
            if step == 0:
                check_batch_shape(batch, case, len(work.table_sizes))
            timer.start()
            batch = batch.to(device, non_blocking=True)
            with policy.autocast():
                logits = model(batch.numerical, batch.categorical)
            loss = loss_fn(logits.float(), batch.label)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                (loss * policy.static_loss_scale if policy.static_loss_scale != 1 else loss).backward()
                optimizer.step()
            timer.stop()
            losses[step] = loss.detach()
            step += 1
            measuring = step > case.benchmark_warmup_steps
            if progress.due(step):
                check_losses()
                progress.emit(step, float(losses[step - 1]), current_lr * policy.static_loss_scale)
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
    if not outcome.evaluations or outcome.evaluations[-1]["step"] != step:
        run_evaluation()
    outcome.wall_seconds = time.perf_counter() - run_start
    if mlperf is not None:
        target = mlperf.target()
        mlperf.run_stop(success=any(e["auc"] >= target for e in outcome.evaluations),
                        epochs_done=step / steps_per_epoch)
    outcome.final_loss = float(losses[step - 1])
    outcome.step_times = timer.times
    return outcome
