"""Per-case telemetry figures from a sampled timeline: board energy per sample, power, memory, throttling.

Energy comes from NVML's energy counter (deltas, summed over the case's GPUs), not from integrating
power samples (the power sensor averages over ~1 s and samples part-time); it is *board* energy, not
wall energy. The window is the steady part of the case: from the first to the last progress event
the worker reported, divided by the samples those events account for. When that window is too short
(under two sampling periods), the whole case is used and labelled so.
"""

from __future__ import annotations

import math
from typing import Any

from dlrmbench.telemetry.nvml import SLOWDOWN_BITS, decode_reasons


def interpolate(times: list[float], values: list[float], t: float) -> float:
    """Linear interpolation of ``values`` at time ``t`` (clamped to the ends)."""
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    lo, hi = 0, len(times) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if times[mid] <= t:
            lo = mid
        else:
            hi = mid
    span = times[hi] - times[lo]
    w = (t - times[lo]) / span if span > 0 else 0.0
    return values[lo] + (values[hi] - values[lo]) * w


def work_window(marks: list[dict[str, Any]], default_batch: int) -> tuple[float, float, int] | None:
    """(start, end, samples) between the first and last progress mark, or None with fewer than two."""
    progress = [m for m in marks if m.get("event") == "progress" and m.get("step") is not None]
    if len(progress) < 2:
        return None
    samples = 0
    for before, after in zip(progress, progress[1:]):
        steps = max(0, int(after["step"]) - int(before["step"]))
        samples += steps * int(after.get("batch_size") or default_batch)
    return progress[0]["t_s"], progress[-1]["t_s"], samples


def total_energy(t: list[float], per_gpu_energy: list[list[float | None]], start: float, end: float) -> float | None:
    """Joules the GPUs' energy counters advanced between ``start`` and ``end`` (None if any counter is missing)."""
    total = 0.0
    for series in per_gpu_energy:
        points = [(ti, e) for ti, e in zip(t, series) if e is not None]
        if len(points) < 2:
            return None
        times, values = [p[0] for p in points], [p[1] for p in points]
        total += interpolate(times, values, end) - interpolate(times, values, start)
    return total


def integrated_power(t: list[float], per_gpu_power: list[list[float | None]], start: float, end: float) -> float | None:
    """Joules from the trapezoid rule over power samples inside [start, end] (fallback without the counter)."""
    total, any_points = 0.0, False
    for series in per_gpu_power:
        points = [(ti, p) for ti, p in zip(t, series) if p is not None and start <= ti <= end]
        for (t0, p0), (t1, p1) in zip(points, points[1:]):
            total += (p0 + p1) / 2 * (t1 - t0)
            any_points = True
    return total if any_points else None


def _values(series: list[Any]) -> list[float]:
    return [v for v in series if v is not None and not (isinstance(v, float) and math.isnan(v))]


def energy_summary(timeline: dict[str, Any], marks: list[dict[str, Any]], default_batch: int,
                   total_samples: int | None, interval_s: float) -> dict[str, Any]:
    """Board energy per sample and how it was measured (window, method)."""
    t = timeline["t_s"]
    gpus = timeline["gpus"]
    if not gpus or len(t) < 2:
        return {"energy_per_sample_j": None, "energy_note": "no GPU samples"}
    window = work_window(marks, default_batch)
    scope = "steady window (first to last progress report)"
    if window is None or window[1] - window[0] < 2 * interval_s or window[2] <= 0:
        if not total_samples:
            return {"energy_per_sample_j": None, "energy_note": "no samples counted in the sampled window"}
        window = (t[0], t[-1], total_samples)
        scope = "whole case, setup included (the steady window was shorter than two sampling periods)"
    start, end, samples = window
    energy = total_energy(t, [g["energy_j"] for g in gpus], start, end)
    method = "NVML energy counter delta"
    if energy is None:
        energy = integrated_power(t, [g["power_w"] for g in gpus], start, end)
        method = "integrated NVML power samples (no energy counter on this GPU)"
    if energy is None:
        return {"energy_per_sample_j": None, "energy_note": "neither energy counter nor power readings"}
    return {
        "energy_j": energy, "energy_samples": samples, "energy_window_s": end - start,
        "energy_per_sample_j": energy / samples if samples else None,
        "energy_note": f"board energy of {len(gpus)} GPU(s), {method}, {scope}",
    }


def gpu_summary(timeline: dict[str, Any]) -> dict[str, Any]:
    """Mean and peak power (summed over GPUs), peak memory, and whether (and why) a GPU slowed down."""
    gpus = timeline["gpus"]
    n = len(timeline["t_s"])
    summed = []
    for i in range(n):
        values = [g["power_w"][i] for g in gpus if g["power_w"][i] is not None]
        if values:
            summed.append(sum(values))
    reasons: dict[str, int] = {}
    throttled_samples = 0
    for i in range(n):
        hit = False
        for g in gpus:
            mask = g["throttle_mask"][i]
            if mask and mask & SLOWDOWN_BITS:
                hit = True
                for name in decode_reasons(mask & SLOWDOWN_BITS):
                    reasons[name] = reasons.get(name, 0) + 1
        throttled_samples += hit
    memory = [_values(g["memory_used_bytes"]) for g in gpus]
    return {
        "mean_power_w": sum(summed) / len(summed) if summed else None,
        "peak_power_w": max(summed) if summed else None,
        "peak_memory_bytes": max((max(m) for m in memory if m), default=None),
        "per_gpu_peak_memory_bytes": [max(m) if m else None for m in memory],
        "mean_sm_clock_mhz": _mean([v for g in gpus for v in _values(g["sm_clock_mhz"])]),
        "mean_gpu_util_pct": _mean([v for g in gpus for v in _values(g["gpu_util_pct"])]),
        "peak_temperature_c": max((v for g in gpus for v in _values(g["temperature_c"])), default=None),
        "other_gpu_processes": max((v for g in gpus for v in _values(g.get("other_processes", []))), default=None),
        "throttled": throttled_samples > 0,
        "throttled_fraction": throttled_samples / n if n else 0.0,
        "throttle_reasons": {k: v / n for k, v in sorted(reasons.items())},
    }


def host_summary(timeline: dict[str, Any], window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Host CPU and memory; the noise figures (other processes' CPU, CPU clock) over ``window`` (the
    measured window, seconds since start) when given, else over the whole case."""
    host = timeline.get("host") or {}
    if not host:
        return {}
    import os

    t = timeline.get("t_s") or []
    inside = [i for i, ti in enumerate(t) if window is None or window[0] <= ti <= window[1]]
    if len(inside) < 2:
        inside = list(range(len(t)))

    def in_window(key: str) -> list[float]:
        series = host.get(key, [])
        return _values([series[i] for i in inside if i < len(series)])

    other = in_window("other_cpu_cores")
    clocks = in_window("cpu_mhz")
    throttle = _values(host.get("cpu_throttle_count", []))
    return {
        "host_mean_cpu_pct": _mean(_values(host.get("cpu_pct", []))),
        "host_peak_memory_bytes": max(_values(host.get("memory_used_bytes", [])), default=None),
        "worker_mean_cpu_pct": _mean(_values(host.get("worker_cpu_pct", []))),
        "worker_peak_rss_bytes": max(_values(host.get("worker_rss_bytes", [])), default=None),
        "cpu_count": os.cpu_count(),
        "other_cpu_cores_mean": _mean(other),
        "other_cpu_cores_peak": max(other, default=None),
        "cpu_mhz_min": min(clocks, default=None),
        "cpu_mhz_max": max(clocks, default=None),
        "cpu_throttle_events": int(max(throttle) - min(throttle)) if throttle else None,
        "noise_window": "measured window" if window is not None and len(inside) < len(t) else "whole case",
    }


def window_steps(marks: list[dict[str, Any]]) -> int | None:
    """Training steps between the first and the last progress mark (the window of :func:`work_window`)."""
    steps = [int(m["step"]) for m in marks if m.get("event") == "progress" and m.get("step") is not None]
    return steps[-1] - steps[0] if len(steps) >= 2 else None


def fault_summary(timeline: dict[str, Any], window: tuple[float, float] | None,
                  steps: int | None = None) -> dict[str, Any]:
    """The worker tree's page faults, CPU time and its share spent in the kernel over ``window`` (the measured
    window; else the whole case, labelled so): the running totals interpolated at the window's ends, divided
    by ``steps`` (the steps in the window) for per-step figures. CPU time a step, unlike a step's wall time,
    hardly moves when other processes compete for the cores."""
    host = timeline.get("host") or {}
    t = timeline.get("t_s") or []
    if len(t) < 2 or "worker_minor_faults" not in host:
        return {}
    scope = "measured window"
    if window is None or window[1] <= window[0]:
        window, steps, scope = (t[0], t[-1]), None, "whole case"

    def delta(key: str) -> float | None:
        points = [(ti, v) for ti, v in zip(t, host.get(key, [])) if v is not None]
        if len(points) < 2:
            return None
        times, values = [p[0] for p in points], [p[1] for p in points]
        return interpolate(times, values, window[1]) - interpolate(times, values, window[0])

    minor, major = delta("worker_minor_faults"), delta("worker_major_faults")
    kernel, cpu = delta("worker_system_cpu_s"), delta("worker_cpu_s")
    return {
        "page_faults_minor": round(minor) if minor is not None else None,
        "page_faults_major": round(major) if major is not None else None,
        "page_faults_minor_per_step": minor / steps if minor is not None and steps else None,
        "page_faults_per_s": (minor + (major or 0)) / (window[1] - window[0]) if minor is not None else None,
        "worker_kernel_cpu_share": kernel / cpu if kernel is not None and cpu else None,
        "worker_cpu_s_per_step": cpu / steps if cpu is not None and steps else None,
        "page_fault_window": scope,
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def downsample(timeline: dict[str, Any], max_points: int) -> dict[str, Any]:
    """At most ``max_points`` points: consecutive samples averaged in equal buckets (peaks use the full data).

    The throttle mask is OR-ed over a bucket so a short slowdown stays visible."""
    n = len(timeline["t_s"])
    if n <= max_points:
        return timeline
    edges = [round(i * n / max_points) for i in range(max_points + 1)]

    def reduce(series: list[Any], how: str = "mean") -> list[Any]:
        out = []
        for a, b in zip(edges, edges[1:]):
            chunk = [v for v in series[a:b] if v is not None]
            if not chunk:
                out.append(None)
            elif how == "or":
                mask = 0
                for v in chunk:
                    mask |= int(v)
                out.append(mask)
            elif how == "last":
                out.append(chunk[-1])
            else:
                out.append(sum(chunk) / len(chunk))
        return out

    gpus = []
    for g in timeline["gpus"]:
        reduced = {k: v for k, v in g.items() if not isinstance(v, list)}
        for key, series in g.items():
            if isinstance(series, list):
                how = "or" if key == "throttle_mask" else ("last" if key == "energy_j" else "mean")
                reduced[key] = reduce(series, how)
        gpus.append(reduced)
    host = {k: reduce(v) for k, v in (timeline.get("host") or {}).items()}
    return {"t_s": reduce(timeline["t_s"]), "gpus": gpus, "host": host, "downsampled_from": n}
