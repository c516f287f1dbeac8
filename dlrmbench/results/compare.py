"""Side-by-side comparison of result sets: one row per case and metric, one column group per result set.

Per case, metric and result set: the median of the metric over repeats, its relative spread
((max - min) / median), a 95% confidence interval, the ratio to the suite's reference value, and the
ratio to a baseline result set with its confidence interval and a significance test.

Statistics (:mod:`dlrmbench.results.verdict`): the run (one worker process) is the unit of replication.
Each run contributes one value of the metric; the verdict against the baseline is Welch's t-test on
the logarithms of the per-run values of the quiet runs, flagged as a regression or an improvement when
p < alpha (default 0.01) and the change is at least ``min_change`` (default 5%). Noisy runs are left
out; a side left with too few quiet runs is "inconclusive (noisy: ...)", which never fails
``--fail-on-regression``. One run a side cannot separate a change from run-to-run variation, unless
both result sets carry this machine's run-to-run variation (``dlrmbench doctor``). The CI shown with
a value is the 95% t-interval of the per-run values (none with one run).

Numbers that must not be set against each other are not: scaled-down cases get no reference ratio
and no baseline ratio against a full-size case; AUC is compared with the reference only for cases
that ran on real (not synthetic) data. Environments that differ between result sets (GPU model,
driver, package versions, ...) are listed so the views can warn about them, and so are cases whose runs read
other data than the baseline's (:mod:`dlrmbench.results.same_data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.comparability import why_not_comparable
from dlrmbench.errors import UserError
from dlrmbench.results.load import ResultSet
from dlrmbench.results.noise import noise_line
from dlrmbench.results.schema import CaseResult
from dlrmbench.results.stats import run_interval, spread
from dlrmbench.results.verdict import UNTESTED, Run, judge, rule, runs_of

DEFAULT_MIN_CHANGE = 0.05
DEFAULT_ALPHA = 0.01
HOURS_APART = 1.0  # sets started further apart than this are said to be measured at different times


def flag_rule(min_change: float = DEFAULT_MIN_CHANGE, alpha: float = DEFAULT_ALPHA) -> str:
    """The verdict rule in words, with the thresholds in force."""
    return rule(min_change, alpha)


FLAG_RULE = flag_rule()


#: A metric as compare selects it: (name, batch size, concurrent clients); None where it does not apply.
MetricSpec = tuple[str, "int | None", "int | None"]


#: A LoadGen serving case is judged by the first of these it has: a search's peak QPS, the samples/s (Offline,
#: Server), the scenario latency (SingleStream, MultiStream), the served AUC (accuracy mode); a family's accuracy
#: case is judged by its gated metric (``serving_<metric>`` beside ``serving_<metric>_ratio``).
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
        gated = [m.name.removesuffix("_ratio") for m in result.metrics.values()  # a family's gated accuracy metric
                 if m.name.startswith("serving_") and m.name.endswith("_ratio")
                 and m.name.removesuffix("_ratio") in result.metrics]
        if gated:
            return gated[0], None, None
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
    kind: str = "runs"        # one value of the metric per run (worker process)
    statistic: str = "median"

    def describe(self) -> str:
        return f"{len(self.values)} run{'' if len(self.values) == 1 else 's'}"


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
    auc_text: str | None = None  # ``0.7503 ±0.0041 (n=65,536)``: with its interval and the samples scored
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
    not_comparable: str | None = None  # why not, besides scaling down (the dataset's reason)
    warnings: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    verdict: str | None = None   # regression, improvement, no change, inconclusive, untested (vs the baseline)

    @property
    def comparability_note(self) -> str:
        """The label of a cell that is not set against the reference, with why (the one rule of
        :func:`dlrmbench.comparability.why_not_comparable`)."""
        return why_not_comparable({"comparable": False, "not_comparable": self.not_comparable}) or ""


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
    timing: list[str] = field(default_factory=list)  # sets measured hours apart from the baseline
    data: list[str] = field(default_factory=list)  # cases whose results read other data than the baseline's

    @property
    def rule(self) -> str:
        return flag_rule(self.min_change, self.alpha)

    def regressions(self) -> list[tuple[Row, str, Cell]]:
        """Every (row, result set, cell) flagged as a significant regression beyond min_change."""
        return [(row, label, cell) for row in self.rows for label, cell in row.cells.items()
                if cell.flag == "regression"]

    def not_compared(self) -> list[tuple[Row, str, str]]:
        """Every (row, result set, reason) that has a baseline to be judged against but could not be:
        missing on one side, failed, not recorded, or not comparable. ``--fail-on-regression`` fails on
        these unless ``--allow-missing``."""
        if self.baseline is None:
            return []
        out = []
        for row in self.rows:
            base = row.cells.get(self.baseline)
            for label in self.sets:
                if label == self.baseline:
                    continue
                cell = row.cells.get(label)
                reason = _why_not_compared(cell, base, label, self.baseline)
                if reason:
                    out.append((row, label, reason))
        return out

    def noise_lines(self) -> list[tuple[str, str]]:
        """(case, line): one warning line per case with a noisy run, over every result set."""
        out: dict[str, str] = {}
        for row in self.rows:
            where = f"{row.suite}/{row.case}"
            if where in out:
                continue
            runs = [(f"{label} {run.name}", list(run.noise)) for label in self.sets
                    if (cell := row.cells.get(label)) is not None for run in cell.runs]
            line = noise_line(runs)
            if line:
                out[where] = line
        return list(out.items())

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
                    "verdict": cell.verdict,
                    "energy_per_sample_j": cell.energy_per_sample, "comparable": cell.comparable,
                    "note": cell.note, "reason": cell.reason, "warnings": "; ".join(cell.warnings) or None,
                })
        return out


def _why_not_compared(cell: Cell | None, base: Cell | None, label: str, baseline: str) -> str | None:
    if base is None:
        return f"not in the baseline {baseline}"
    if cell is None:
        return f"not run in {label}"
    if base.status != "ok":
        return f"{base.status} in the baseline"
    if cell.status != "ok":
        return f"{cell.status} in {label}" + (f": {cell.reason}" if cell.reason else "")
    if cell.comparable != base.comparable:
        return _comparability_mismatch(cell, base)
    if cell.value is None or base.value is None:
        return "the metric is not recorded on both sides"
    if cell.verdict is None:
        return "no verdict"
    return None


def _comparability_mismatch(cell: Cell, base: Cell) -> str:
    reason = cell.not_comparable or base.not_comparable
    return f"{reason} on one side only" if reason else "scaled down vs full size"


def _median(values: list[float]) -> float | None:
    return spread(values)["median"] if values else None


def _cell(results: list[CaseResult], name: str | None, batch_size: int | None,
          concurrency: int | None = None) -> Cell:
    ok = [r for r in results if r.status == "ok"]
    comparable = bool(results[0].config.get("comparable", True))
    not_comparable = results[0].config.get("not_comparable") if not comparable else None
    if not ok:
        return Cell(status=results[0].status, reason=results[0].reason, repeats=len(results), comparable=comparable,
                    not_comparable=not_comparable)
    values = [v for r in ok if name and (v := r.value(name, batch_size, concurrency)) is not None]
    aucs = [a for r in ok if (a := r.value("auc")) is not None]
    energy = [e for r in ok if (e := r.value("energy_per_sample")) is not None]
    stats = spread(values) if values else {}
    p50_name = {"train_throughput": "train_throughput_p50", "inference_throughput": "inference_throughput_p50",
                "inference_throughput_device_only": "inference_throughput_p50_device_only"}.get(name or "")
    p50_values = [v for r in ok if p50_name and (v := r.value(p50_name, batch_size)) is not None]
    runs = runs_of(ok, name, batch_size, concurrency) if name else []
    cell = Cell(
        status="ok", value=stats.get("median"), values=values,
        rel_spread=stats["rel_spread"] if len(values) > 1 else None, repeats=len(ok),
        p50_value=_median(p50_values), auc=_median(aucs), energy_per_sample=_median(energy), comparable=comparable,
        note=why_not_comparable(results[0].config), not_comparable=not_comparable,
        samples=Samples([r.value for r in runs]) if runs else None, runs=runs,
    )
    cell.ci = run_interval(cell.samples.values) if cell.samples else None
    cell.warnings = [f"{run.name}: {finding}" for run in runs for finding in run.noise]
    if cell.auc is not None:  # with its 95% interval and the samples scored (the first run's last evaluation)
        from dlrmbench.results.auc_interval import auc_text

        scored = next((r for r in ok if r.value("auc") is not None and r.evaluations), None)
        cell.auc_text = auc_text(cell.auc, scored.evaluations[-1] if scored is not None else None)
    return cell


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def judge_change(cell: Cell, base: Cell, row: Row, min_change: float, alpha: float,
                 known_cv: float | None = None) -> None:
    """Fill the cell's baseline ratio, its CI, p-value, verdict and flag (see :mod:`dlrmbench.results.verdict`)."""
    cell.vs_baseline = _ratio(cell.value, base.value)
    if cell.vs_baseline is None or not cell.runs or not base.runs:
        return
    verdict = judge(cell.runs, base.runs, row.higher_is_better if row.direction_known else None,
                    min_change, alpha, known_cv)
    cell.verdict, cell.flag, cell.note = verdict.kind, verdict.flag, verdict.text
    if verdict.test is not None:
        cell.ratio_ci, cell.p_value = verdict.test.ci, verdict.test.p_value
        cell.significant = verdict.test.p_value < alpha and verdict.kind != UNTESTED


def known_variation(a: ResultSet, b: ResultSet) -> float | None:
    """This machine's run-to-run coefficient of variation when both sets recorded one for the same
    machine (``environment.run_to_run``, stored by ``dlrmbench doctor``): the larger of the two."""
    found = []
    for result_set in (a, b):
        stored = (result_set.manifest.environment or {}).get("run_to_run")
        if not isinstance(stored, dict) or not isinstance(stored.get("cv"), (int, float)):
            return None
        found.append(stored)
    if found[0].get("machine") != found[1].get("machine") or not all(math.isfinite(f["cv"]) for f in found):
        return None
    return max(float(f["cv"]) for f in found)


def _started(result_set: ResultSet) -> Any:
    from datetime import datetime

    try:
        return datetime.fromisoformat(result_set.manifest.started_at)
    except (TypeError, ValueError):
        return None


def timing_notes(sets: list[ResultSet], baseline: ResultSet | None) -> list[str]:
    """Sets started more than :data:`HOURS_APART` hours from the baseline, and sets whose machine
    state (``dlrmbench doctor`` findings recorded at the start of the run) differs from the baseline's."""
    if baseline is None:
        return []
    out = []
    base_time = _started(baseline)
    base_state = _state(baseline)
    for result_set in sets:
        if result_set is baseline:
            continue
        when = _started(result_set)
        if base_time is not None and when is not None:
            try:
                hours = abs((when - base_time).total_seconds()) / 3600
            except TypeError:  # one time with a zone, one without
                hours = None
            if hours is not None and hours > HOURS_APART:
                out.append(f"{result_set.label} was measured {hours:,.1f} hours apart from the baseline: the machine's "
                           "state (other load, clocks, temperature) may have changed in between; "
                           "interleave runs (run --repeat N with both suites) for a fair ratio")
        state = _state(result_set)
        if base_state is not None and state is not None and state != base_state:
            changed = sorted(k for k in set(state) | set(base_state) if state.get(k) != base_state.get(k))
            out.append(f"{result_set.label} ran in a different machine state from the baseline: "
                       + "; ".join(f"{k}: {base_state.get(k)} -> {state.get(k)}" for k in changed))
    return out


def _state(result_set: ResultSet) -> dict[str, str] | None:
    """The machine-state findings recorded in a result set (``environment.machine_state``), by check."""
    checks = (result_set.manifest.environment or {}).get("machine_state")
    if not isinstance(checks, list):
        return None
    return {str(c.get("check")): str(c.get("value")) for c in checks
            if isinstance(c, dict) and c.get("stable", True)}


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
    if len(set(labels)) != len(labels):
        raise ValueError("result sets must have distinct labels (load them with load_results)")
    by_label = {s.label: s for s in all_sets}
    rows = []
    for key in order:
        per_set = groups[key]
        everything = [r for rs in per_set.values() for r in rs]
        sample = next((r for r in everything if r.status == "ok"), everything[0])
        for name, batch, clients in _metrics_of(everything, metric):
            rows.append(_row(key, per_set, sample, (name, batch, clients), by_label, baseline, min_change, alpha))
    if metric is not None and not any(any(c.value is not None for c in r.cells.values()) for r in rows):
        names = ", ".join(available_metrics(all_sets)) or "none"
        raise UserError(f"--metric {metric}: no result records this metric; recorded metrics are: {names} "
                        "(per-batch-size metrics take NAME or NAME@BATCH; serving metrics NAME@BATCH:cCLIENTS)")
    return Comparison(sets=labels, baseline=baseline.label if baseline else None, rows=rows,
                      env_differences=environment_differences(all_sets), min_change=min_change, alpha=alpha,
                      timing=timing_notes(all_sets, baseline), data=data_notes(groups, order, labels, baseline))


def data_notes(groups: dict[tuple[str, str], dict[str, list[CaseResult]]], order: list[tuple[str, str]],
               labels: list[str], baseline: ResultSet | None) -> list[str]:
    """One note per case and result set whose runs read other data (files of another size or content) than
    the baseline's (without a baseline: than the first set's), from the fingerprints the readers took."""
    from dlrmbench.results.same_data import data_difference

    out = []
    for key in order:
        per_set = groups[key]
        base_label = baseline.label if baseline is not None else next((lb for lb in labels if lb in per_set), None)
        if base_label not in per_set:
            continue
        reference = per_set[base_label][0]
        for label in labels:
            if label == base_label or label not in per_set:
                continue
            found = dict.fromkeys(d for r in per_set[label] if (d := data_difference(r, reference)) is not None)
            out.extend(f"{key[0]}/{key[1]} in {label}: {d}{'' if baseline is not None else f' ({base_label})'}"
                       for d in found)
    return out


def _row(key: tuple[str, str], per_set: dict[str, list[CaseResult]], sample: CaseResult,
         spec: tuple[str | None, int | None, int | None], by_label: dict[str, ResultSet],
         baseline: ResultSet | None, min_change: float, alpha: float) -> Row:
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
    for label in by_label:
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
            cell.note = f"{_comparability_mismatch(cell, base_cell)}: no baseline ratio"
            continue
        judge_change(cell, base_cell, row, min_change, alpha, known_variation(by_label[label], baseline))
    return row
