"""Every metric a worker reports, built in one place from what the loops measured.

Names, units and higher-is-better come from the metric vocabulary (:mod:`dlrmbench.results.metrics`);
the inference batch size is a field of a metric, not part of its name.
"""

from __future__ import annotations

from typing import Any



def family_metric(record: Any, value: float | None, name: str | None = None, description: str | None = None
                  ) -> Any:
    """A :class:`~dlrmbench.results.schema.Metric` of one of the family's quality metrics (unit and direction
    from the family's declaration, carried by the resolved case)."""
    from dlrmbench.results.schema import Metric

    return Metric(name=name or record.name, value=value, unit=record.unit, higher_is_better=record.higher_is_better,
                  description=record.description if description is None else description)


def quality_metrics(resolved: Any, evaluations: list[dict[str, Any]]) -> list[Any]:
    """The family's metrics at the last evaluation, and the best value of its target metric over them."""
    last = evaluations[-1] if evaluations else {}
    out = []
    for record in resolved.metrics:
        out.append(family_metric(record, last.get(record.name), description=f"{record.description or record.name} "
                                 "at the last evaluation"))
        if record.name == resolved.target_metric:
            values = [e[record.name] for e in evaluations if e.get(record.name) is not None]
            best = (max(values) if record.higher_is_better is not False else min(values)) if values else None
            out.append(family_metric(record, best, f"best_{record.name}",
                                     f"best {record.name} over the evaluations"))
    return out


def train_metrics(outcome: Any, resolved: Any) -> dict[str, dict[str, Any]]:
    """Throughput (mean- and p50-based, and per work unit the family counts), FLOP/s, step-time
    percentiles, the family's quality metrics, loss and step counts of a training run."""
    from dlrmbench.results.metrics import make, metric_key
    from dlrmbench.results.schema import Metric
    from dlrmbench.results.stats import latency_summary

    case = resolved.case
    measured = outcome.step_times[case.benchmark_warmup_steps:]
    summary = latency_summary(measured)
    seconds = outcome.measured_seconds
    throughput = outcome.measured_samples / seconds if seconds > 0 else None
    p50_throughput = case.batch_size / summary["p50_s"] if measured and summary["p50_s"] > 0 else None
    values = [
        make("train_throughput", throughput),
        make("train_throughput_p50", p50_throughput),
        *[Metric(name=f"train_{unit}_throughput", value=count / seconds if seconds > 0 else None, unit=f"{unit}/s",
                 higher_is_better=True, description=f"{unit} processed in the measured window / its wall time")
          for unit, count in sorted(outcome.measured_units.items())],
    ]
    if resolved.flops_per_sample is not None:
        values.append(Metric(name="train_flops", value=resolved.flops_per_sample * throughput if throughput else None,
                             unit="FLOP/s", higher_is_better=True,
                             description=f"mean throughput x the family's {resolved.flops_per_sample:.4g} "
                                         "training FLOPs per sample"))
    values += [
        make("step_time_mean", summary["mean_s"] * 1e3),
        make("step_time_p50", summary["p50_s"] * 1e3),
        make("step_time_p90", summary["p90_s"] * 1e3),
        make("step_time_p99", summary["p99_s"] * 1e3),
        *quality_metrics(resolved, outcome.evaluations),
        make("final_train_loss", outcome.final_loss),
        make("train_steps", float(outcome.steps)),
        make("measured_steps", float(outcome.measured_steps)),
        make("train_wall_time", outcome.wall_seconds),
        make("time_to_train", outcome.time_to_train_s / 60 if outcome.time_to_train_s is not None else None),
    ]
    return {metric_key(m.name, m.batch_size): m.model_dump() for m in values}


def inference_metrics(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per batch size and variant (end to end, device only): throughput (mean- and p50-based) and latency
    percentiles; the batch size is a field of each metric, not part of its name."""
    from dlrmbench.results.metrics import make, metric_key

    out = []
    for record in records:
        bs = record["batch_size"]
        for variant in ("end_to_end", "device_only"):
            stats = record[variant]
            suffix = "" if variant == "end_to_end" else "_device_only"
            out.append(make(f"inference_throughput{suffix}", stats["throughput"], bs))
            p50 = stats["p50_s"]
            out.append(make(f"inference_throughput_p50{suffix}", bs / p50 if p50 and p50 > 0 else None, bs))
            for q in ("mean", "p50", "p90", "p95", "p99"):
                out.append(make(f"inference_latency_{q}{suffix}", stats[f"{q}_s"] * 1e3, bs))
    return {metric_key(m.name, m.batch_size): m.model_dump() for m in out}


def serving_metrics(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per serving cell (``Cell.record()`` of :mod:`dlrmbench.export.serve_bench`): throughput in samples/s and
    requests/s, the request count and the latency mean and percentiles; batch size and concurrency are
    fields of each metric, not part of its name."""
    from dlrmbench.results.metrics import make, metric_key

    out = []
    for record in records:
        bs, clients = record["batch_size"], record["concurrency"]
        out.append(make("serving_throughput", record["throughput_samples_per_s"], bs, concurrency=clients))
        out.append(make("serving_request_rate", record["throughput_requests_per_s"], bs, concurrency=clients))
        out.append(make("serving_requests", float(record["requests"]), bs, concurrency=clients))
        for q in ("mean", "p50", "p90", "p95", "p99"):
            out.append(make(f"serving_latency_{q}", record[f"latency_{q}_ms"], bs, concurrency=clients))
    return {metric_key(m.name, m.batch_size, m.concurrency): m.model_dump() for m in out}


def loadgen_metrics(records: list[dict[str, Any]], outcome: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """From LoadGen's summaries (one record per run): throughput, latencies and validity of the run that
    counts (a search's best VALID run, else the last), the peak QPS of a search, and the accuracy check."""
    from dlrmbench.results.metrics import make

    if not records:
        return {}
    run = records[-1]
    if outcome.get("best_qps") is not None:
        run = next(r for r in records if r.get("target_qps") == outcome["best_qps"] and r.get("valid"))
    values = [make("loadgen_throughput", run.get("samples_per_s")),
              make("loadgen_valid", None if run.get("valid") is None else float(bool(run["valid"])),
                   description=f"LoadGen: {run.get('verdict')}")]
    if run.get("scheduled_samples_per_s") is not None:
        values.append(make("loadgen_scheduled_rate", run["scheduled_samples_per_s"]))
    if run.get("scenario_latency_ms") is not None:
        values.append(make("loadgen_scenario_latency", run["scenario_latency_ms"]))
    estimates = [v for k, v in run.items() if k.startswith("early_stopping_p") and v is not None]
    if estimates:  # SingleStream reports p90 and p99 estimates: the scenario's percentile is the first
        values.append(make("loadgen_early_stopping_latency", estimates[0]))
    for q in ("min", "mean", "p50", "p90", "p95", "p97", "p99", "p99.9", "max"):
        if run.get(f"latency_{q}_ms") is not None:
            values.append(make(f"loadgen_latency_{q}", run[f"latency_{q}_ms"]))
    if "best_qps" in outcome:
        values.append(make("loadgen_peak_qps", outcome["best_qps"], description=outcome.get("search_ended")))
    accuracy = outcome.get("accuracy")
    out: dict[str, dict[str, Any]] = {}
    if accuracy and "family" in accuracy:  # a family's own accuracy metrics (dlrmbench.export.family_serving)
        out = family_accuracy_metrics(accuracy)
    elif accuracy:
        values += [make("serving_auc", accuracy["auc"]), make("serving_auc_reference", accuracy["reference_auc"]),
                   make("serving_auc_ratio", accuracy["auc_ratio"])]
        for gate, name in (("99%", "serving_auc_meets_99"), ("99.9%", "serving_auc_meets_99.9")):
            met = accuracy["meets"][gate]
            values.append(make(name, None if met is None else float(met)))
    return {**{m.name: m.model_dump() for m in values if m.value is not None}, **out}


def family_accuracy_metrics(accuracy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``serving_<metric>`` and ``serving_<metric>_reference`` for each family metric, the gated metric's ratio and
    gates (units and directions as the family declares them, carried by the check)."""
    from dlrmbench.results.schema import metric

    out: dict[str, dict[str, Any]] = {}
    for name, value in accuracy["metrics"].items():
        unit, higher = accuracy["declared"].get(name, ("", True))
        key = f"serving_{name}"
        out[key] = metric(value, unit, higher, f"{name} over LoadGen's accuracy log", name=key).model_dump()
        ref = accuracy["reference_metrics"].get(name)
        out[f"{key}_reference"] = metric(ref, unit, higher, f"{name} of the fp32 eager model on the same samples",
                                         name=f"{key}_reference").model_dump()
    gated = accuracy["metric"]
    if accuracy["ratio"] is not None:
        key = f"serving_{gated}_ratio"
        out[key] = metric(accuracy["ratio"], "", True, f"served {gated} / fp32 eager {gated} (inverted where lower "
                          "is better)", name=key).model_dump()
    for gate, suffix in (("99%", "99"), ("99.9%", "99.9")):
        met = accuracy["meets"][gate]
        if met is not None:
            key = f"serving_{gated}_meets_{suffix}"
            out[key] = metric(float(met), "", True, f"1 when the served {gated} reaches {gate} of the fp32 eager "
                              "model's", name=key).model_dump()
    return out


def memory_metrics(embeddings: Any, resolved: Any) -> dict[str, dict[str, Any]]:
    """What the embedding strategy holds: its parameters, and its optimizer's state for them (none for a
    model without one).

    The state is the optimizer plugin's ``state_bytes_per_parameter`` (plain SGD: none), from the resolved
    case, unless the strategy applies its own optimizer and counts its own state (``optimizer_state_bytes()``).
    """
    from dlrmbench.results.metrics import make

    if embeddings is None or not hasattr(embeddings, "parameter_bytes"):
        return {}
    own = getattr(embeddings, "applies_own_optimizer", False)
    per_parameter = 0.0 if own else float(resolved.optimizer_state_bytes_per_parameter)
    state = embeddings.optimizer_state_bytes(per_parameter)
    values = [
        make("embedding_parameter_bytes", float(embeddings.parameter_bytes())),
        make("embedding_optimizer_state_bytes", float(state),
             description=f"bytes of {resolved.case.optimizer.name} state for the tables"),
    ]
    return {m.name: m.model_dump() for m in values}


def test_metrics(result: Any, resolved: Any) -> dict[str, dict[str, Any]]:
    """The family's metrics and the sample count of one evaluation (``mode: test``)."""
    from dlrmbench.results.metrics import make

    out = {r.name: family_metric(r, result.metrics.get(r.name), description=f"{r.description or r.name} "
                                 "on the test split").model_dump() for r in resolved.metrics}
    out["test_samples"] = make("test_samples", float(result.samples)).model_dump()
    return out


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
