"""Every metric a worker reports, built in one place from what the loops measured.

Names, units and higher-is-better travel with each value (:func:`dlrmbench.results.schema.metric`).
Keeping them together lets the metric vocabulary change in one module.
"""

from __future__ import annotations

from typing import Any

from dlrmbench.config.schema import Case


def train_metrics(outcome: Any, case: Case) -> dict[str, dict[str, Any]]:
    from dlrmbench.results.schema import metric
    from dlrmbench.results.stats import latency_summary

    measured = outcome.step_times[case.benchmark_warmup_steps:]
    summary = latency_summary(measured)
    throughput = outcome.measured_samples / outcome.measured_seconds if outcome.measured_seconds > 0 else None
    last = outcome.evaluations[-1] if outcome.evaluations else {}
    best = max((e["auc"] for e in outcome.evaluations), default=None)
    values = {
        "train_throughput": metric(throughput, "samples/s", True, "measured samples / measured wall time"),
        "step_time_mean": metric(summary["mean_s"] * 1e3, "ms", False, "mean of per-step times"),
        "step_time_p50": metric(summary["p50_s"] * 1e3, "ms", False),
        "step_time_p90": metric(summary["p90_s"] * 1e3, "ms", False),
        "step_time_p99": metric(summary["p99_s"] * 1e3, "ms", False),
        "auc": metric(last.get("auc"), "", True, "ROC AUC at the last evaluation"),
        "best_auc": metric(best, "", True),
        "log_loss": metric(last.get("log_loss"), "", False, "test log loss at the last evaluation"),
        "final_train_loss": metric(outcome.final_loss, "", False),
        "train_steps": metric(float(outcome.steps), "steps", None),
        "measured_steps": metric(float(outcome.measured_steps), "steps", None),
        "train_wall_time": metric(outcome.wall_seconds, "s", False, "training loop wall time, evaluations included"),
        "time_to_train": metric(
            outcome.time_to_train_s / 60 if outcome.time_to_train_s is not None else None, "min", False,
            "start of training to the evaluation reaching auc_threshold (MLPerf definition)",
        ),
    }
    return {k: v.model_dump() for k, v in values.items()}


def inference_metrics(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from dlrmbench.results.schema import metric

    out = {}
    for record in records:
        bs = record["batch_size"]
        for variant in ("end_to_end", "device_only"):
            stats = record[variant]
            suffix = "" if variant == "end_to_end" else "_device_only"
            out[f"inference_throughput_bs{bs}{suffix}"] = metric(stats["throughput"], "samples/s", True)
            for q in ("mean", "p50", "p90", "p95", "p99"):
                out[f"inference_latency_{q}_bs{bs}{suffix}"] = metric(stats[f"{q}_s"] * 1e3, "ms", False)
    return {k: v.model_dump() for k, v in out.items()}


def memory_metrics(embeddings: Any, case: Case) -> dict[str, dict[str, Any]]:
    """What the embedding strategy holds: its parameters, and its optimizer's state for them.

    The state is the optimizer plugin's ``state_bytes_per_parameter`` (plain SGD: none), unless the
    strategy applies its own optimizer and counts its own state (``optimizer_state_bytes()``).
    """
    from dlrmbench.results.schema import metric

    per_parameter = 0.0
    if not getattr(embeddings, "applies_own_optimizer", False):
        from dlrmbench.plugins import get_registry

        per_parameter = get_registry().get("optimizer", case.optimizer.name).state_bytes_per_parameter
    state = embeddings.optimizer_state_bytes(per_parameter)
    values = {
        "embedding_parameter_bytes": metric(float(embeddings.parameter_bytes()), "B", None,
                                            "bytes of the embedding tables"),
        "embedding_optimizer_state_bytes": metric(float(state), "B", None,
                                                  f"bytes of {case.optimizer.name} state for the tables"),
    }
    return {k: v.model_dump() for k, v in values.items()}


def test_metrics(result: Any) -> dict[str, dict[str, Any]]:
    """AUC, log loss and sample count of one evaluation (``mode: test``)."""
    from dlrmbench.results.schema import metric

    return {
        "auc": metric(result.auc, "", True).model_dump(),
        "log_loss": metric(result.log_loss, "", False).model_dump(),
        "test_samples": metric(float(result.samples), "samples").model_dump(),
    }


def rank_metrics(ranks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-rank mean step time and peak memory of a hybrid-parallel run (from each rank's summary)."""
    from dlrmbench.results.schema import metric

    out = {}
    for r in ranks:
        out[f"step_time_mean_rank{r['rank']}"] = metric(
            (r["step_time_mean_s"] or 0) * 1e3, "ms", False, "mean measured step time of this rank").model_dump()
        out[f"peak_memory_rank{r['rank']}"] = metric(
            r["peak_memory_bytes"] / 2**30, "GiB", False, r["peak_memory_kind"]).model_dump()
    return out
