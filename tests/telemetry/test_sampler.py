"""The telemetry sampler: NVML through a fake module, the host through the real /proc."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dlrmbench.config.schema import Case
from dlrmbench.host import Gpu, Host
from dlrmbench.results.schema import CaseResult
from dlrmbench.telemetry import summary as S
from dlrmbench.telemetry.nvml import decode_reasons
from dlrmbench.telemetry.sampler import CaseTelemetry, Sampler



TWO_GPUS = Host(gpus=(Gpu(0, "NVIDIA H100 80GB HBM3", 80 * 2**30, (9, 0)), Gpu(1, "NVIDIA H100 80GB HBM3", 80 * 2**30, (9, 0))))


def gpu_case(**extra) -> Case:
    return Case(name="c", gpus=2, batch_size=1000, telemetry={"interval_ms": 20}, **extra)


def result_for(case: Case) -> CaseResult:
    return CaseResult(suite="s", run_id="r", case=case.name, status="ok", config=case.model_dump(mode="json"))


def test_energy_per_sample_from_counter_deltas_over_the_progress_window() -> None:
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    gpus = [{"energy_j": [100 + 300 * x for x in t], "power_w": [300.0] * 5},
            {"energy_j": [7 + 200 * x for x in t], "power_w": [200.0] * 5}]
    marks = [{"t_s": 0.5, "event": "start", "step": None},
             {"t_s": 1.5, "event": "progress", "step": 10, "batch_size": None},
             {"t_s": 3.5, "event": "progress", "step": 30, "batch_size": None}]
    out = S.energy_summary({"t_s": t, "gpus": gpus}, marks, default_batch=1000, total_samples=None, interval_s=0.1)
    # 2 s x (300 + 200) W = 1000 J over 20 steps x 1000 samples
    assert out["energy_j"] == pytest.approx(1000.0)
    assert out["energy_samples"] == 20_000
    assert out["energy_per_sample_j"] == pytest.approx(0.05)
    assert "board energy" in out["energy_note"] and "steady window" in out["energy_note"]


def test_energy_falls_back_to_integrated_power_and_to_the_whole_case() -> None:
    t = [0.0, 1.0, 2.0]
    gpus = [{"energy_j": [None, None, None], "power_w": [100.0, 200.0, 300.0]}]
    out = S.energy_summary({"t_s": t, "gpus": gpus}, [], default_batch=10, total_samples=40, interval_s=0.1)
    assert out["energy_j"] == pytest.approx(150 + 250)  # trapezoids
    assert out["energy_per_sample_j"] == pytest.approx(10.0)
    assert "integrated NVML power" in out["energy_note"] and "whole case" in out["energy_note"]


def test_throttle_reasons_are_decoded_and_idle_is_not_a_slowdown() -> None:
    assert decode_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    timeline = {"t_s": [0, 1, 2, 3], "gpus": [{"power_w": [1, 2, 3, 4], "throttle_mask": [0x1, 0x1, 0x4, 0x1 | 0x20],
                                               "memory_used_bytes": [1, 5, 3, 2], "sm_clock_mhz": [1] * 4,
                                               "gpu_util_pct": [1] * 4, "temperature_c": [50, 70, 60, 55]}]}
    out = S.gpu_summary(timeline)
    assert out["throttled"] and out["throttled_fraction"] == 0.5
    assert out["throttle_reasons"] == {"sw_power_cap": 0.25, "sw_thermal_slowdown": 0.25}
    assert out["peak_memory_bytes"] == 5 and out["peak_power_w"] == 4 and out["peak_temperature_c"] == 70
    idle = S.gpu_summary({**timeline, "gpus": [{**timeline["gpus"][0], "throttle_mask": [0x1] * 4}]})
    assert idle["throttled"] is False and idle["throttle_reasons"] == {}


def test_downsampling_averages_and_keeps_short_throttles() -> None:
    n = 100
    timeline = {"t_s": [float(i) for i in range(n)],
                "gpus": [{"index": 0, "name": "x", "power_w": [float(i) for i in range(n)],
                          "energy_j": [float(i) for i in range(n)], "throttle_mask": [0x8 if i == 7 else 0 for i in range(n)]}],
                "host": {"cpu_pct": [1.0] * n}}
    out = S.downsample(timeline, 10)
    assert len(out["t_s"]) == 10 and out["downsampled_from"] == n
    assert out["gpus"][0]["power_w"][0] == pytest.approx(4.5)
    assert out["gpus"][0]["throttle_mask"][0] == 0x8 and out["gpus"][0]["energy_j"][0] == 9.0


def test_case_telemetry_with_fake_nvml_records_gpus_energy_and_throttling(monkeypatch, fake_nvml) -> None:
    fake = fake_nvml(watts=300.0)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    case = gpu_case()
    telemetry = CaseTelemetry(case, TWO_GPUS)
    seen = []
    with telemetry:
        on_event = telemetry.observe(seen.append)
        on_event({"event": "start", "total_steps": 60})
        time.sleep(0.1)
        on_event({"event": "progress", "step": 20})
        time.sleep(0.3)
        on_event({"event": "progress", "step": 60})
        time.sleep(0.05)
    assert len(seen) == 3  # the wrapped handler still gets every event
    result = result_for(case)
    telemetry.attach(result)
    t = result.telemetry
    assert t["gpu"]["recorded"] and t["gpu"]["reason"] is None
    assert [d["name"] for d in t["gpu"]["devices"]] == ["NVIDIA H100 80GB HBM3"] * 2
    assert t["samples"] >= 5
    progress = [m["t_s"] for m in t["marks"] if m["event"] == "progress"]
    expected = 2 * 300.0 * (progress[1] - progress[0]) / (40 * 1000)  # independent: power x window / samples
    assert t["summary"]["energy_per_sample_j"] == pytest.approx(expected, rel=0.02)
    assert result.metrics["energy_per_sample"].unit == "J/sample"
    assert "board energy" in result.metrics["energy_per_sample"].description
    assert t["summary"]["mean_power_w"] == pytest.approx(600.0)
    assert t["summary"]["peak_memory_bytes"] == 20 * 2**30
    assert t["summary"]["throttled"] is True and set(t["summary"]["throttle_reasons"]) == {"sw_power_cap"}
    assert t["timeline"]["gpus"][1]["temperature_c"][0] == 66
    assert fake.state["init"] == 1 and fake.state["shutdown"] == 1


def test_unsupported_nvml_queries_are_recorded_as_missing_not_errors(monkeypatch, fake_nvml) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(fail_reads=True))
    case = gpu_case()
    telemetry = CaseTelemetry(case, TWO_GPUS)
    with telemetry:
        time.sleep(0.06)
    result = result_for(case)
    telemetry.attach(result)
    assert result.telemetry["error"] is None
    assert set(result.telemetry["timeline"]["gpus"][0]["power_w"]) == {None}
    assert result.telemetry["summary"]["energy_per_sample_j"] is None
    assert "energy_per_sample" not in result.metrics


def test_without_nvml_the_host_is_recorded_and_the_reason_given() -> None:
    """Real path on this machine: NVML is missing (or the case uses no GPU); the host is still sampled."""
    case = gpu_case()
    sampler = Sampler(0.02, [0])
    if sampler.gpu is not None:
        sampler.gpu.close()
        pytest.skip("this machine has a working NVML; the fake-NVML tests cover the GPU path")
    assert sampler.gpu_reason.startswith(("NVML unavailable", "nvidia-ml-py"))
    telemetry = CaseTelemetry(case, TWO_GPUS)
    child = None
    with telemetry:
        child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<0.6: pass"])
        child.wait()
    result = result_for(case)
    telemetry.attach(result)
    t = result.telemetry
    assert t["gpu"]["recorded"] is False and t["gpu"]["reason"] == sampler.gpu_reason
    assert t["host"]["recorded"] is True
    host = t["timeline"]["host"]
    assert max(v for v in host["worker_processes"]) >= 1  # the busy child (other tests may leave more)
    assert max(v for v in host["worker_rss_bytes"]) > 1_000_000
    assert max(v for v in host["worker_cpu_pct"] if v is not None) > 10  # the busy child, seen through /proc
    assert t["summary"]["host_peak_memory_bytes"] > 0
    assert "energy_per_sample" not in result.metrics


def test_telemetry_can_be_switched_off_per_case() -> None:
    case = Case(name="c", device="cpu", telemetry={"enabled": False})
    telemetry = CaseTelemetry(case, Host())
    with telemetry:
        pass
    result = result_for(case)
    telemetry.attach(result)
    assert result.telemetry == {"enabled": False}


def test_a_failing_reader_stops_sampling_without_failing(monkeypatch) -> None:
    sampler = Sampler(0.01, [])
    calls = {"n": 0}
    real = sampler.host.read

    def flaky(now: float):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError("proc vanished")
        return real(now)

    monkeypatch.setattr(sampler.host, "read", flaky)
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    assert sampler.error and "proc vanished" in sampler.error


def test_a_failing_summary_is_recorded_not_raised(monkeypatch) -> None:
    case = Case(name="c", device="cpu", telemetry={"interval_ms": 20})
    telemetry = CaseTelemetry(case, Host())
    with telemetry:
        time.sleep(0.05)
    monkeypatch.setattr(S, "host_summary", lambda timeline, window=None: 1 / 0)
    result = result_for(case)
    telemetry.attach(result)
    assert result.status == "ok"
    assert result.telemetry["error"] == "telemetry summary failed: ZeroDivisionError: division by zero"
