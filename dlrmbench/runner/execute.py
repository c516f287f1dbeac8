"""Executing a planned suite: one isolated worker per case, results written as each case ends.

Nothing is lost: every case's result file is written atomically as soon as the case ends, and
the run manifest is rewritten after each case. Ctrl-C records the running case as interrupted,
keeps every finished result, and surfaces as :class:`RunInterrupted` (the CLI exits 130).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrmbench import __version__
from dlrmbench.config.loader import LoadedSuite
from dlrmbench.results.schema import CaseEntry, CaseResult, RunManifest
from dlrmbench.results.store import (
    atomic_write_json, case_file_name, new_run_id, run_directory, utc_now,
)
from dlrmbench.runner.collect import collect
from dlrmbench.runner.isolate import run_isolated
from dlrmbench.runner.plan import PlannedCase
from dlrmbench.telemetry.sampler import CaseTelemetry


class RunInterrupted(Exception):
    """The user interrupted the run; finished results are on disk."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; finished results are in {run_dir}")
        self.run_dir = run_dir


@dataclass
class RunReport:
    run_dir: Path
    manifest: RunManifest
    results: list[CaseResult] = field(default_factory=list)


def _file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    if result.inference:
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
) -> RunReport:
    """Run every planned case ``repeat`` times and write results under ``output``."""
    run_id = new_run_id()
    run_dir = run_directory(output, loaded.suite.name, run_id)
    manifest = RunManifest(
        suite=loaded.suite.name, suite_file=str(loaded.path), suite_sha256=_file_sha256(loaded.path),
        run_id=run_id, dlrmbench_version=__version__, command=list(sys.argv), started_at=utc_now(),
        environment=environment,
        reference={"source": loaded.suite.source, "description": loaded.suite.description},
    )
    atomic_write_json(run_dir / "run.json", manifest)
    report = RunReport(run_dir=run_dir, manifest=manifest)

    def record(result: CaseResult) -> None:
        name = case_file_name(result.case, result.repeat, repeat)
        atomic_write_json(run_dir / "cases" / name, result)
        manifest.cases.append(CaseEntry(case=result.case, repeat=result.repeat, status=result.status,
                                        file=f"cases/{name}", reason=result.reason))
        atomic_write_json(run_dir / "run.json", manifest)
        report.results.append(result)

    try:
        for item in planned:
            for r in range(repeat):
                base = {"suite": loaded.suite.name, "run_id": run_id, "case": item.case.name, "repeat": r}
                if not item.runnable:
                    result = CaseResult(**base, status="skipped", reason=item.skip_reason,
                                        config=item.case.model_dump(mode="json"))
                    record(result)
                    continue
                label = item.case.name + (f" (repeat {r + 1}/{repeat})" if repeat > 1 else "")
                label += "" if item.case.comparable else " (scaled down: not comparable)"
                progress.start_case(label, item.case.batch_size)
                started = utc_now()
                with CaseTelemetry(item.case) as telemetry:
                    outcome = run_isolated(item.case, telemetry.observe(progress.on_event), timeout_s=timeout_s)
                result = collect(item.case, outcome, base)
                telemetry.attach(result)
                result.started_at, result.finished_at = started, utc_now()
                progress.end_case(result.status, _summary(result))
                record(result)
                if outcome.interrupted:
                    manifest.status = "interrupted"
                    manifest.finished_at = utc_now()
                    atomic_write_json(run_dir / "run.json", manifest)
                    raise RunInterrupted(run_dir)
    except KeyboardInterrupt:  # between cases: nothing running, everything finished is on disk
        manifest.status = "interrupted"
        manifest.finished_at = utc_now()
        atomic_write_json(run_dir / "run.json", manifest)
        raise RunInterrupted(run_dir) from None
    manifest.status = "complete"
    manifest.finished_at = utc_now()
    atomic_write_json(run_dir / "run.json", manifest)
    return report
