"""Was the machine quiet while a run was measured? Findings read from a result only.

The telemetry sampler records, over the case's window, the CPU time of processes other than the case
(``other_cpu_cores_mean``: cores' worth, the dlrmbench parent included in "the case"), the CPU clock
(``cpu_mhz_min`` / ``cpu_mhz_max``), the kernel's CPU thermal-throttle count, GPU slowdown reasons
(NVML) and processes of others on the case's GPUs (NVML). The step times tell whether steps were
bimodal: mean and p50 far apart.

Thresholds (one place, documented in the README):
"""

from __future__ import annotations

import math
from typing import Any

from dlrmbench.results.schema import CaseResult

OTHER_CPU_CORES = 0.5      # other processes used at least half a core on average
CPU_CLOCK_DROP = 0.10      # the CPU clock fell more than 10% below its highest reading
GPU_THROTTLED = 0.05       # a GPU slowed down (thermal / power / sync boost) in more than 5% of samples
MEAN_P50_DIVERGENCE = 0.10  # mean step time more than 10% away from the median step time

__doc__ += (f"other processes >= {OTHER_CPU_CORES} core on average; CPU clock drop > {CPU_CLOCK_DROP:.0%}; any CPU "
            f"thermal throttle event; GPU slowdown in > {GPU_THROTTLED:.0%} of samples; any other process on the "
            f"case's GPUs; |mean / p50 - 1| > {MEAN_P50_DIVERGENCE:.0%} for step times or latencies.")


def _divergence(times: list[float]) -> float | None:
    import statistics

    finite = [t for t in times if isinstance(t, (int, float)) and math.isfinite(t)]
    if len(finite) < 5:
        return None
    median = statistics.median(finite)
    return statistics.fmean(finite) / median - 1 if median > 0 else None


def step_warnings(result: CaseResult) -> list[str]:
    """Mean and p50 far apart: the steps were not one population (stalls, another process, bimodal steps).

    Mean above p50: some steps were much slower than the median; mean below p50: some were much faster.
    """
    out = []
    warmup = int(result.config.get("benchmark_warmup_steps") or 0)
    series: list[tuple[str, list[float]]] = [("train steps", result.step_times_s[warmup:])]
    for record in result.inference:
        series.append((f"inference batch {record.get('batch_size')}",
                       (record.get("end_to_end") or {}).get("step_times_s") or []))
    for what, times in series:
        gap = _divergence(times)
        if gap is not None and abs(gap) > MEAN_P50_DIVERGENCE:
            why = "some steps were much slower than the median" if gap > 0 else \
                "some steps were much faster than the median"
            out.append(f"{what} bimodal: mean {abs(gap):.0%} {'above' if gap > 0 else 'below'} p50 ({why})")
    return out


def telemetry_warnings(summary: dict[str, Any], cpu_count: int | None = None) -> list[str]:
    """Findings from a telemetry summary (see :mod:`dlrmbench.telemetry.summary`), short enough to join
    on one line."""
    out = []
    other = summary.get("other_cpu_cores_mean")
    if isinstance(other, (int, float)) and other >= OTHER_CPU_CORES:
        of = f" of {cpu_count}" if cpu_count else ""
        out.append(f"other processes used {other:.1f}{of} CPU cores on average "
                   f"(peak {summary.get('other_cpu_cores_peak', other):.1f})")
    low, high = summary.get("cpu_mhz_min"), summary.get("cpu_mhz_max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and high > 0 and low < high * (1 - CPU_CLOCK_DROP):
        out.append(f"CPU clock varied from {low:,.0f} to {high:,.0f} MHz (frequency scaling or throttling)")
    if summary.get("cpu_throttle_events"):
        out.append(f"CPU thermally throttled {summary['cpu_throttle_events']} time(s)")
    if summary.get("throttled") and (summary.get("throttled_fraction") or 0) > GPU_THROTTLED:
        reasons = ", ".join(sorted(summary.get("throttle_reasons") or {})) or "unknown reason"
        out.append(f"a GPU slowed down in {summary['throttled_fraction']:.0%} of samples ({reasons})")
    others = summary.get("other_gpu_processes")
    if others:
        out.append(f"{others} other process(es) on the case's GPU(s) (NVML)")
    return out


def noise_warnings(result: CaseResult) -> list[str]:
    """Every noise finding for one run (one result): busy machine, clocks, throttling, bimodal steps.
    A run with any finding is *noisy*: compare leaves it out of a verdict, or calls the verdict
    inconclusive when too few quiet runs remain."""
    if result.status != "ok":
        return []
    summary = (result.telemetry or {}).get("summary") or {}
    return telemetry_warnings(summary, summary.get("cpu_count")) + step_warnings(result)


def noise_line(runs: list[tuple[str, list[str]]]) -> str | None:
    """One line for one case over its runs, from ``(run name, findings)`` pairs; None when no run is noisy.

    ``noisy run: A; B`` for a single run; for several, each finding once with the runs it was seen in:
    ``2 of 3 runs noisy: A (run 1, run 3); B (run 3)``."""
    noisy = [(name, findings) for name, findings in runs if findings]
    if not noisy:
        return None
    if len(runs) == 1:
        return "noisy run: " + "; ".join(noisy[0][1])
    where: dict[str, list[str]] = {}
    for name, findings in noisy:
        for finding in findings:
            where.setdefault(finding, []).append(name)
    return (f"{len(noisy)} of {len(runs)} runs noisy: "
            + "; ".join(f"{finding} ({', '.join(names)})" for finding, names in where.items()))


def case_noise_lines(results: list[CaseResult]) -> list[tuple[str, str]]:
    """(case, line) for every case of one result set with a noisy run, in the order the cases ran."""
    by_case: dict[str, list[CaseResult]] = {}
    for result in results:
        by_case.setdefault(result.case, []).append(result)
    out = []
    for case, runs in by_case.items():
        line = noise_line([(f"run {r.repeat + 1}", noise_warnings(r)) for r in runs if r.status == "ok"])
        if line:
            out.append((case, line))
    return out
