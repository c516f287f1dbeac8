"""Side-by-side comparison of result sets: one row per case, one column group per result set.

Per case and result set: the median of the case's headline metric over repeats, its relative
spread, the ratio to the suite's reference value and the ratio to a baseline result set. A
difference is flagged as a regression or improvement only when it exceeds the noise: the larger
of the two sets' relative spreads (max-min over median across repeats) plus a 2% floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.results.load import ResultSet
from dlrmbench.results.schema import CaseResult
from dlrmbench.results.stats import spread

NOISE_FLOOR = 0.02


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


def reference_value(result: CaseResult, metric_name: str | None) -> tuple[float | None, str | None]:
    ref = result.config.get("reference") or {}
    if not ref or metric_name is None or not result.config.get("comparable", True):
        return None, None
    if metric_name == "train_throughput":
        return ref.get("throughput"), ref.get("source")
    if metric_name == "auc":
        return ref.get("auc"), ref.get("source")
    return None, None


@dataclass
class Cell:
    """One case in one result set."""

    status: str
    value: float | None = None
    rel_spread: float | None = None
    repeats: int = 0
    auc: float | None = None
    vs_reference: float | None = None
    vs_baseline: float | None = None
    flag: str | None = None
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
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class Comparison:
    sets: list[str]
    baseline: str | None
    rows: list[Row]

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
                    "comparable": cell.comparable, "reason": cell.reason,
                })
        return out


def _cell(results: list[CaseResult], metric_name: str | None) -> Cell:
    ok = [r for r in results if r.status == "ok"]
    if not ok:
        return Cell(status=results[0].status, reason=results[0].reason, repeats=len(results))
    values = [v for r in ok if metric_name and (v := r.value(metric_name)) is not None]
    aucs = [a for r in ok if (a := r.value("auc")) is not None]
    stats = spread(values)
    return Cell(
        status="ok", value=stats["median"] if values else None,
        rel_spread=stats["rel_spread"] if len(values) > 1 else None, repeats=len(ok),
        auc=spread(aucs)["median"] if aucs else None,
        comparable=bool(ok[0].config.get("comparable", True)),
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def flag_change(ratio: float | None, noise: float, higher_is_better: bool) -> str | None:
    """'improvement' / 'regression' when ``ratio`` departs from 1 by more than ``noise``."""
    if ratio is None:
        return None
    threshold = max(noise, NOISE_FLOOR)
    if abs(ratio - 1.0) <= threshold:
        return None
    better = ratio > 1.0 if higher_is_better else ratio < 1.0
    return "improvement" if better else "regression"


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
        sample = next(r for rs in per_set.values() for r in rs)
        name = headline_metric(next((r for rs in per_set.values() for r in rs if r.status == "ok"), sample))
        m = next((r.metrics[name] for rs in per_set.values() for r in rs if name and name in r.metrics), None)
        ref, source = reference_value(sample, name)
        row = Row(suite=key[0], case=key[1], metric=name, unit=m.unit if m else "",
                  higher_is_better=bool(m.higher_is_better) if m and m.higher_is_better is not None else True,
                  reference=ref, reference_source=source)
        for label in labels:
            if label in per_set:
                cell = _cell(per_set[label], name)
                cell.vs_reference = _ratio(cell.value, ref) if cell.comparable else None
                row.cells[label] = cell
        base_cell = row.cells.get(baseline.label) if baseline is not None else None
        for label, cell in row.cells.items():
            if base_cell is not None and baseline is not None and label != baseline.label:
                cell.vs_baseline = _ratio(cell.value, base_cell.value)
                noise = max(cell.rel_spread or 0.0, base_cell.rel_spread or 0.0)
                cell.flag = flag_change(cell.vs_baseline, noise, row.higher_is_better)
        rows.append(row)
    return Comparison(sets=labels, baseline=baseline.label if baseline else None, rows=rows)
