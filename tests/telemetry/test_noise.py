"""Noise warnings from a result alone, and the figures they rest on: other processes' CPU from /proc,
other processes on a GPU from NVML pids."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from dlrmbench.results.noise import noise_warnings, step_warnings, telemetry_warnings
from dlrmbench.results.schema import CaseResult
from dlrmbench.telemetry.hostproc import HostReader, cpu_clock_mhz
from dlrmbench.telemetry.sampler import Sampler
from dlrmbench.telemetry.summary import host_summary


def _result(step_times: list[float], summary: dict | None = None) -> CaseResult:
    return CaseResult(suite="s", run_id="r", case="c", status="ok", config={"benchmark_warmup_steps": 2},
                      step_times_s=step_times, telemetry={"summary": summary or {}})


def test_bimodal_steps_warn_and_steady_steps_do_not() -> None:
    steady = [1.0, 1.0] + [0.010, 0.011, 0.0105] * 20  # the 1 s warm-up steps are not measured
    assert step_warnings(_result(steady)) == []
    bimodal = [0.010] * 40 + [0.100] * 20
    (warning,) = step_warnings(_result(bimodal))
    # (38 x 10 + 20 x 100) / 58 ms vs 10 ms
    assert warning == "train steps bimodal: mean 310% above p50 (some steps were much slower than the median)"
    fast = [0.100] * 40 + [0.010] * 20  # a third of the steps ten times faster: the mean falls below the median
    (warning,) = step_warnings(_result(fast))
    assert warning == "train steps bimodal: mean 31% below p50 (some steps were much faster than the median)"


def test_telemetry_thresholds() -> None:
    quiet = {"other_cpu_cores_mean": 0.2, "cpu_mhz_min": 2900, "cpu_mhz_max": 3000, "cpu_throttle_events": 0,
             "throttled": True, "throttled_fraction": 0.02, "other_gpu_processes": 0}
    assert telemetry_warnings(quiet) == []
    busy = {**quiet, "other_cpu_cores_mean": 1.4, "other_cpu_cores_peak": 2.0, "cpu_mhz_min": 1200,
            "cpu_throttle_events": 3, "throttled_fraction": 0.3, "throttle_reasons": {"hw_thermal": 0.3},
            "other_gpu_processes": 2}
    warnings = telemetry_warnings(busy, cpu_count=2)
    assert warnings == [
        "other processes used 1.4 of 2 CPU cores on average (peak 2.0)",
        "CPU clock varied from 1,200 to 3,000 MHz (frequency scaling or throttling)",
        "CPU thermally throttled 3 time(s)",
        "a GPU slowed down in 30% of samples (hw_thermal)",
        "2 other process(es) on the case's GPU(s) (NVML)",
    ]
    failed = _result([0.01] * 50, busy).model_copy(update={"status": "failed"})
    assert noise_warnings(failed) == []  # a failed case has no figure to doubt


def _proc(root: Path, busy: int, idle: int, procs: dict[int, tuple[int, int]]) -> None:
    """A fake /proc: machine ticks and pid -> (ppid, cpu ticks)."""
    root.mkdir(exist_ok=True)
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n")
    (root / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 500 kB\n")
    for pid, (ppid, ticks) in procs.items():
        (root / str(pid)).mkdir(exist_ok=True)
        (root / str(pid) / "stat").write_text(f"{pid} (x y) S {ppid} 0 0 0 0 0 0 0 0 0 {ticks} 0 0 0 0 0 0 0 0 0 7 0\n")


def test_other_processes_cpu_is_machine_busy_time_minus_ours(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    _proc(proc, busy=0, idle=0, procs={10: (1, 0), 11: (10, 0), 99: (1, 0)})
    reader = HostReader(root_pid=10, proc=proc)
    reader._cpus, reader._tick_hz = 2, 100
    reader.read(0.0)
    # one second later: the machine was busy 150 ticks of 200 (1.5 cores); the worker (11) used 50 ticks and
    # dlrmbench itself (10) 10: other processes (99) used 0.9 core
    _proc(proc, busy=150, idle=50, procs={10: (1, 10), 11: (10, 50), 99: (1, 90)})
    reading = reader.read(1.0)
    assert abs(reading["other_cpu_cores"] - 0.9) < 1e-9 and abs(reading["worker_cpu_pct"] - 50.0) < 1e-9
    summary = host_summary({"t_s": [0.0, 1.0, 2.0, 3.0],  # the measured window holds the two middle readings
                            "host": {"other_cpu_cores": [None, 0.9, 0.9, 0.1],
                                     "cpu_mhz": [3000.0, 2000.0, 2500.0, 1000.0]}}, window=(0.5, 2.5))
    assert summary["other_cpu_cores_mean"] == 0.9 and summary["cpu_mhz_min"] == 2000.0
    assert summary["noise_window"] == "measured window"


def test_cpu_clock_from_cpuinfo_when_sysfs_has_none(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text("cpu MHz\t\t: 2000.0\ncpu MHz\t\t: 3000.0\n")
    assert cpu_clock_mhz(sys_cpu=tmp_path / "nosys", proc=tmp_path) == 2500.0


def test_other_gpu_processes_need_our_pids_to_be_visible() -> None:
    sampler = SimpleNamespace(host=SimpleNamespace(tree={500, 501}))
    count = Sampler._other_gpu_processes
    assert count(sampler, [500, 501, 777]) == 1   # our worker and one stranger
    assert count(sampler, [9000, 9001]) is None   # NVML in another pid namespace: unknown, not "2 others"
    assert count(sampler, None) is None
