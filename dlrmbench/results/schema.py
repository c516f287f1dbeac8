"""The result files: one JSON per case and a run manifest. Metrics carry their unit and direction."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
Status = Literal["ok", "failed", "skipped", "interrupted", "timed_out"]


class Metric(BaseModel):
    """One measured number."""

    model_config = ConfigDict(extra="forbid")

    value: float | None
    unit: str
    higher_is_better: bool | None = None
    description: str = ""


class CaseResult(BaseModel):
    """Everything measured for one case (one repeat)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    suite: str
    run_id: str
    case: str
    repeat: int = 0
    status: Status
    reason: str | None = None
    config: dict[str, Any]
    metrics: dict[str, Metric] = Field(default_factory=dict)
    step_times_s: list[float] = Field(default_factory=list)
    evaluations: list[dict[str, Any]] = Field(default_factory=list)
    inference: list[dict[str, Any]] = Field(default_factory=list)
    telemetry: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    log_tail: str | None = None

    def value(self, name: str) -> float | None:
        metric = self.metrics.get(name)
        return metric.value if metric else None


class CaseEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case: str
    repeat: int
    status: Status
    file: str
    reason: str | None = None


class RunManifest(BaseModel):
    """``run.json``: what ran, where, with which suite file, and where each case's result is."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    suite: str
    suite_file: str
    suite_sha256: str
    run_id: str
    dlrmbench_version: str
    command: list[str]
    started_at: str
    finished_at: str | None = None
    status: Literal["running", "complete", "interrupted", "aborted"] = "running"
    reason: str | None = None  # why the run stopped early (interrupted: the signal; aborted: a write failure)
    environment: dict[str, Any] = Field(default_factory=dict)
    cases: list[CaseEntry] = Field(default_factory=list)
    reference: dict[str, Any] = Field(default_factory=dict)


def metric(value: float | None, unit: str, higher_is_better: bool | None = None, description: str = "") -> Metric:
    """Shorthand for a :class:`Metric`."""
    return Metric(value=value, unit=unit, higher_is_better=higher_is_better, description=description)
