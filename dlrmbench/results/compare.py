"""Side-by-side comparison of result sets: one row per case, one column group per result set.

Per case and result set: the median of the case's headline metric over repeats, its relative
spread ((max - min) / median), the ratio to the suite's reference value and the ratio to a baseline
result set.

The flag rule (:data:`FLAG_RULE`): a case is marked as a regression or an improvement against the
baseline only when the noise was measured, i.e. both result sets have at least two successful
repeats of it, and the medians differ by more than that noise: the larger of the two relative
spreads, and never less than 2%. With a single repeat no flag is given (the noise is unknown).

Numbers that must not be set against each other are not: scaled-down cases get no reference ratio
and no baseline ratio against a full-size case; AUC is compared with the reference only for cases
that ran on real (not synthetic) data. Environments that differ between result sets (GPU model,
driver, package versions, ...) are listed so the views can warn about them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.results.load import ResultSet
from dlrmbench.results.schema import CaseResult
from dlrmbench.results.stats import spread

NOISE_FLOOR = 0.02
MIN_REPEATS_FOR_FLAG = 2
FLAG_RULE = (
    "flagged only when both result sets have >= 2 ok repeats and the medians differ by more than the "
    "measured noise: max(relative spread of either set, 2%), spread = (max - min) / median over repeats"
)


def headline_metric(result: CaseResult) -> str | None:
    """The one number a case is judged by: training throughput, test AUC, or the largest
    batch size's end-to-end inference throughput."""
    mode = result.config.get("mode")
    if mode == "train":
        return "train_throughput"
    if mode == "test":
        return "auc"
    sizes = [int(k.removeprefix("inference_throughput_bs")) for k in result.metrics
             if k.startswith("inference_throughput_bs") and k.removeprefix("inference_throughput_bs").isdigit()]
    return f"inference_throughput_bs{max(sizes)}" if sizes else None


def synthetic_data(result: CaseResult) -> bool:
    """True when the case's AUC says nothing about Criteo (its dataset plugin declared so: synthetic labels)."""
    declared = result.config.get("auc_comparable")
    if declared is not None:
        return not declared
    return (result.config.get("dataset") or {}).get("name") == "synthetic"  # results written before the field


def reference_value(result: CaseResult, metric_name: str | None) -> tuple[float | None, str | None]:
    """The published value of ``metric_name`` for this case and its source; None when there is none or
    when the case is not comparable (scaled down; AUC on synthetic data)."""
    ref = result.config.get("reference") or {}
    if not ref or metric_name is None or not result.config.get("comparable", True):
        return None, None
    if metric_name == "train_throughput":
        return ref.get("throughput"), ref.get("source")
    if metric_name == "auc":
        return (None, None) if synthetic_data(result) else (ref.get("auc"), ref.get("source"))
    if metric_name.startswith("inference_throughput_bs") and metric_name.removeprefix("inference_throughput_bs").isdigit():
        table = {int(k): v for k, v in (ref.get("inference_throughput") or {}).items()}
        return table.get(int(metric_name.removeprefix("inference_throughput_bs"))), ref.get("source")
    return None, None


@dataclass
class Cell:
    """One case in one result set."""

    status: str
    value: float | None = None
    rel_spread: float | None = None
    repeats: int = 0
    values: list[float] = field(default_factory=list)
    auc: float | None = None
    auc_vs_reference: float | None = None
    energy_per_sample: float | None = None
    vs_reference: float | None = None
    vs_baseline: float | None = None
    flag: str | None = None
    note: str | None = None
    reason: str | None = None
    comparable: bool = True


@dataclass
class Row:
    suite: str
    case: str
    metric: str | None
    unit: str
    higher_is_better: bool
    reference: float | None = None
    reference_source: str | None = None
    reference_auc: float | None = None
    auc_note: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class EnvDifference:
    """One environment property that differs between result sets."""

    key: str
    values: dict[str, str]


@dataclass
class Comparison:
    sets: list[str]
    baseline: str | None
    rows: list[Row]
    env_differences: list[EnvDifference] = field(default_factory=list)
    rule: str = FLAG_RULE

    def to_records(self) -> list[dict[str, Any]]:
        """Flat records (one per row and result set) for CSV and JSON output."""
        out = []
        for row in self.rows:
            for label, cell in row.cells.items():
                out.append({
                    "suite": row.suite, "case": row.case, "result_set": label, "metric": row.metric,
                    "unit": row.unit, "status": cell.status, "value": cell.value, "rel_spread": cell.rel_spread,
                    "repeats": cell.repeats, "auc": cell.auc, "reference": row.reference,
                    "vs_reference": cell.vs_reference, "vs_baseline": cell.vs_baseline, "flag": cell.flag,
                    "energy_per_sample_j": cell.energy_per_sample, "comparable": cell.comparable,
                    "note": cell.note, "reason": cell.reason,
                })
        return out


def _median(values: list[float]) -> float | None:
    return spread(values)["median"] if values else None


def _cell(results: list[CaseResult], metric_name: str | None) -> Cell:
    ok = [r for r in results if r.status == "ok"]
    comparable = bool(results[0].config.get("comparable", True))
    if not ok:
        return Cell(status=results[0].status, reason=results[0].reason, repeats=len(results), comparable=comparable)
    values = [v for r in ok if metric_name and (v := r.value(metric_name)) is not None]
    aucs = [a for r in ok if (a := r.value("auc")) is not None]
    energy = [e for r in ok if (e := r.value("energy_per_sample")) is not None]
    stats = spread(values) if values else {}
    return Cell(
        status="ok", value=stats.get("median"), values=values,
        rel_spread=stats["rel_spread"] if len(values) > 1 else None, repeats=len(ok),
        auc=_median(aucs), energy_per_sample=_median(energy), comparable=comparable,
        note=None if comparable else "scaled down: not comparable",
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def flag_change(ratio: float | None, noise: float | None, higher_is_better: bool) -> str | None:
    """'improvement' / 'regression' when ``ratio`` departs from 1 by more than ``max(noise, 2%)``;
    None when it does not, or when the noise is unknown (``noise is None``)."""
    if ratio is None or noise is None:
        return None
    if abs(ratio - 1.0) <= max(noise, NOISE_FLOOR):
        return None
    better = ratio > 1.0 if higher_is_better else ratio < 1.0
    return "improvement" if better else "regression"


def measured_noise(a: Cell, b: Cell) -> float | None:
    """The larger relative spread of two cells, or None unless both have enough repeats."""
    if a.repeats < MIN_REPEATS_FOR_FLAG or b.repeats < MIN_REPEATS_FOR_FLAG:
        return None
    if a.rel_spread is None or b.rel_spread is None:
        return None
    return max(a.rel_spread, b.rel_spread)


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


def compare(sets: list[ResultSet], baseline: ResultSet | None = None) -> Comparison:
    """Compare ``sets`` case by case, against references and against ``baseline``."""
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
        sample = next((r for rs in per_set.values() for r in rs if r.status == "ok"),
                      next(r for rs in per_set.values() for r in rs))
        name = headline_metric(sample)
        m = next((r.metrics[name] for rs in per_set.values() for r in rs if name and name in r.metrics), None)
        ref, source = reference_value(sample, name)
        ref_auc = (sample.config.get("reference") or {}).get("auc")
        row = Row(suite=key[0], case=key[1], metric=name, unit=m.unit if m else "",
                  higher_is_better=bool(m.higher_is_better) if m and m.higher_is_better is not None else True,
                  reference=ref, reference_source=source, reference_auc=ref_auc, config=sample.config)
        if ref_auc is not None and synthetic_data(sample):
            row.auc_note = "synthetic data: AUC not comparable with the reference"
        for label in labels:
            if label not in per_set:
                continue
            cell = _cell(per_set[label], name)
            if cell.comparable:
                first = per_set[label][0]
                cell.vs_reference = _ratio(cell.value, reference_value(first, name)[0])
                auc_ref, _ = reference_value(first, "auc")
                cell.auc_vs_reference = _ratio(cell.auc, auc_ref) if row.metric != "auc" else None
            row.cells[label] = cell
        base_cell = row.cells.get(baseline.label) if baseline is not None else None
        for label, cell in row.cells.items():
            if base_cell is None or baseline is None or label == baseline.label:
                continue
            if cell.comparable != base_cell.comparable:
                cell.note = "scaled down vs full size: no baseline ratio"
                continue
            cell.vs_baseline = _ratio(cell.value, base_cell.value)
            cell.flag = flag_change(cell.vs_baseline, measured_noise(cell, base_cell), row.higher_is_better)
            if cell.vs_baseline is not None and measured_noise(cell, base_cell) is None:
                n = min(cell.repeats, base_cell.repeats)
                cell.note = f"noise unknown ({n} repeat{'s' * (n != 1)}): not flagged"
        rows.append(row)
    return Comparison(sets=labels, baseline=baseline.label if baseline else None, rows=rows,
                      env_differences=environment_differences(all_sets))
