"""Turning a worker's events into a :class:`CaseResult`, including for cases that did not finish.

A crashed, killed, timed-out or interrupted case keeps what it measured: the step times it
reported before it stopped give a partial throughput, labelled as partial.
"""

from __future__ import annotations

from typing import Any

from dlrmbench.config.schema import Case
from dlrmbench.results.metrics import make
from dlrmbench.results.schema import CaseResult, Metric, Status
from dlrmbench.results.stats import latency_summary
from dlrmbench.runner.isolate import WorkerOutcome
from dlrmbench.safe_text import plain_text


def _partial_metrics(case: Case, step_times: list[float]) -> dict[str, Metric]:
    measured = step_times[case.benchmark_warmup_steps:]
    if not measured:
        return {}
    summary = latency_summary(measured)
    return {
        "train_throughput": make("train_throughput", case.batch_size / summary["mean_s"], description=(
            "partial: batch size / mean step time of the steps completed before the case stopped")),
        "step_time_mean": make("step_time_mean", summary["mean_s"] * 1e3, description="partial"),
        "measured_steps": make("measured_steps", float(len(measured))),
    }


def interruption_reason(signum: int | None) -> str:
    from dlrmbench.runner.signals import Stopped

    return Stopped(signum).reason if signum is not None else "interrupted by the user (Ctrl-C)"


_SIGNAL_CAUSES = {
    "SIGKILL": "killed from outside (the kernel's out-of-memory killer, or kill -9)",
    "SIGBUS": "a bus error: a memory-mapped file (the dataset) was truncated or replaced while it was being read; "
              "check that nothing rewrites the dataset during a run, and that its disk is healthy",
    "SIGSEGV": "a segmentation fault in native code (torch, a kernel or an extension)",
}


def killed_by(signum: int) -> str:
    """``was killed by signal 7 (SIGBUS: ...)``: the signal's name and its usual cause."""
    from dlrmbench.runner.signals import signal_name

    name = signal_name(signum)
    cause = _SIGNAL_CAUSES.get(name)
    return f"was killed by signal {signum} ({name}{': ' + cause if cause else ''})"


def collect(case: Case, outcome: WorkerOutcome, base: dict[str, Any]) -> CaseResult:
    """Build the result of ``case`` from its worker ``outcome``; ``base`` holds identity fields."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in outcome.events:
        by_kind.setdefault(event.get("event", ""), []).append(event)
    step_times: list[float] = [t for e in by_kind.get("progress", []) for t in e.get("step_times", [])]
    evaluations = [{k: v for k, v in e.items() if k not in ("event", "rank")} for e in by_kind.get("evaluation", [])]
    built = by_kind.get("built", [{}])[-1]
    final = by_kind.get("result", [None])[-1]
    errors = by_kind.get("error", [])  # several ranks may fail: the first error (by time) is the cause
    error = min(errors, key=lambda e: e.get("time", 0.0)) if errors else None
    status: Status
    reason: str | None = None
    metrics: dict[str, Metric] = {}
    inference: list[dict[str, Any]] = []
    telemetry: dict[str, Any] = {}
    if final is not None and outcome.returncode == 0:
        status = "ok"
        metrics = {k: Metric.model_validate(v) for k, v in final.get("metrics", {}).items()}
        step_times = final.get("step_times", step_times)
        evaluations = final.get("evaluations", evaluations)
        inference = final.get("inference", [])
        telemetry = final.get("telemetry", {})
    else:
        if outcome.timed_out:
            deadline = outcome.deadline_s if outcome.deadline_s is not None else case.timeout_s
            status, reason = "timed_out", f"exceeded its timeout of {deadline:g} s"
        elif outcome.ended_by_parent is not None:  # a rank stopped: the peers' timeouts are its consequence
            status, reason = "failed", outcome.ended_by_parent
        elif outcome.interrupted or by_kind.get("interrupted"):
            status, reason = "interrupted", interruption_reason(outcome.stop_signal)
        elif error is not None:
            status = "failed"
            reason = f"{error.get('kind', 'error')}: {error.get('message', '')}"
            if len(errors) > 1:
                reason += f" ({len(errors)} ranks reported errors; this one came first)"
        else:
            status = "failed"
            code = outcome.returncode
            how = killed_by(-code) if code is not None and code < 0 else f"exited with code {code}"
            reason = f"the worker {how} without reporting a result"
            tail = outcome.log_tail.strip().splitlines()[-1:] if outcome.log_tail.strip() else []
            if tail:
                reason += f"; last log line: {tail[0][:300]}"
        if case.world_size > 1 and status == "failed" and outcome.ended_by_parent is None:
            from dlrmbench import distributed

            reason = distributed.failure_reason(outcome.log_tail, reason or "", error)
        metrics = _partial_metrics(case, step_times) if case.mode == "train" else {}
    environment = {k: built[k] for k in ("torch_version", "cuda_version", "threads", "allocator")
                   if k in built}
    if isinstance(built.get("data"), dict):  # the fingerprints of the files the case read (dlrmbench.data.watch)
        environment["data"] = built["data"]
    if final is not None and status == "ok" and isinstance(final.get("environment"), dict):  # what the mode ran on (serving runtime)
        environment.update(final["environment"])
    log_tail = None if status == "ok" else ((error or {}).get("traceback") or outcome.log_tail or None)
    reason = plain_text(reason) if reason is not None else None  # no terminal escapes in a result
    log_tail = plain_text(log_tail) if log_tail is not None else None
    return CaseResult(
        **base,
        status=status,
        reason=reason,
        config=case.model_dump(mode="json"),
        metrics=metrics,
        step_times_s=step_times,
        evaluations=evaluations,
        inference=inference,
        telemetry=telemetry,
        environment=environment,
        duration_s=outcome.duration_s,
        log_tail=log_tail,
    )
