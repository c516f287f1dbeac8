"""Executing a planned suite: one isolated worker per case, results written as each case ends.

Nothing is lost: every case's result file is written atomically as soon as the case ends, and
the run manifest is rewritten after each case. Ctrl-C, SIGTERM and SIGHUP record the running case
as interrupted, keep every finished result, finish the manifest, and surface as
:class:`RunInterrupted` (the CLI exits 130, 143, 129). A result that cannot be written (a full
disk) stops the run with :class:`ResultWriteError`; the manifest says ``aborted`` and why.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrmbench import __version__
from dlrmbench.config.loader import LoadedSuite
from dlrmbench.errors import UserError
from dlrmbench.config.paths import RUN_DIR_VARIABLE
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.store import (
    atomic_write_json, case_file_name, new_run_id, run_directory, utc_now,
)
from dlrmbench.runner.artifacts import ARTIFACTS_VARIABLE
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated
from dlrmbench.runner.plan import PlannedCase
from dlrmbench.comparability import why_not_comparable
from dlrmbench.runner.resume import Resume, file_sha256
from dlrmbench.runner.signals import Stopped, deferred
from dlrmbench.telemetry.sampler import CaseTelemetry


class RunInterrupted(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM, SIGHUP); finished results are on disk."""

    def __init__(self, run_dir: Path, reason: str = "interrupted by the user (Ctrl-C)", exit_code: int = 130) -> None:
        super().__init__(f"{reason}; finished results are in {run_dir}")
        self.run_dir = run_dir
        self.reason = reason
        self.exit_code = exit_code


class ResultWriteError(UserError):
    """A result or the manifest could not be written (a full disk, a read-only folder); exit 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


@dataclass
class RunReport:
    run_dir: Path
    manifest: RunManifest
    results: list[CaseResult] = field(default_factory=list)


def _summary(result: CaseResult) -> str:
    if result.status != "ok":
        return (result.reason or "")[:120]
    parts = []
    thr = result.value("train_throughput")
    if thr:
        parts.append(f"{thr:,.0f} samples/s")
    auc = result.value("auc")
    if auc is not None:
        parts.append(f"AUC {auc:.4f}")
    serving = [m.value for m in result.metrics.values() if m.name == "serving_throughput" and m.value is not None]
    if serving:
        parts.append(f"{len(serving)} batch x clients cells, up to {max(serving):,.0f} samples/s")
    elif result.inference:
        parts.append(f"{len(result.inference)} batch sizes")
    return ", ".join(parts)


def execute(
    loaded: LoadedSuite,
    planned: list[PlannedCase],
    output: Path,
    environment: dict[str, Any],
    progress: Any,
    repeat: int = 1,
    timeout_s: float | None = None,
    resume: "Resume | None" = None,
    labels: dict[str, str] | None = None,
) -> RunReport:
    """Run every planned case ``repeat`` times, interleaved in rounds, and write results under ``output`` (or,
    resuming a stopped run, into its folder, skipping the cases it finished)."""
    if resume is not None:
        run_dir, manifest, run_id = resume.run_dir, resume.manifest, resume.manifest.run_id
    else:
        run_id = new_run_id()
        run_dir = run_directory(output, loaded.suite.name, run_id)
        manifest = RunManifest(
            suite=loaded.suite.name, suite_file=str(loaded.path), suite_sha256=file_sha256(loaded.path),
            run_id=run_id, dlrmbench_version=__version__, command=list(sys.argv), started_at=utc_now(),
            pid=os.getpid(), host=socket.gethostname(), environment=environment,
            reference={"source": loaded.suite.source, "description": loaded.suite.description},
            labels=dict(labels or {}),
        )
    done = resume.done if resume is not None else set()
    report = RunReport(run_dir=run_dir, manifest=manifest, results=list(resume.results) if resume else [])
    current: dict[str, Any] = {}  # the case being run: its identity, start time and (once ended) result

    def finish(status: str, reason: str | None = None) -> None:
        manifest.status = status  # type: ignore[assignment]
        manifest.reason = reason
        manifest.finished_at = utc_now()
        try:
            write_manifest(run_dir, manifest)
        except OSError as exc:
            if status == "aborted":
                raise
            raise ResultWriteError(f"{run_dir / 'run.json'}: could not record that the run ended {status}: "
                                   f"{exc.strerror or exc}; every result listed in it is on disk") from None

    def record(result: CaseResult) -> None:
        """Write a result and its manifest entry together (stop requests wait); on a write
        failure, finish the manifest as aborted (if at all possible) and raise ResultWriteError."""
        name = case_file_name(result.case, result.repeat, repeat)
        with deferred():
            current.clear()  # the case in progress, if any, is recorded now
            report.results.append(result)
            try:
                write_result(run_dir / "cases" / name, result)
            except OSError as exc:
                why = f"could not write the result of case {result.case}: {exc.strerror or exc}"
                manifest.cases.append(CaseEntry(case=result.case, repeat=result.repeat, status=result.status,
                                                file="", reason=f"{result.reason or result.status}; not saved: {why}"))
                abort(why, result)
            manifest.cases.append(CaseEntry(case=result.case, repeat=result.repeat, status=result.status,
                                            file=f"cases/{name}", reason=result.reason))
            try:
                write_manifest(run_dir, manifest)
            except OSError as exc:
                abort(f"could not update {run_dir / 'run.json'}: {exc.strerror or exc}", result)

    def abort(why: str, result: CaseResult) -> None:
        saved = [e for e in manifest.cases if e.file]
        try:
            finish("aborted", why)
            told = "the manifest (run.json) records the run as aborted"
        except OSError as exc:
            told = f"the manifest could not be updated either ({exc.strerror or exc})"
        raise ResultWriteError(
            f"{why}. The run stopped: {len(saved)} finished result(s) are in {run_dir}; {told}. "
            f"Case {result.case} ended {result.status}: {_summary(result) or '-'}. "
            "Free space (or fix the permissions) and run the remaining cases again (--only)."
        )

    try:
        with deferred():  # a stop request now finds the manifest written
            try:
                atomic_write_json(run_dir / "run.json", manifest)
            except OSError as exc:
                raise ResultWriteError(f"{run_dir}: cannot write results: {exc.strerror or exc}; "
                                       "nothing was run") from None
        # repeats run in rounds (A B A B ...): every case once per round, so that implementations compared
        # in one suite see the same drift of the machine (other load, clocks, temperature)
        for r in range(repeat):
            for item in planned:
                if (item.case.name, r) in done:
                    continue
                base = {"suite": loaded.suite.name, "run_id": run_id, "case": item.case.name, "repeat": r}
                if not item.runnable:
                    result = CaseResult(**base, status="skipped", reason=item.skip_reason,
                                        config=item.case.model_dump(mode="json"))
                    record(result)
                    continue
                label = item.case.name + (f" (repeat {r + 1}/{repeat})" if repeat > 1 else "")
                off = why_not_comparable(item.case.model_dump(include={"comparable", "not_comparable"}))
                label += f" ({off})" if off else ""
                current.update(base=base, case=item.case, started=utc_now())
                progress.start_case(label, item.case.batch_size)
                with CaseTelemetry(item.case) as telemetry:
                    artifacts = run_dir / "artifacts" / case_file_name(item.case.name, r, repeat).removesuffix(".json")
                    outcome = run_isolated(item.resolved, telemetry.observe(progress.on_event), timeout_s=timeout_s,
                                           env={RUN_DIR_VARIABLE: str(run_dir), ARTIFACTS_VARIABLE: str(artifacts)})
                result = collect(item.case, outcome, base)
                result.started_at, result.finished_at = current["started"], utc_now()
                current["result"] = result  # from here on a stop request records this result
                telemetry.attach(result)
                progress.end_case(result.status, _summary(result))
                record(result)
                if outcome.interrupted:
                    stop = Stopped(outcome.stop_signal or 2)
                    finish("interrupted", stop.reason)
                    raise RunInterrupted(run_dir, stop.reason, stop.exit_code)
    except KeyboardInterrupt as exc:  # outside a worker: nothing running, everything finished is on disk
        stop = exc if isinstance(exc, Stopped) else Stopped(2)
        if current.get("result") is not None:  # stopped just after the case ended: keep its result
            record(current["result"])
        elif current:  # stopped while starting a case: record it, with no measurement
            result = CaseResult(**current["base"], status="interrupted", reason=stop.reason,
                                config=current["case"].model_dump(mode="json"), started_at=current["started"],
                                finished_at=utc_now())
            record(result)
        finish("interrupted", stop.reason)
        raise RunInterrupted(run_dir, stop.reason, stop.exit_code) from None
    finish("complete")
    return report


def write_result(path: Path, result: CaseResult) -> None:
    """Write one case's result; when the full file does not fit, retry without the bulky parts
    (per-step times, telemetry samples, the log tail) so that the measured metrics survive."""
    try:
        atomic_write_json(path, result)
    except OSError:
        slim = result.model_copy(update={"step_times_s": [], "telemetry": {}, "log_tail": None})
        atomic_write_json(path, slim)


def write_manifest(run_dir: Path, manifest: RunManifest) -> None:
    """Replace ``run.json`` atomically; on a full disk, overwrite it in place (its blocks are
    already allocated), so that the manifest still tells how the run ended."""
    import json
    import os

    from dlrmbench.results.store import finite_json

    path = run_dir / "run.json"
    try:
        atomic_write_json(path, manifest)
    except OSError:
        data = (json.dumps(finite_json(manifest.model_dump(mode="json")), separators=(",", ":")) + "\n").encode()
        fd = os.open(path, os.O_WRONLY)
        try:
            if len(data) > os.fstat(fd).st_size:
                raise
            os.write(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        finally:
            os.close(fd)
