"""Side-by-side comparison of result sets: one row per case and metric, one column group per result set.

Per case, metric and result set: the median of the metric over repeats, its relative spread
((max - min) / median), a 95% confidence interval, the ratio to the suite's reference value, and the
ratio to a baseline result set with its confidence interval and a significance test.

Statistics (:data:`FLAG_RULE`): a metric derived from step times (throughput, step-time and latency
percentiles) rests on the per-step times of the measured window, pooled over repeats; any other
metric (AUC, energy, ...) on one value per repeat. The confidence interval is a seeded, deterministic
percentile bootstrap of the metric's statistic. Against the baseline, the two-sided Mann-Whitney U
test (as asv) decides whether the sets differ; a case is flagged as a regression or an improvement
only when p < alpha (default 0.002, asv's), the 95% bootstrap CI of the ratio excludes 1 (so that the
statistic shown, e.g. a p99, moved and not only the bulk of the steps), *and* the change is at least
``min_change`` (default 5%).
With too few samples for the test to reach alpha (one or two repeats of a per-repeat metric) nothing
is flagged and the row says so; a change that is not significant is shown as such.

Numbers that must not be set against each other are not: scaled-down cases get no reference ratio
and no baseline ratio against a full-size case; AUC is compared with the reference only for cases
that ran on real (not synthetic) data. Environments that differ between result sets (GPU model,
driver, package versions, ...) are listed so the views can warn about them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.errors import UserError
from dlrmbench.results.load import ResultSet
from dlrmbench.results.metrics import definition
from dlrmbench.results.noise import noise_warnings
from dlrmbench.results.schema import CaseResult
from dlrmbench.results.stats import (
    bootstrap_ci, bootstrap_ratio_ci, mann_whitney_u, spread,
)

DEFAULT_MIN_CHANGE = 0.05
DEFAULT_ALPHA = 0.002


def flag_rule(min_change: float = DEFAULT_MIN_CHANGE, alpha: float = DEFAULT_ALPHA) -> str:
    """The flag rule in words, with the thresholds in force."""
    return (f"flagged only when the two-sided Mann-Whitney U test gives p < {alpha:g}, the 95% bootstrap CI of "
            f"the ratio excludes 1, and the change is at least {min_change:.0%} (--min-change); step-time metrics (throughput, step time, latency) are "
            "tested on the per-step times pooled over repeats, other metrics on one value per repeat; "
            "CI: 95% seeded bootstrap")


FLAG_RULE = flag_rule()


#: A metric as compare selects it: (name, batch size, concurrent clients); None where it does not apply.
MetricSpec = tuple[str, "int | None", "int | None"]


#: A LoadGen serving case is judged by the first of these it has: a search's peak QPS, the samples/s (Offline,
#: Server), the scenario latency (SingleStream, MultiStream), the served AUC (accuracy mode).
LOADGEN_HEADLINES = ("loadgen_peak_qps", "loadgen_throughput", "loadgen_scenario_latency", "serving_auc")


def headline_metric(result: CaseResult) -> MetricSpec | None:
    """The one number a case is judged by: training throughput, test AUC, the largest batch size's
    end-to-end inference throughput, or (serving) the serving throughput at the largest batch size with
    the most concurrent clients."""
    mode = result.config.get("mode")
    if mode == "train":
        return "train_throughput", None, None
    if mode == "test":
        return "auc", None, None
    if mode == "serve":
        for name in LOADGEN_HEADLINES:  # a LoadGen case: its scenario's metric
            if name in result.metrics:
                return name, None, None
        cells = [(m.batch_size, m.concurrency) for m in result.metrics.values()
                 if m.name == "serving_throughput" and m.batch_size and m.concurrency]
        return ("serving_throughput", *max(cells)) if cells else None
    sizes = [m.batch_size for m in result.metrics.values() if m.name == "inference_throughput" and m.batch_size]
    return ("inference_throughput", max(sizes), None) if sizes else None


def synthetic_data(result: CaseResult) -> bool:
    """True when the case's AUC says nothing about Criteo (its dataset plugin declared so: synthetic labels)."""
    declared = result.config.get("auc_comparable")
    if declared is not None:
        return not declared
    return (result.config.get("dataset") or {}).get("name") == "synthetic"  # results written before the field


def reference_value(result: CaseResult, metric_name: str | None,
                    batch_size: int | None = None) -> tuple[float | None, str | None]:
    """The published value of ``metric_name`` for this case and its source; None when there is none or
    when the case is not comparable (scaled down; AUC on synthetic data)."""
    ref = result.config.get("reference") or {}
    if not ref or metric_name is None or not result.config.get("comparable", True):
        return None, None
    if metric_name == "train_throughput":
        return ref.get("throughput"), ref.get("source")
    if metric_name == "auc":
        return (None, None) if synthetic_data(result) else (ref.get("auc"), ref.get("source"))
    if metric_name in ("loadgen_throughput", "loadgen_peak_qps"):  # MLPerf Inference: samples/s = QPS here
        return ref.get("serving_throughput"), ref.get("source")
    if metric_name == "inference_throughput" and batch_size is not None:
        table = {int(k): v for k, v in (ref.get("inference_throughput") or {}).items()}
        return table.get(batch_size), ref.get("source")
    return None, None


@dataclass
class Samples:
    """What a metric's statistics rest on in one result set."""

    values: list[float]
    kind: str                 # "steps" (per-step times, seconds) or "repeats" (one metric value per repeat)
    statistic: str            # the reduction over ``values`` the metric is built from
    inverse: bool = False     # the metric is batch / statistic (throughput): it moves against the step times

    def describe(self) -> str:
        return f"{len(self.values)} {'step times' if self.kind == 'steps' else 'repeats'}"


@dataclass
class Cell:
    """One case and metric in one result set."""

    status: str
    value: float | None = None
    rel_spread: float | None = None
    repeats: int = 0
    values: list[float] = field(default_factory=list)
    ci: tuple[float, float] | None = None
    samples: Samples | None = None
    p50_value: float | None = None
    auc: float | None = None
    auc_vs_reference: float | None = None
    energy_per_sample: float | None = None
    vs_reference: float | None = None
    vs_baseline: float | None = None
    ratio_ci: tuple[float, float] | None = None
    p_value: float | None = None
    significant: bool | None = None
    flag: str | None = None
    note: str | None = None
    reason: str | None = None
    comparable: bool = True
    warnings: list[str] = field(default_factory=list)


@dataclass
class Row:
    suite: str
    case: str
    metric: str | None
    unit: str
    higher_is_better: bool
    batch_size: int | None = None
    concurrency: int | None = None
    direction_known: bool = True
    reference: float | None = None
    reference_source: str | None = None
    reference_auc: float | None = None
    auc_note: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def metric_label(self) -> str:
        """The metric's name with its batch size (and concurrent clients), for display."""
        return ((self.metric or "—") + (f" @ batch {self.batch_size}" if self.batch_size is not None else "")
                + (f", {self.concurrency} client{'' if self.concurrency == 1 else 's'}"
                   if self.concurrency is not None else ""))


@dataclass
class EnvDifference:
    """One environment property that differs between result sets."""

    key: str
    values: dict[str, str]
    matters: bool = True


@dataclass
class Comparison:
    sets: list[str]
    baseline: str | None
    rows: list[Row]
    env_differences: list[EnvDifference] = field(default_factory=list)
    min_change: float = DEFAULT_MIN_CHANGE
    alpha: float = DEFAULT_ALPHA

    @property
    def rule(self) -> str:
        return flag_rule(self.min_change, self.alpha)

    def regressions(self) -> list[tuple[Row, str, Cell]]:
        """Every (row, result set, cell) flagged as a significant regression beyond min_change."""
        return [(row, label, cell) for row in self.rows for label, cell in row.cells.items()
                if cell.flag == "regression"]

    def to_records(self) -> list[dict[str, Any]]:
        """Flat records (one per row and result set) for CSV and JSON output."""
        out = []
        for row in self.rows:
            for label, cell in row.cells.items():
                out.append({
                    "suite": row.suite, "case": row.case, "result_set": label, "metric": row.metric,
                    "batch_size": row.batch_size, "concurrency": row.concurrency, "unit": row.unit, "higher_is_better": row.higher_is_better,
                    "status": cell.status, "value": cell.value,
                    "ci_low": cell.ci[0] if cell.ci else None, "ci_high": cell.ci[1] if cell.ci else None,
                    "samples": len(cell.samples.values) if cell.samples else 0,
                    "sample_kind": cell.samples.kind if cell.samples else None,
                    "rel_spread": cell.rel_spread, "repeats": cell.repeats, "p50_based_value": cell.p50_value,
                    "auc": cell.auc, "reference": row.reference, "vs_reference": cell.vs_reference,
                    "vs_baseline": cell.vs_baseline,
                    "vs_baseline_ci_low": cell.ratio_ci[0] if cell.ratio_ci else None,
                    "vs_baseline_ci_high": cell.ratio_ci[1] if cell.ratio_ci else None,
                    "p_value": cell.p_value, "significant": cell.significant, "flag": cell.flag,
                    "energy_per_sample_j": cell.energy_per_sample, "comparable": cell.comparable,
                    "note": cell.note, "reason": cell.reason, "warnings": "; ".join(cell.warnings) or None,
                })
        return out


def _median(values: list[float]) -> float | None:
    return spread(values)["median"] if values else None


def _step_times(result: CaseResult, name: str, batch_size: int | None) -> list[float]:
    """The per-step times (seconds) a step-derived metric of ``result`` was computed from."""
    if batch_size is None:
        warmup = int(result.config.get("benchmark_warmup_steps") or 0)
        return [t for t in result.step_times_s[warmup:] if isinstance(t, (int, float)) and math.isfinite(t)]
    variant = "device_only" if name.endswith("_device_only") else "end_to_end"
    for record in result.inference:
        if record.get("batch_size") == batch_size:
            times = (record.get(variant) or {}).get("step_times_s") or []
            return [t for t in times if isinstance(t, (int, float)) and math.isfinite(t)]
    return []


def metric_samples(results: list[CaseResult], name: str, batch_size: int | None,
                   concurrency: int | None = None) -> Samples | None:
    """What the statistics of metric ``name`` rest on in ``results`` (ok repeats of one case)."""
    definition_row = definition(name)
    with_metric = [r for r in results if r.value(name, batch_size, concurrency) is not None]
    if definition_row is not None and definition_row.from_steps:
        steps = [t for r in with_metric for t in _step_times(r, name, batch_size)]
        if len(steps) >= 2:
            how = definition_row.from_steps
            statistic = {"throughput": "mean", "throughput_p50": "p50"}.get(how, how)
            return Samples(steps, "steps", statistic, inverse=how.startswith("throughput"))
    values = [v for r in with_metric
              if (v := r.value(name, batch_size, concurrency)) is not None and math.isfinite(v)]
    return Samples(values, "repeats", "median") if values else None


def _metric_ci(cell: Cell) -> tuple[float, float] | None:
    """The metric's 95% CI on its own scale (from the bootstrap of the statistic it is built from)."""
    samples, value = cell.samples, cell.value
    if samples is None or value is None:
        return None
    ci = bootstrap_ci(samples.values, samples.statistic)
    if ci is None:
        return None
    if samples.kind == "repeats":
        return ci
    import numpy as np

    estimate = float(np.percentile(samples.values, 50) if samples.statistic == "p50" else
                     np.mean(samples.values) if samples.statistic == "mean" else
                     np.percentile(samples.values, float(samples.statistic[1:])))
    if estimate <= 0 or ci[0] <= 0:
        return None
    lo, hi = ci[0] / estimate, ci[1] / estimate
    return (value / hi, value / lo) if samples.inverse else (value * lo, value * hi)


def _cell(results: list[CaseResult], name: str | None, batch_size: int | None,
          concurrency: int | None = None) -> Cell:
    ok = [r for r in results if r.status == "ok"]
    comparable = bool(results[0].config.get("comparable", True))
    if not ok:
        return Cell(status=results[0].status, reason=results[0].reason, repeats=len(results), comparable=comparable)
    values = [v for r in ok if name and (v := r.value(name, batch_size, concurrency)) is not None]
    aucs = [a for r in ok if (a := r.value("auc")) is not None]
    energy = [e for r in ok if (e := r.value("energy_per_sample")) is not None]
    stats = spread(values) if values else {}
    p50_name = {"train_throughput": "train_throughput_p50", "inference_throughput": "inference_throughput_p50",
                "inference_throughput_device_only": "inference_throughput_p50_device_only"}.get(name or "")
    p50_values = [v for r in ok if p50_name and (v := r.value(p50_name, batch_size)) is not None]
    cell = Cell(
        status="ok", value=stats.get("median"), values=values,
        rel_spread=stats["rel_spread"] if len(values) > 1 else None, repeats=len(ok),
        p50_value=_median(p50_values), auc=_median(aucs), energy_per_sample=_median(energy), comparable=comparable,
        note=None if comparable else "scaled down: not comparable",
        samples=metric_samples(ok, name, batch_size, concurrency) if name else None,
    )
    cell.ci = _metric_ci(cell)
    cell.warnings = [w for r in ok for w in noise_warnings(r)]
    if cell.rel_spread is not None and cell.rel_spread > 0.10:
        cell.warnings.append(f"high spread over repeats: {cell.rel_spread:.0%} ((max - min) / median)")
    cell.warnings = list(dict.fromkeys(cell.warnings))
    return cell


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def min_samples_note(a: Samples, b: Samples, alpha: float) -> str | None:
    """Why the test cannot reach ``alpha`` with these sample sizes, or None when it can.

    Without ties the smallest two-sided p-value of the exact test is 2 / C(n1 + n2, n1)."""
    n1, n2 = len(a.values), len(b.values)
    if n1 and n2 and 2 / math.comb(n1 + n2, n1) < alpha:
        return None
    what = "repeats" if a.kind == "repeats" or b.kind == "repeats" else "samples"
    return f"too few {what} to test (n={n1} vs {n2}): not flagged"


def judge_change(cell: Cell, base: Cell, row: Row, min_change: float, alpha: float) -> None:
    """Fill the cell's baseline ratio CI, p-value and flag (see :data:`FLAG_RULE`)."""
    cell.vs_baseline = _ratio(cell.value, base.value)
    if cell.vs_baseline is None or cell.samples is None or base.samples is None:
        return
    a, b = cell.samples, base.samples
    if a.kind != b.kind:  # one side without step times (older files): both on repeats
        a, b = Samples(cell.values, "repeats", "median"), Samples(base.values, "repeats", "median")
    ratio_ci = bootstrap_ratio_ci(a.values, b.values, a.statistic)
    if ratio_ci is not None:
        cell.ratio_ci = (1 / ratio_ci[1], 1 / ratio_ci[0]) if a.inverse and ratio_ci[0] > 0 else ratio_ci
    too_few = min_samples_note(a, b, alpha)
    if too_few is not None:
        cell.note = too_few
        return
    cell.p_value = mann_whitney_u(a.values, b.values).p_value
    # the rank test says the distributions differ; the ratio's CI must agree that *this statistic* moved
    # (a tail percentile can move the other way, or not at all, when the bulk shifts)
    ci_agrees = cell.ratio_ci is not None and (cell.ratio_ci[0] > 1.0 or cell.ratio_ci[1] < 1.0) and \
        (cell.ratio_ci[0] > 1.0) == (cell.vs_baseline > 1.0)
    cell.significant = cell.p_value < alpha and ci_agrees
    change = abs(cell.vs_baseline - 1.0)
    if not row.direction_known:
        cell.note = "no better direction for this metric: not flagged"
    elif not cell.significant:
        why = "" if cell.p_value >= alpha else ", the ratio's 95% CI includes 1"
        cell.note = f"not significant (p={cell.p_value:.2g}{why})"
    elif change < min_change:
        cell.note = f"significant (p={cell.p_value:.2g}) but below --min-change {min_change:.0%}"
    else:
        better = cell.vs_baseline > 1.0 if row.higher_is_better else cell.vs_baseline < 1.0
        cell.flag = "improvement" if better else "regression"


ENV_KEYS = ("gpus", "nvidia_driver", "cpu", "python", "torch", "cuda")


def environment_of(result_set: ResultSet) -> dict[str, str]:
    """The properties of a result set's environment that can change a measurement."""
    env = result_set.manifest.environment or {}
    gpus = env.get("gpus") or []
    names = [g.get("name", "?") for g in gpus]
    out = {
        "gpus": ", ".join(f"{names.count(n)}x {n}" for n in dict.fromkeys(names)) or "none",
        "nvidia_driver": str(env.get("nvidia_driver")),
        "cpu": str(env.get("cpu")),
        "python": str(env.get("python")),
    }
    case_env = next((r.environment for r in result_set.results if r.environment), {})
    out["torch"] = str(case_env.get("torch_version"))
    out["cuda"] = str(case_env.get("cuda_version"))
    for name, version in sorted((env.get("packages") or {}).items()):
        out[f"package {name}"] = str(version)
    for name, source in sorted((env.get("plugins") or {}).items()):
        out[f"plugin {name}"] = str(source)
    for name, version in sorted((env.get("libraries") or {}).items()):
        out[name] = str(version)
    for key in ("cpu_governor", "cpu_turbo"):
        if key in env:
            out[key.replace("_", " ")] = str(env.get(key))
    for gpu in env.get("gpu_settings") or []:
        for key in ("application_sm_clock_mhz", "max_sm_clock_mhz", "power_limit_w", "ecc", "mig", "persistence"):
            out[f"GPU {gpu.get('index')} {key}"] = str(gpu.get(key))
    return out


def environment_differences(sets: list[ResultSet]) -> list[EnvDifference]:
    """Every environment property whose value is not the same in all ``sets``."""
    if len(sets) < 2:
        return []
    envs = {s.label: environment_of(s) for s in sets}
    keys = list(dict.fromkeys(k for e in envs.values() for k in e))
    diffs = []
    for key in keys:
        values = {label: env.get(key, "None") for label, env in envs.items()}
        if len(set(values.values())) > 1:
            diffs.append(EnvDifference(key, values))
    return diffs


def parse_metric(spec: str) -> MetricSpec:
    """``NAME``, ``NAME@BATCH`` (a per-batch-size metric at one batch size) or ``NAME@BATCH:cCLIENTS``
    (a serving metric at one batch size and number of concurrent clients)."""
    name, _, where = spec.partition("@")
    batch, _, clients = where.partition(":")
    if batch and not batch.isdigit():
        raise UserError(f"--metric {spec}: the batch size after '@' must be a whole number (e.g. "
                        f"inference_latency_p99@64)")
    if clients and not (clients.startswith("c") and clients[1:].isdigit()):
        raise UserError(f"--metric {spec}: the concurrency after ':' must be 'c' and a whole number (e.g. "
                        f"serving_latency_p99@64:c4)")
    return name, int(batch) if batch else None, int(clients[1:]) if clients else None


def available_metrics(sets: list[ResultSet]) -> list[str]:
    """Every metric name recorded in ``sets``."""
    return sorted({m.name for s in sets for r in s.results for m in r.metrics.values() if m.name})


def _metrics_of(results: list[CaseResult], spec: str | None) -> list[MetricSpec]:
    """The (name, batch size, concurrency) shown for one case: the headline, or every match of ``spec``."""
    ok = [r for r in results if r.status == "ok"] or results
    if spec is None:
        head = next((h for r in ok if (h := headline_metric(r)) is not None), None)
        return [head] if head else [(None, None, None)]  # type: ignore[list-item]
    name, batch, clients = parse_metric(spec)
    found = {(m.name, m.batch_size, m.concurrency) for r in results for m in r.metrics.values()
             if m.name == name and (batch is None or m.batch_size == batch)
             and (clients is None or m.concurrency == clients)}
    if not found and not any(r.status == "ok" for r in results):
        return [(name, batch, clients)]
    return sorted(found, key=lambda k: (k[0], -1 if k[1] is None else k[1], -1 if k[2] is None else k[2]))


def compare(sets: list[ResultSet], baseline: ResultSet | None = None, metric: str | None = None,
            min_change: float = DEFAULT_MIN_CHANGE, alpha: float = DEFAULT_ALPHA) -> Comparison:
    """Compare ``sets`` case by case, against references and against ``baseline``.

    ``metric``: ``NAME`` or ``NAME@BATCH`` of any recorded metric (default: each case's headline metric).
    Raises UserError when no result records ``metric``.
    """
    groups: dict[tuple[str, str], dict[str, list[CaseResult]]] = {}
    order: list[tuple[str, str]] = []
    all_sets = sets + ([baseline] if baseline is not None and baseline not in sets else [])
    for result_set in all_sets:
        for result in result_set.results:
            key = (result.suite, result.case)
            if key not in groups:
                groups[key] = {}
                order.append(key)
            groups[key].setdefault(result_set.label, []).append(result)
    labels = [s.label for s in all_sets]
    rows = []
    for key in order:
        per_set = groups[key]
        everything = [r for rs in per_set.values() for r in rs]
        sample = next((r for r in everything if r.status == "ok"), everything[0])
        for name, batch, clients in _metrics_of(everything, metric):
            rows.append(_row(key, per_set, sample, (name, batch, clients), labels, baseline, min_change, alpha))
    if metric is not None and not any(any(c.value is not None for c in r.cells.values()) for r in rows):
        names = ", ".join(available_metrics(all_sets)) or "none"
        raise UserError(f"--metric {metric}: no result records this metric; recorded metrics are: {names} "
                        "(per-batch-size metrics take NAME or NAME@BATCH; serving metrics NAME@BATCH:cCLIENTS)")
    return Comparison(sets=labels, baseline=baseline.label if baseline else None, rows=rows,
                      env_differences=environment_differences(all_sets), min_change=min_change, alpha=alpha)


def _row(key: tuple[str, str], per_set: dict[str, list[CaseResult]], sample: CaseResult,
         spec: tuple[str | None, int | None, int | None], labels: list[str], baseline: ResultSet | None,
         min_change: float, alpha: float) -> Row:
    name, batch, clients = spec
    m = next((r.metric(name, batch, clients) for rs in per_set.values() for r in rs
              if name and r.metric(name, batch, clients)), None)
    ref, source = reference_value(sample, name, batch)
    ref_auc = (sample.config.get("reference") or {}).get("auc")
    known = m is not None and m.higher_is_better is not None
    row = Row(suite=key[0], case=key[1], metric=name, unit=m.unit if m else "", batch_size=batch, concurrency=clients,
              higher_is_better=bool(m.higher_is_better) if known and m else True, direction_known=known or m is None,
              reference=ref, reference_source=source, reference_auc=ref_auc, config=sample.config)
    if ref_auc is not None and synthetic_data(sample):
        row.auc_note = "synthetic data: AUC not comparable with the reference"
    for label in labels:
        if label not in per_set:
            continue
        cell = _cell(per_set[label], name, batch, clients)
        if cell.comparable:
            first = per_set[label][0]
            cell.vs_reference = _ratio(cell.value, reference_value(first, name, batch)[0])
            auc_ref, _ = reference_value(first, "auc")
            cell.auc_vs_reference = _ratio(cell.auc, auc_ref) if row.metric != "auc" else None
        row.cells[label] = cell
    base_cell = row.cells.get(baseline.label) if baseline is not None else None
    for label, cell in row.cells.items():
        if base_cell is None or baseline is None or label == baseline.label or cell.status != "ok":
            continue
        if base_cell.status != "ok":
            continue
        if cell.comparable != base_cell.comparable:
            cell.note = "scaled down vs full size: no baseline ratio"
            continue
        judge_change(cell, base_cell, row, min_change, alpha)
    return row
