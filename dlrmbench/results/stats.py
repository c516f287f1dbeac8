"""Statistics shared by the worker and the reports.

Per-run summaries (percentiles, spread) need nothing but the standard library. Between result sets the
unit of replication is the run (one worker process), not the step: steps of one process share its
memory layout, allocator state, clocks and neighbours, so they are not independent samples of what a
rerun would measure. :func:`per_run_ratio_test` therefore tests one value per run (Welch's t-test on
the logarithms, so that the result is a ratio with a confidence interval); with fewer than two runs a
side it can use a run-to-run variation known from elsewhere (``dlrmbench doctor``). The Mann-Whitney U
test on per-run values backs the t-test up when there are enough runs (see ``verdict``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any


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


# --- rank test ------------------------------------------------------------------------------------------

@dataclass
class MannWhitney:
    """Result of a two-sided Mann-Whitney U test."""

    u: float          # U statistic of the first sample
    p_value: float
    method: str       # "exact" or "asymptotic"


def mann_whitney_u(a: list[float], b: list[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``a`` against ``b``, as ``scipy.stats.mannwhitneyu`` with its
    defaults (``method="auto"``, continuity correction): the exact null distribution when a sample has
    at most 8 values and there are no ties, else the normal approximation with tie correction.
    """
    import numpy as np

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks, tie_term = _rank(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    u2 = n1 * n2 - u1
    big_u = max(u1, u2)
    if (n1 <= 8 or n2 <= 8) and tie_term == 0:
        p = _exact_sf(int(round(big_u)), n1, n2)
        return MannWhitney(u1, min(1.0, 2 * p), "exact")
    mu = n1 * n2 / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0:
        return MannWhitney(u1, 1.0, "asymptotic")
    z = (big_u - mu - 0.5) / sigma
    p = 2 * 0.5 * math.erfc(z / math.sqrt(2))
    return MannWhitney(u1, min(1.0, max(0.0, p)), "asymptotic")


def _rank(values: Any) -> tuple[Any, float]:
    """Average ranks (1-based) and the tie term sum(t^3 - t) over groups of equal values."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    ranks = np.empty(values.size, dtype=float)
    boundaries = np.flatnonzero(np.diff(ordered) != 0) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [values.size]])
    counts = ends - starts
    average = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks[order] = np.repeat(average, counts)
    tie_term = float(np.sum(counts.astype(float) ** 3 - counts))
    return ranks, tie_term


def _exact_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null hypothesis, counting rank arrangements exactly (no ties).

    The number of arrangements with U = k is the k-th coefficient of the Gaussian binomial
    [n1 + n2 choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), m the smaller sample.
    """
    m, n = min(n1, n2), max(n1, n2)
    poly = [1]
    for i in range(1, m + 1):
        grown = poly + [0] * (n + i)  # multiply by (1 - q^(n+i))
        for k in range(len(grown) - 1, n + i - 1, -1):
            grown[k] -= grown[k - n - i]
        for k in range(i, len(grown)):  # divide by (1 - q^i): running sum with stride i
            grown[k] += grown[k - i]
        poly = grown[: m * n + 1] if len(grown) > m * n + 1 else grown
    poly = (poly + [0] * (m * n + 1))[: m * n + 1]
    total = math.comb(n1 + n2, n1)
    return sum(poly[u:]) / total if u <= m * n else 0.0


# --- the per-run test: one value per run, the run as the unit of replication ---------------------------

@dataclass(frozen=True)
class RatioTest:
    """The ratio of two sets of per-run values and how sure it is."""

    ratio: float                   # exp(mean log a - mean log b): the ratio of the geometric means
    ci: tuple[float, float]        # its confidence interval (``confidence``, default 95%)
    p_value: float                 # two-sided, null hypothesis "ratio 1"
    runs: tuple[int, int]          # runs a side
    method: str                    # "welch" (variation estimated from the runs) or "known variation"


def _log_values(values: list[float]) -> list[float] | None:
    if not values or any(not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0) for v in values):
        return None
    return [math.log(v) for v in values]


def per_run_ratio_test(a: list[float], b: list[float], known_cv: float | None = None,
                       confidence: float = 0.95) -> RatioTest | None:
    """Test whether per-run values ``a`` differ from ``b`` as a ratio.

    Two runs a side or more: Welch's two-sample t-test on the logarithms (unequal variances; the
    Welch-Satterthwaite degrees of freedom), as pyperf tests per-process values with a t-test. Fewer:
    a z-test with the run-to-run coefficient of variation ``known_cv`` when it is given, else None
    (one run a side cannot separate a change from run-to-run variation). None too when a value is not
    a positive finite number (no ratio exists).
    """
    la, lb = _log_values(a), _log_values(b)
    if la is None or lb is None:
        return None
    na, nb = len(la), len(lb)
    diff = statistics.fmean(la) - statistics.fmean(lb)
    alpha = 1 - confidence
    if na >= 2 and nb >= 2:
        from scipy.special import stdtr, stdtrit

        va, vb = statistics.variance(la) / na, statistics.variance(lb) / nb
        se = math.sqrt(va + vb)
        if se == 0:  # no run-to-run variation at all (a deterministic metric): the difference is exact
            p = 1.0 if diff == 0 else 0.0
            return RatioTest(math.exp(diff), (math.exp(diff), math.exp(diff)), p, (na, nb), "welch")
        df = (va + vb) ** 2 / ((va ** 2 / (na - 1) if va else 0.0) + (vb ** 2 / (nb - 1) if vb else 0.0))
        p = float(2 * stdtr(df, -abs(diff) / se))
        half = float(stdtrit(df, 1 - alpha / 2)) * se
        return RatioTest(math.exp(diff), (math.exp(diff - half), math.exp(diff + half)), min(1.0, p), (na, nb),
                         "welch")
    if known_cv is None or not known_cv > 0:
        return None
    sigma = math.log1p(known_cv)
    se = sigma * math.sqrt(1 / na + 1 / nb)
    normal = statistics.NormalDist()
    p = 2 * normal.cdf(-abs(diff) / se)
    half = normal.inv_cdf(1 - alpha / 2) * se
    return RatioTest(math.exp(diff), (math.exp(diff - half), math.exp(diff + half)), p, (na, nb),
                     "known variation")


def run_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Confidence interval of the typical per-run value (geometric mean, t-interval on the logarithms);
    None with fewer than two positive finite values."""
    logs = _log_values(values)
    if logs is None or len(logs) < 2:
        return None
    from scipy.special import stdtrit

    centre = statistics.fmean(logs)
    half = float(stdtrit(len(logs) - 1, 1 - (1 - confidence) / 2)) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(centre - half), math.exp(centre + half)
