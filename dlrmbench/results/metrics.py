"""The metric vocabulary: one row per metric with its unit, direction and meaning.

Every metric a worker records is built from this table (:func:`make`), so unit and "higher is
better" travel with every number and a new metric is one row. The inference batch size is a *field*
of a metric (``batch_size``), not part of its name: ``inference_throughput`` at batch 64 is
``Metric(name="inference_throughput", batch_size=64)``. A serving metric (``mode: serve``) is measured
per batch size and per number of concurrent clients, both fields: ``serving_latency_p99`` at batch 64
with 4 clients is ``Metric(name="serving_latency_p99", batch_size=64, concurrency=4)``.

Every metric rests, in ``compare``, on one value per run (the unit of replication: see
:mod:`dlrmbench.results.verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlrmbench.results.schema import Metric, metric_key, upgrade_v1_key

__all__ = ["VOCABULARY", "MetricDef", "make", "metric_key", "upgrade_v1_key"]


@dataclass(frozen=True)
class MetricDef:
    """One row of the vocabulary."""

    name: str
    unit: str
    higher_is_better: bool | None
    description: str
    per_batch_size: bool = False
    per_concurrency: bool = False


def _rows() -> list[MetricDef]:
    rows = [
        MetricDef("train_throughput", "samples/s", True, "measured samples / measured wall time (mean-based)"),
        MetricDef("train_throughput_p50", "samples/s", True,
                  "batch size / median step time (p50-based; robust to stalls)"),
        MetricDef("step_time_mean", "ms", False, "mean of per-step times"),
        MetricDef("step_time_p50", "ms", False, "median per-step time"),
        MetricDef("step_time_p90", "ms", False, "90th percentile per-step time"),
        MetricDef("step_time_p99", "ms", False, "99th percentile per-step time"),
        MetricDef("auc", "", True, "ROC AUC at the last evaluation"),
        MetricDef("best_auc", "", True, "best ROC AUC over the evaluations"),
        MetricDef("log_loss", "", False, "test log loss at the last evaluation"),
        MetricDef("final_train_loss", "", False, "training loss at the last step"),
        MetricDef("train_steps", "steps", None, "training steps run"),
        MetricDef("measured_steps", "steps", None, "steps in the measured window (warm-up excluded)"),
        MetricDef("train_wall_time", "s", False, "training loop wall time, evaluations included"),
        MetricDef("time_to_train", "min", False,
                  "start of training to the evaluation reaching auc_threshold (MLPerf definition)"),
        MetricDef("test_samples", "samples", None, "samples evaluated"),
        MetricDef("embedding_parameter_bytes", "B", None, "bytes of the embedding tables"),
        MetricDef("embedding_optimizer_state_bytes", "B", None, "bytes of optimizer state for the tables"),
        MetricDef("energy_per_sample", "J/sample", False, "board energy per sample (NVML energy counter)"),
        MetricDef("mean_power", "W", None, "board power, sum over GPUs"),
        MetricDef("peak_power", "W", None, "board power, sum over GPUs"),
        MetricDef("peak_gpu_memory", "GiB", None, "NVML memory used, largest GPU"),
    ]
    for variant, what in (("", "end to end (host-to-device copy included)"), ("_device_only", "device only")):
        rows.append(MetricDef(f"inference_throughput{variant}", "samples/s", True,
                              f"batch size / mean latency, {what}", True))
        rows.append(MetricDef(f"inference_throughput_p50{variant}", "samples/s", True,
                              f"batch size / median latency, {what}", True))
        for q in ("mean", "p50", "p90", "p95", "p99"):
            rows.append(MetricDef(f"inference_latency_{q}{variant}", "ms", False, f"{q} latency per batch, {what}",
                                  True))
    serving = "closed-loop clients, each sending its next request when the last is answered (perf_analyzer)"
    rows += [
        MetricDef("serving_throughput", "samples/s", True, f"requests x batch size / measured seconds; {serving}",
                  True, per_concurrency=True),
        MetricDef("serving_request_rate", "requests/s", True, f"requests / measured seconds; {serving}",
                  True, per_concurrency=True),
        MetricDef("serving_requests", "requests", None, "requests answered in the measured window",
                  True, per_concurrency=True),
    ]
    for q in ("mean", "p50", "p90", "p95", "p99"):
        rows.append(MetricDef(f"serving_latency_{q}", "ms", False, f"{q} request latency, send to answer",
                              True, per_concurrency=True))
    loadgen = "MLPerf LoadGen"
    rows += [
        MetricDef("loadgen_throughput", "samples/s", True,
                  f"{loadgen}: Offline 'Samples per second', Server 'Completed samples per second'"),
        MetricDef("loadgen_scheduled_rate", "samples/s", True, f"{loadgen} Server: 'Scheduled samples per second'"),
        MetricDef("loadgen_peak_qps", "QPS", True, "the highest Server target QPS whose LoadGen run was VALID"),
        MetricDef("loadgen_valid", "", True, f"1 when {loadgen}'s result is VALID, else 0"),
        MetricDef("loadgen_scenario_latency", "ms", False,
                  f"{loadgen}: the scenario's latency metric (SingleStream p90, MultiStream p99)"),
        MetricDef("loadgen_early_stopping_latency", "ms", False,
                  f"{loadgen}: early-stopping estimate of the scenario's latency percentile"),
        MetricDef("serving_auc", "", True, "ROC AUC over LoadGen's accuracy log"),
        MetricDef("serving_auc_reference", "", True, "ROC AUC of the fp32 eager model on the same rows"),
        MetricDef("serving_auc_ratio", "", True, "served AUC / fp32 eager AUC on the same rows"),
        MetricDef("serving_auc_meets_99", "", True, "1 when the served AUC is at least 99% of the fp32 eager AUC"),
        MetricDef("serving_auc_meets_99.9", "", True,
                  "1 when the served AUC is at least 99.9% of the fp32 eager AUC"),
    ]
    for q in ("min", "mean", "p50", "p90", "p95", "p97", "p99", "p99.9", "max"):
        rows.append(MetricDef(f"loadgen_latency_{q}", "ms", False, f"{loadgen} {q} latency per query"))
    return rows


VOCABULARY: dict[str, MetricDef] = {row.name: row for row in _rows()}


def make(name: str, value: float | None, batch_size: int | None = None, description: str | None = None,
         concurrency: int | None = None) -> Metric:
    """A :class:`~dlrmbench.results.schema.Metric` for vocabulary entry ``name``."""
    row = VOCABULARY[name]
    if row.per_batch_size and batch_size is None:
        raise ValueError(f"metric {name} is measured per batch size: give batch_size")
    if row.per_concurrency and concurrency is None:
        raise ValueError(f"metric {name} is measured per number of concurrent clients: give concurrency")
    return Metric(name=name, value=value, unit=row.unit, higher_is_better=row.higher_is_better,
                  description=row.description if description is None else description, batch_size=batch_size,
                  concurrency=concurrency)
