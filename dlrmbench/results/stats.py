"""Small statistics shared by the worker and the reports (no numpy or pandas needed)."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(times: list[float]) -> dict[str, float]:
    """Mean, p50, p90, p95, p99 and max of step times in seconds."""
    return {
        "mean_s": statistics.fmean(times) if times else math.nan,
        "p50_s": percentile(times, 50),
        "p90_s": percentile(times, 90),
        "p95_s": percentile(times, 95),
        "p99_s": percentile(times, 99),
        "max_s": max(times) if times else math.nan,
        "count": float(len(times)),
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and relative spread ((max - min) / median) of repeated measurements."""
    if not values:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "rel_spread": math.nan, "n": 0}
    median = statistics.median(values)
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "rel_spread": (max(values) - min(values)) / median if median else math.nan,
        "n": len(values),
    }
