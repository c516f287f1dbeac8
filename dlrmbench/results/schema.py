"""The result files: one JSON per case and a run manifest. Metrics carry their unit and direction.

Schema version 2 (this version): every metric carries its vocabulary ``name`` and, when it is measured
per inference batch size, ``batch_size``, and when it is measured per number of concurrent serving clients,
``concurrency`` (see :mod:`dlrmbench.results.metrics`); the ``metrics`` mapping is keyed by
:func:`~dlrmbench.results.metrics.metric_key`. Version-1 files (metric names with a
``_bs64`` suffix) still load: they are upgraded on reading.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2
Status = Literal["ok", "failed", "skipped", "interrupted", "timed_out"]


class Metric(BaseModel):
    """One measured number."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    value: float | None
    unit: str
    higher_is_better: bool | None = None
    description: str = ""
    batch_size: int | None = None
    concurrency: int | None = None


def metric_key(name: str, batch_size: int | None = None, concurrency: int | None = None) -> str:
    """The key a metric is stored under in a result's ``metrics`` mapping: the name, and for a metric
    measured per batch size the name and ``@`` batch size (``inference_throughput@64``), and per number
    of concurrent clients ``:c`` and that number (``serving_throughput@64:c4``). The key only makes
    entries unique; readers use the ``name``, ``batch_size`` and ``concurrency`` fields."""
    key = name if batch_size is None else f"{name}@{batch_size}"
    return key if concurrency is None else f"{key}:c{concurrency}"


def upgrade_v1_key(key: str) -> tuple[str, int | None]:
    """(name, batch size) of a version-1 metric key: ``inference_latency_p99_bs64_device_only`` ->
    (``inference_latency_p99_device_only``, 64); other keys are their own name."""
    import re

    match = re.fullmatch(r"(inference_(?:throughput|latency_[a-z0-9]+))_bs(\d+)(_device_only)?", key)
    if match is None:
        return key, None
    return match.group(1) + (match.group(3) or ""), int(match.group(2))


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

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Version 1 keyed per-batch-size metrics by a name suffix; give every metric its name field."""
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            return data
        metrics = {}
        for key, m in data["metrics"].items():
            if isinstance(m, Metric):
                m = m.model_dump()
            if not isinstance(m, dict) or m.get("name"):
                metrics[key] = m
                continue
            name, batch = upgrade_v1_key(str(key))
            if m.get("batch_size") is not None:  # built without a name but with its batch size
                name, batch = str(key).split("@")[0], m["batch_size"]
            metrics[metric_key(name, batch)] = {**m, "name": name, "batch_size": batch}
        return {**data, "metrics": metrics, "schema_version": max(SCHEMA_VERSION, int(data.get("schema_version", 1)))}

    def metric(self, name: str, batch_size: int | None = None, concurrency: int | None = None) -> Metric | None:
        """The metric ``name`` (at ``batch_size`` for a per-batch-size metric, with ``concurrency`` clients for
        a serving metric), or None."""
        return self.metrics.get(metric_key(name, batch_size, concurrency))

    def value(self, name: str, batch_size: int | None = None, concurrency: int | None = None) -> float | None:
        metric = self.metric(name, batch_size, concurrency)
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
    pid: int | None = None  # the `dlrmbench run` process and its machine: a `running` run whose process is
    host: str | None = None  # gone was killed before it could record its end (SIGKILL, out of memory)
    environment: dict[str, Any] = Field(default_factory=dict)
    cases: list[CaseEntry] = Field(default_factory=list)
    reference: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)  # run --label KEY=VALUE (commit, branch, driver, ...)


def metric(value: float | None, unit: str, higher_is_better: bool | None = None, description: str = "",
           name: str = "", batch_size: int | None = None, concurrency: int | None = None) -> Metric:
    """Shorthand for a :class:`Metric` outside the vocabulary (vocabulary metrics: ``metrics.make``)."""
    return Metric(name=name, value=value, unit=unit, higher_is_better=higher_is_better, description=description,
                  batch_size=batch_size, concurrency=concurrency)
