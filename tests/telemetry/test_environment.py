"""The environment record: plugin distributions, libraries, GPU settings (NVML), CPU governor; compare
warns when a setting that changes measurements differs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from dlrmbench.host import current_host
from dlrmbench.plugins import get_registry
from dlrmbench.results.compare import environment_differences
from dlrmbench.results.load import ResultSet
from dlrmbench.results.schema import RunManifest
from dlrmbench.telemetry.environment import cpu_frequency_policy, fingerprint, gpu_settings


class FakeNvml:
    NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1

    def __init__(self, power_mw: int) -> None:
        self.power_mw, self.shut = power_mw, False

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: self.shut = True
    def nvmlDeviceGetCount(self) -> int: return 2
    def nvmlDeviceGetHandleByIndex(self, i: int) -> int: return i
    def nvmlDeviceGetApplicationsClock(self, h: int, kind: int) -> int: return 1410 if kind == 0 else 1215
    def nvmlDeviceGetMaxClockInfo(self, h: int, kind: int) -> int: return 1980 if kind == 0 else 1593
    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int: return self.power_mw
    def nvmlDeviceGetEccMode(self, h: int) -> tuple[int, int]: return (1, 1)
    def nvmlDeviceGetMigMode(self, h: int) -> tuple[int, int]: raise RuntimeError("not supported")
    def nvmlDeviceGetPersistenceMode(self, h: int) -> int: return 1


def test_gpu_settings_from_nvml_and_unreadable_fields_as_none() -> None:
    fake = FakeNvml(400_000)
    (first, second) = gpu_settings(fake)
    assert first == {"index": 0, "application_sm_clock_mhz": 1410, "application_mem_clock_mhz": 1215,
                     "max_sm_clock_mhz": 1980, "max_mem_clock_mhz": 1593, "power_limit_w": 400.0, "ecc": True,
                     "mig": None, "persistence": True}
    assert second["index"] == 1 and fake.shut
    assert gpu_settings(SimpleNamespace(nvmlInit=lambda: 1 / 0)) == []  # no NVML: nothing, no error


def test_cpu_governor_and_turbo_from_sysfs(tmp_path: Path) -> None:
    for cpu, governor in (("cpu0", "performance"), ("cpu1", "powersave")):
        (tmp_path / cpu / "cpufreq").mkdir(parents=True)
        (tmp_path / cpu / "cpufreq" / "scaling_governor").write_text(governor + "\n")
    (tmp_path / "intel_pstate").mkdir()
    (tmp_path / "intel_pstate" / "no_turbo").write_text("1\n")
    assert cpu_frequency_policy(tmp_path) == {"cpu_governor": "performance, powersave", "cpu_turbo": False}
    assert cpu_frequency_policy(tmp_path / "none") == {"cpu_governor": None, "cpu_turbo": None}


def test_fingerprint_names_every_plugin_distribution() -> None:
    env = fingerprint(current_host(), plugins=get_registry().plugin_sources)
    assert env["plugins"]["eager"].startswith("dlrmbench ") and "synthetic" in env["plugins"]
    assert set(env["libraries"]) == {"cudnn", "nccl"} and "cpu_governor" in env


def _set(label: str, env: dict) -> ResultSet:
    manifest = RunManifest(suite="s", suite_file="s.yaml", suite_sha256="0", run_id=label, dlrmbench_version="0",
                           command=[], started_at="2026-01-01T00:00:00+00:00", environment=env)
    return ResultSet(path=Path(label), manifest=manifest)


def test_compare_lists_power_limit_governor_and_plugin_differences() -> None:
    a = {"gpu_settings": gpu_settings(FakeNvml(400_000)), "cpu_governor": "performance",
         "plugins": {"eager": "dlrmbench 0.1.0"}, "libraries": {"cudnn": "9.1", "nccl": "2.21"}}
    b = {**a, "gpu_settings": gpu_settings(FakeNvml(300_000)), "cpu_governor": "powersave",
         "plugins": {"eager": "dlrmbench 0.2.0"}}
    diffs = {d.key: d.values for d in environment_differences([_set("a", a), _set("b", b)])}
    assert diffs["GPU 0 power_limit_w"] == {"s/a": "400.0", "s/b": "300.0"}
    assert diffs["cpu governor"] == {"s/a": "performance", "s/b": "powersave"}
    assert diffs["plugin eager"] == {"s/a": "dlrmbench 0.1.0", "s/b": "dlrmbench 0.2.0"}
    assert "cudnn" not in diffs
