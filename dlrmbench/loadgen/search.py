"""The Server QPS search: the highest target QPS whose LoadGen run is VALID, by bounded bisection.

LoadGen's own ``FindPeakPerformance`` mode tests only the latency bound (not the duration, query count or
early stopping), so its answer still needs a VALID run; here every probe *is* a full PerformanceOnly run and
is kept. Order: ``lower_qps`` (halved while it fails), ``upper_qps`` (if it passes, it is the answer and the
outcome says the bound was too low), then bisection at the geometric mean of the bounds (they may be orders of
magnitude apart) until the gap is below ``tolerance`` of the lower rate or ``max_runs`` runs are spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from dlrmbench.config.schema import SearchConfig
from dlrmbench.loadgen.run import LoadgenRun


@dataclass
class SearchOutcome:
    """Every run of the search in order, the best VALID rate, and how the search ended."""

    runs: list[tuple[float, LoadgenRun]] = field(default_factory=list)
    best_qps: float | None = None
    ended: str = ""


def search_qps(run_at: Callable[[float], LoadgenRun], config: SearchConfig,
               progress: Callable[[float, LoadgenRun], None] | None = None) -> SearchOutcome:
    """Bisect between ``config.lower_qps`` and ``config.upper_qps`` with ``run_at(qps)`` (one LoadGen run each)."""
    outcome = SearchOutcome()

    def probe(qps: float) -> bool:
        run = run_at(qps)
        outcome.runs.append((qps, run))
        if progress is not None:
            progress(qps, run)
        ok = bool(run.summary.valid)
        if ok and (outcome.best_qps is None or qps > outcome.best_qps):
            outcome.best_qps = qps
        return ok

    low = config.lower_qps
    while not probe(low):
        if len(outcome.runs) >= config.max_runs:
            outcome.ended = f"no VALID rate found down to {low:g} QPS in {config.max_runs} runs"
            return outcome
        low /= 2
    if len(outcome.runs) >= config.max_runs:
        outcome.ended = "run budget spent before the upper bound was tried"
        return outcome
    high = config.upper_qps
    if probe(high):
        outcome.ended = f"the upper bound {high:g} QPS passed: raise search.upper_qps"
        return outcome
    while len(outcome.runs) < config.max_runs and (high - low) / low >= config.tolerance:
        middle = math.sqrt(low * high)  # geometric: the bounds may be orders of magnitude apart
        if probe(middle):
            low = middle
        else:
            high = middle
    converged = (high - low) / low < config.tolerance
    outcome.ended = (f"converged: {low:g} QPS passes, {high:g} QPS fails" if converged
                     else f"run budget ({config.max_runs}) spent: {low:g} QPS passes, {high:g} QPS fails")
    return outcome
