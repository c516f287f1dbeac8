"""Bookkeeping the single-process and hybrid-parallel training loops share.

Progress reports with the step times since the last report, the evaluation schedule, and the
evaluation record that also decides time to train. Each loop keeps only what differs: its step
and how it gathers losses and predictions.
"""

from __future__ import annotations

from typing import Any

from dlrmbench.config.schema import Case
from dlrmbench.workload.evaluate import Evaluation
from dlrmbench.workload.reporter import Reporter
from dlrmbench.workload.timing import StepTimer


class ProgressReporter:
    """Emits ``progress`` events every ``progress_every`` steps and at the last step."""

    def __init__(self, reporter: Reporter, timer: StepTimer, case: Case, total: int) -> None:
        self.reporter, self.timer = reporter, timer
        self.every, self.total = case.progress_every, total
        self.reported = 0

    def due(self, step: int) -> bool:
        return step % self.every == 0 or step == self.total

    def emit(self, step: int, loss: float, lr: float) -> None:
        """Report ``step`` with the step times measured since the previous report."""
        self.timer.flush()
        self.reporter.emit("progress", step=step, loss=loss, lr=lr, step_times=self.timer.times[self.reported:])
        self.reported = len(self.timer.times)


def evaluation_due(case: Case, step: int, total: int) -> bool:
    """An evaluation inside the run every ``test_freq`` steps (the final one is always made)."""
    return bool(case.test_freq) and step % case.test_freq == 0 and step < total


def record_evaluation(outcome: Any, reporter: Reporter, case: Case, step: int, result: Evaluation,
                      elapsed_s: float, target_metric: str | None = None) -> bool:
    """Keep and report one evaluation; True when the family's target metric reaches ``auc_threshold``.

    The first evaluation that reaches the threshold fixes the time to train (MLPerf: evaluations
    included, measured from run start to the end of that evaluation).
    """
    record = {"step": step, **result.record(), "elapsed_s": elapsed_s}
    outcome.evaluations.append(record)
    reporter.emit("evaluation", **record)
    value = result.metrics.get(target_metric) if target_metric else None
    hit = case.auc_threshold is not None and value is not None and value >= case.auc_threshold
    if hit and outcome.time_to_train_s is None:
        outcome.time_to_train_s = elapsed_s
    return hit
