"""The telemetry sampler: a thread in the parent process that reads the telemetry sources while a case runs.

The sources are telemetry plugins (``register_telemetry``): the device source that declares the case's
device type (NVML for ``cuda``) and the host source (/proc).

Per case, :class:`CaseTelemetry` starts a :class:`Sampler` (default every 100 ms, ``case.telemetry``),
notes when the worker's progress events arrive (to find the steady window for energy per sample),
and after the case attaches the timeline and its summary to the result. Telemetry never fails a
case: without NVML it records the host only and says why; an error while sampling ends sampling
and is recorded as the reason.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from dlrmbench.config.schema import Case
from dlrmbench.host import Host, current_host
from dlrmbench.results.metrics import make
from dlrmbench.results.schema import CaseResult
from dlrmbench.telemetry import summary as S

GPU_FIELDS = ("power_w", "energy_j", "sm_clock_mhz", "mem_clock_mhz", "gpu_util_pct", "mem_util_pct",
              "memory_used_bytes", "temperature_c", "throttle_mask", "other_processes")
HOST_FIELDS = ("cpu_pct", "memory_used_bytes", "worker_cpu_pct", "worker_rss_bytes", "worker_processes",
               "other_cpu_cores", "cpu_mhz", "cpu_throttle_count", "worker_minor_faults", "worker_major_faults",
               "worker_system_cpu_s", "worker_cpu_s")


Opener = Callable[[Any], tuple[Any, "str | None"]]


def telemetry_sources(device: str) -> tuple[Opener | None, str | None, Opener | None]:
    """The openers of the device source that reads ``device`` (first available by name), why there is none,
    and of the host source, from the telemetry plugins (this process's registry: the parent of the worker)."""
    from dlrmbench.host import current_host
    from dlrmbench.plugin_api import BuildContext, TelemetrySource, missing_methods
    from dlrmbench.plugins import get_registry

    specs = get_registry().specs["telemetry"].values()
    device_open, why, host_open = None, f"no telemetry plugin reads {device} devices", None
    for spec in sorted(specs, key=lambda s: s.name):
        if spec.devices is not None and device not in spec.devices:
            continue
        reason = spec.availability(current_host())
        if reason:
            why = f"telemetry {spec.name}: {reason}" if spec.devices else why
            continue
        source = spec.build(BuildContext(None, spec.options(), None))
        missing = missing_methods(source, TelemetrySource)
        if missing:  # checked against its protocol when built, as every plugin is
            why = f"telemetry {spec.name}: its factory returned no {', '.join(missing)}"
            continue
        opener = source.open
        if spec.devices is None and host_open is None:
            host_open = opener
        elif spec.devices is not None and device_open is None:
            device_open, why = opener, None
    return device_open, why, host_open


class Sampler:
    """Reads every ``interval_s`` on its own thread into a columnar timeline (seconds since start).

    ``device`` picks the device source (the telemetry plugin that reads that device type); ``gpu_indices``
    are the devices it reads (none: the host only)."""

    def __init__(self, interval_s: float, gpu_indices: list[int], root_pid: int | None = None,
                 clock: Callable[[], float] = time.monotonic, device: str = "cuda") -> None:
        self.interval_s = interval_s
        self.clock = clock
        device_open, device_reason, host_open = telemetry_sources(device)
        if not gpu_indices:
            self.gpu, self.gpu_reason = None, "the case uses no GPU"
        elif device_open is None:
            self.gpu, self.gpu_reason = None, device_reason
        else:
            self.gpu, self.gpu_reason = device_open(gpu_indices)
        if host_open is None:
            self.host, self.host_reason = None, "no telemetry plugin reads the host"
        else:
            self.host, self.host_reason = host_open(root_pid)
        gpus = self.gpu.indices if self.gpu else []
        names = self.gpu.names if self.gpu else []
        self.timeline: dict[str, Any] = {
            "t_s": [],
            "gpus": [{"index": i, "name": n, **{f: [] for f in GPU_FIELDS}} for i, n in zip(gpus, names)],
            "host": {f: [] for f in HOST_FIELDS} if self.host else {},
        }
        self.error: str | None = None
        self.t0 = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dlrmbench-telemetry", daemon=True)

    def start(self) -> "Sampler":
        self.t0 = self.clock()
        self.sample()
        self._thread.start()
        return self

    def sample(self) -> None:
        """Take one reading of every source."""
        now = self.clock()
        gpu = self.gpu.read() if self.gpu else []
        host = self.host.read(now) if self.host else None
        self.timeline["t_s"].append(now - self.t0)
        for reading in gpu:
            reading["other_processes"] = self._other_gpu_processes(reading.pop("pids", None))
        for series, reading in zip(self.timeline["gpus"], gpu):
            for f in GPU_FIELDS:
                series[f].append(reading.get(f))
        if host is not None:
            for f in HOST_FIELDS:
                self.timeline["host"][f].append(host.get(f))

    def _other_gpu_processes(self, pids: list[int] | None) -> int | None:
        """Processes on a GPU that are neither the worker tree nor this process. None when unknown: no
        pid list, no host reader, or none of our pids visible (NVML in another pid namespace)."""
        if pids is None or self.host is None:
            return None
        import os

        ours = set(self.host.tree) | {os.getpid()}
        if not ours & set(pids):
            return None
        return len(set(pids) - ours)

    def _loop(self) -> None:
        next_at = self.t0 + self.interval_s
        while not self._stop.wait(max(0.0, next_at - self.clock())):
            try:
                self.sample()
            except Exception as exc:  # never let telemetry take the case down
                self.error = f"sampling stopped: {type(exc).__name__}: {exc}"
                return
            next_at += self.interval_s
            if next_at < self.clock():  # fell behind (suspended, overloaded): skip, don't burst
                next_at = self.clock() + self.interval_s

    def stop(self) -> dict[str, Any]:
        """Stop the thread, take a final reading, release NVML, and return the timeline."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.error is None:
            try:
                self.sample()
            except Exception as exc:
                self.error = f"final reading failed: {type(exc).__name__}: {exc}"
        if self.gpu:
            self.gpu.close()
        return self.timeline


def case_gpu_indices(case: Case, host: Host) -> list[int]:
    """The indices of the accelerators a case runs on (the first ``case.gpus`` visible ones); none for a
    device type that is not indexed (the CPU: the host source reads it)."""
    from dlrmbench.devices import device_of

    if not device_of(case.device).indexed:
        return []
    return [g.index for g in host.gpus[: case.gpus]]


class CaseTelemetry:
    """Telemetry around one case: ``with CaseTelemetry(case) as tm: run(..., tm.observe(handler))``."""

    def __init__(self, case: Case, host: Host | None = None) -> None:
        self.case = case
        self.host = host or current_host()
        self.sampler: Sampler | None = None
        self.marks: list[dict[str, Any]] = []
        self.timeline: dict[str, Any] | None = None
        self.setup_error: str | None = None

    def __enter__(self) -> "CaseTelemetry":
        if self.case.telemetry.enabled:
            try:
                self.sampler = Sampler(self.case.telemetry.interval_ms / 1000.0,
                                       case_gpu_indices(self.case, self.host), device=self.case.device).start()
            except Exception as exc:
                self.setup_error = f"telemetry could not start: {type(exc).__name__}: {exc}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sampler is not None:
            self.timeline = self.sampler.stop()

    def observe(self, handler: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """``handler`` wrapped to note when each start/progress/result event arrives."""

        def on_event(event: dict[str, Any]) -> None:
            if self.sampler is not None and event.get("event") in ("start", "progress", "evaluation", "result"):
                self.marks.append({"t_s": self.sampler.clock() - self.sampler.t0, "event": event.get("event"),
                                   "step": event.get("step"), "batch_size": event.get("batch_size")})
            handler(event)

        return on_event

    def attach(self, result: CaseResult) -> None:
        """Put the timeline, its summary and the energy/power metrics on ``result`` (keeping what the worker
        reported there: a hybrid-parallel case's ranks, placement or sharding plan); a failure here is
        recorded in ``result.telemetry["error"]`` and never fails the case."""
        reported = dict(result.telemetry)
        try:
            self._attach(result)
        except Exception as exc:
            result.telemetry = {"enabled": True, "error": f"telemetry summary failed: {type(exc).__name__}: {exc}"}
        result.telemetry = {**reported, **result.telemetry}

    def _attach(self, result: CaseResult) -> None:
        if not self.case.telemetry.enabled:
            result.telemetry = {"enabled": False}
            return
        if self.sampler is None or self.timeline is None:
            result.telemetry = {"enabled": True, "error": self.setup_error or "telemetry did not run"}
            return
        sampler, timeline = self.sampler, self.timeline
        figures: dict[str, Any] = {}
        if timeline["gpus"]:
            figures.update(S.gpu_summary(timeline))
            figures.update(S.energy_summary(timeline, self.marks, self.case.batch_size,
                                            _samples_processed(result), sampler.interval_s))
        window = S.work_window(self.marks, self.case.batch_size)
        figures.update(S.host_summary(timeline, (window[0], window[1]) if window else None))
        figures.update(S.fault_summary(timeline, (window[0], window[1]) if window else None,
                                       S.window_steps(self.marks)))
        result.telemetry = {
            "enabled": True,
            "interval_ms": self.case.telemetry.interval_ms,
            "samples": len(timeline["t_s"]),
            "gpu": {"recorded": bool(timeline["gpus"]), "reason": sampler.gpu_reason,
                    "devices": [{"index": g["index"], "name": g["name"]} for g in timeline["gpus"]]},
            "host": {"recorded": bool(timeline["host"]), "reason": sampler.host_reason},
            "error": sampler.error,
            "summary": figures,
            "marks": self.marks,
            "timeline": S.downsample(timeline, self.case.telemetry.max_points),
        }
        note = figures.get("energy_note", "")
        if figures.get("energy_per_sample_j") is not None:
            result.metrics["energy_per_sample"] = make("energy_per_sample", figures["energy_per_sample_j"],
                                                       description=note)
        if figures.get("mean_power_w") is not None:
            result.metrics["mean_power"] = make("mean_power", figures["mean_power_w"])
            result.metrics["peak_power"] = make("peak_power", figures["peak_power_w"])
        if figures.get("peak_memory_bytes") is not None:
            result.metrics["peak_gpu_memory"] = make("peak_gpu_memory", figures["peak_memory_bytes"] / 2**30)


def _samples_processed(result: CaseResult) -> int | None:
    """Samples the case processed in total (for the whole-case energy fallback)."""
    steps = result.value("train_steps")
    if steps:
        return int(steps * int(result.config.get("batch_size", 0)))
    total = 0
    for record in result.inference:
        cfg = result.config.get("inference") or {}
        total += int(record.get("batch_size", 0)) * int(cfg.get("steps", 0) + cfg.get("warmup_steps", 0)) * 2
    return total or None
