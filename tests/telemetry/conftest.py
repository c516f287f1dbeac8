"""Fixtures: a fake ``pynvml`` module: GPUs drawing constant power, with an energy counter that follows the clock."""

from __future__ import annotations

import time
import types
from typing import Any


class FakeNvmlError(Exception):
    pass


def make_fake_nvml(watts: float = 300.0, names: tuple[str, ...] = ("NVIDIA H100 80GB HBM3",) * 2,
                   throttle: int = 0x4 | 0x1, fail_reads: bool = False, clock=time.monotonic) -> Any:
    """A module object with the NVML calls the sampler uses. Energy (mJ) = watts * 1000 * seconds."""
    start = clock()
    state = {"init": 0, "shutdown": 0, "calls": 0}
    m = types.ModuleType("pynvml")
    m.NVMLError = FakeNvmlError
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_TEMPERATURE_GPU = 1, 2, 0
    m.state = state

    def check() -> None:
        state["calls"] += 1
        if fail_reads:
            raise FakeNvmlError("Not Supported")

    def init() -> None:
        state["init"] += 1

    def shutdown() -> None:
        state["shutdown"] += 1

    m.nvmlInit, m.nvmlShutdown = init, shutdown
    m.nvmlDeviceGetCount = lambda: len(names)
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetName = lambda h: names[h].encode()

    def power(h: int) -> int:
        check()
        return int(watts * 1000)

    def energy(h: int) -> int:
        check()
        return int(5_000_000 + watts * 1000 * (clock() - start))

    def clock_info(h: int, kind: int) -> int:
        check()
        return 1980 if kind == 1 else 2619

    def util(h: int) -> Any:
        check()
        return types.SimpleNamespace(gpu=97, memory=41)

    def memory(h: int) -> Any:
        check()
        return types.SimpleNamespace(used=(h + 1) * 10 * 2**30, total=80 * 2**30, free=0)

    def temperature(h: int, sensor: int) -> int:
        check()
        return 65 + h

    def reasons(h: int) -> int:
        check()
        return throttle if h == 1 else 0x1

    m.nvmlDeviceGetPowerUsage = power
    m.nvmlDeviceGetTotalEnergyConsumption = energy
    m.nvmlDeviceGetClockInfo = clock_info
    m.nvmlDeviceGetUtilizationRates = util
    m.nvmlDeviceGetMemoryInfo = memory
    m.nvmlDeviceGetTemperature = temperature
    m.nvmlDeviceGetCurrentClocksEventReasons = reasons
    return m


import pytest  # noqa: E402


@pytest.fixture
def fake_nvml():
    """The factory :func:`make_fake_nvml`."""
    return make_fake_nvml
