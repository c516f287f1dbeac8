"""History: each case and metric as a series over result sets of one machine, with its steps.

A *point* of a series is one result set, or with ``by=LABEL`` every result set that carries the same value
of that label (``run --label commit=...``): its runs are pooled, so three result sets of one commit are
three times the runs. Points are ordered by the time their first result set started.

Steps: candidate change points come from ``ruptures`` (PELT, an exact search with pruning, on the log of
the points' median values; the penalty is :data:`PENALTY` x sigma² x log n, sigma the points' own
noise estimated from successive differences, as a BIC). Each candidate is then confirmed with the per-run
test of ``compare`` (:func:`dlrmbench.results.verdict.judge`, with the rank test always required to agree):
the runs of the points between the previous and this change point against those up to the next one, at
alpha / (points - 1): the candidate was chosen as the most step-like of that many places, so testing it
at alpha on the same data would overstate it (Bonferroni). A segment has at least :data:`MIN_SEGMENT`
points. Only a confirmed regression or improvement is a step; the
others are shown as unconfirmed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from dlrmbench.errors import UserError
from dlrmbench.results.compare import DEFAULT_ALPHA, DEFAULT_MIN_CHANGE, headline_metric, parse_metric
from dlrmbench.results.load import ResultSet
from dlrmbench.results.verdict import IMPROVEMENT, REGRESSION, Run, Verdict, judge, runs_of

PENALTY = 3.0
MIN_SEGMENT = 3  # points: a step needs three points either side (one outlying pair is not a level)
MIN_POINTS = 2 * MIN_SEGMENT


@dataclass
class Point:
    """One position of a series: a label, when it was measured, and its runs."""

    label: str
    started_at: str
    runs: list[Run]
    sets: list[str]

    @property
    def value(self) -> float:
        return statistics.median(r.value for r in self.runs)


@dataclass
class Step:
    index: int                  # the first point after the step
    before: str                 # label of the last point before it
    after: str                  # label of the first point after it
    ratio: float                # median of the points after / before (the segments either side)
    verdict: Verdict

    @property
    def kind(self) -> str:
        return self.verdict.kind


@dataclass
class Series:
    machine: str
    suite: str
    case: str
    metric: str
    batch_size: int | None
    concurrency: int | None
    unit: str
    higher_is_better: bool | None
    points: list[Point] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    note: str | None = None

    @property
    def metric_label(self) -> str:
        return self.metric + (f" @ batch {self.batch_size}" if self.batch_size is not None else "") + (
            f", {self.concurrency} clients" if self.concurrency is not None else "")

    @property
    def confirmed(self) -> list[Step]:
        return [s for s in self.steps if s.kind in (REGRESSION, IMPROVEMENT)]

    @property
    def open_regression(self) -> Step | None:
        """The most recent confirmed step when it is a regression (not yet recovered), else None."""
        confirmed = self.confirmed
        return confirmed[-1] if confirmed and confirmed[-1].kind == REGRESSION else None


def _machine(result_set: ResultSet) -> str:
    env = result_set.manifest.environment or {}
    if isinstance(env.get("machine"), str):
        return env["machine"]
    from dlrmbench.results.machine import machine_id

    return machine_id(env)


def _points(sets: list[ResultSet], by: str) -> tuple[dict[str, list[tuple[str, str, list[ResultSet]]]], list[str]]:
    """Per machine: (label, first start, sets) groups in time order; and the sets left out (no such label)."""
    per_machine: dict[str, dict[str, list[ResultSet]]] = {}
    skipped = []
    for result_set in sets:
        if by == "time":
            key = result_set.manifest.started_at
        else:
            key = result_set.manifest.labels.get(by)
            if key is None:
                skipped.append(f"{result_set.label}: no label {by!r} (run --label {by}=VALUE)")
                continue
        per_machine.setdefault(_machine(result_set), {}).setdefault(key, []).append(result_set)
    out = {}
    for machine, groups in per_machine.items():
        rows = [(key, min(s.manifest.started_at for s in group), group) for key, group in groups.items()]
        out[machine] = sorted(rows, key=lambda row: row[1])
    return out, skipped


def _runs(group: list[ResultSet], suite: str, case: str, spec: tuple[str, int | None, int | None]) -> list[Run]:
    """The positive per-run values of one case and metric over a group of result sets."""
    return [run for result_set in group
            for run in runs_of([r for r in result_set.results if r.suite == suite and r.case == case], *spec,
                               label=result_set.label) if run.value > 0]


def build_series(sets: list[ResultSet], metric: str | None = None, by: str = "time") -> tuple[list[Series], list[str]]:
    """Every (machine, case, metric) series over ``sets``, without steps; and notes on what was left out."""
    grouped, notes = _points(sets, by)
    wanted = parse_metric(metric) if metric else None
    out = []
    for machine, groups in grouped.items():
        cases: dict[tuple[str, str, tuple], Any] = {}
        for _, _, group in groups:
            for result_set in group:
                for r in result_set.results:
                    if r.status != "ok":
                        continue
                    specs = [headline_metric(r)] if wanted is None else [
                        (m.name, m.batch_size, m.concurrency) for m in r.metrics.values()
                        if m.name == wanted[0] and (wanted[1] is None or m.batch_size == wanted[1])
                        and (wanted[2] is None or m.concurrency == wanted[2])]
                    for spec in specs:
                        if spec is not None and (r.suite, r.case, spec) not in cases:
                            cases[(r.suite, r.case, spec)] = r.metric(*spec)
        for (suite, case, spec), m in cases.items():
            series = Series(machine, suite, case, spec[0], spec[1], spec[2], m.unit if m else "",
                            m.higher_is_better if m else None)
            for label, started, group in groups:
                runs = _runs(group, suite, case, spec)
                if runs:
                    series.points.append(Point(label, started, runs, [s.label for s in group]))
            out.append(series)
    if metric is not None and not out:
        raise UserError(f"--metric {metric}: no result records this metric")
    return out, notes


def change_points(values: list[float], penalty: float = PENALTY) -> list[int]:
    """Indices where a new segment starts in ``values`` (PELT from ruptures on their logarithms)."""
    if len(values) < MIN_POINTS:
        return []
    try:
        import numpy as np
        import ruptures
    except ImportError:
        raise UserError("dlrmbench history needs ruptures: pip install 'dlrmbench[history]'") from None
    signal = np.log(np.asarray(values, dtype=float)).reshape(-1, 1)
    diffs = np.diff(signal[:, 0])
    sigma = float(np.median(np.abs(diffs - np.median(diffs)))) * 1.4826 / math.sqrt(2)  # MAD of differences
    sigma = max(sigma, 1e-3)
    bkps = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(signal).predict(
        pen=penalty * sigma ** 2 * math.log(len(values)))
    return [b for b in bkps if 0 < b < len(values)]


def find_steps(series: Series, min_change: float = DEFAULT_MIN_CHANGE, alpha: float = DEFAULT_ALPHA,
               penalty: float = PENALTY) -> None:
    """Fill ``series.steps``: ruptures' candidates, each judged by the per-run test of its segments."""
    points = series.points
    if len(points) < MIN_POINTS:
        series.note = f"{len(points)} point(s): a series needs {MIN_POINTS} or more to look for steps"
        return
    cuts = change_points([p.value for p in points], penalty)
    edges = [0, *cuts, len(points)]
    # a candidate was picked as the most extreme of len(points) - 1 places to cut: testing it on the same
    # data at alpha would overstate it (the step was chosen because it looked like one), so Bonferroni
    level = alpha / (len(points) - 1)
    for i, cut in enumerate(cuts):
        before = [r for p in points[edges[i]:cut] for r in p.runs]
        after = [r for p in points[cut:edges[i + 2]] for r in p.runs]
        verdict = judge(after, before, series.higher_is_better, min_change, level, rank_from=1)
        ratio = statistics.median(r.value for r in after) / statistics.median(r.value for r in before)
        series.steps.append(Step(cut, points[cut - 1].label, points[cut].label, ratio, verdict))


def history(sets: list[ResultSet], metric: str | None = None, by: str = "time",
            min_change: float = DEFAULT_MIN_CHANGE, alpha: float = DEFAULT_ALPHA) -> tuple[list[Series], list[str]]:
    """Series with their steps, regressions first (then improvements, then the rest); notes."""
    series, notes = build_series(sets, metric, by)
    for s in series:
        find_steps(s, min_change, alpha)

    def rank(s: Series) -> tuple[int, str, str]:
        kinds = {step.kind for step in s.confirmed}
        return (0 if s.open_regression else 1 if REGRESSION in kinds else 2 if kinds else 3, s.suite, s.case)

    return sorted(series, key=rank), notes
