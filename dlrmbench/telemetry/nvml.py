"""Per-GPU readings through NVML (nvidia-ml-py, imported as ``pynvml``): one call per quantity.

A quantity the GPU or driver does not support is recorded as None, never an error; the reason
NVML itself is unusable (no library, no driver) is returned so the sampler can say why it records
the host only.
"""

from __future__ import annotations

from typing import Any

# Clock-event ("throttle") reason bits (nvmlClocksEventReason*, formerly nvmlClocksThrottleReason*).
THROTTLE_BITS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clocks_setting",
}
# Reasons that mean the GPU ran slower than it could (idle, app clocks, sync boost and display do not).
SLOWDOWN_BITS = 0x4 | 0x8 | 0x20 | 0x40 | 0x80


def decode_reasons(mask: int | None) -> list[str]:
    """Names of the reason bits set in ``mask``."""
    if not mask:
        return []
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


class NvmlReader:
    """Reads the GPUs at ``indices`` (NVML indices). Use :meth:`open` to create one."""

    def __init__(self, nvml: Any, indices: list[int]) -> None:
        self._nvml = nvml
        self.indices = indices
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        self.names = []
        for handle in self._handles:
            name = self._try(nvml.nvmlDeviceGetName, handle)
            self.names.append(name.decode() if isinstance(name, bytes) else name)
        self._throttle = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)

    @classmethod
    def open(cls, indices: list[int]) -> tuple["NvmlReader | None", str | None]:
        """A reader for ``indices``, or (None, why NVML cannot be used)."""
        if not indices:
            return None, "the case uses no GPU"
        try:
            import pynvml
        except ImportError:
            return None, "nvidia-ml-py (pynvml) is not installed"
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded, ...
            return None, f"NVML unavailable: {type(exc).__name__}"
        try:
            return cls(pynvml, indices), None
        except Exception as exc:
            cls._shutdown(pynvml)
            return None, f"NVML could not open GPUs {indices}: {type(exc).__name__}: {exc}"

    @staticmethod
    def _shutdown(nvml: Any) -> None:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass

    def close(self) -> None:
        self._shutdown(self._nvml)

    @staticmethod
    def _try(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            return None

    def read(self) -> list[dict[str, Any]]:
        """One reading per GPU: power (W), energy counter (J), clocks (MHz), utilisation (%), memory (bytes),
        temperature (C) and the clock-event reason mask."""
        nv, t = self._nvml, self._try
        out = []
        for handle in self._handles:
            power_mw = t(nv.nvmlDeviceGetPowerUsage, handle)
            energy_mj = t(nv.nvmlDeviceGetTotalEnergyConsumption, handle)
            util = t(nv.nvmlDeviceGetUtilizationRates, handle)
            memory = t(nv.nvmlDeviceGetMemoryInfo, handle)
            out.append({
                "power_w": power_mw / 1000.0 if power_mw is not None else None,
                "energy_j": energy_mj / 1000.0 if energy_mj is not None else None,
                "sm_clock_mhz": t(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_SM),
                "mem_clock_mhz": t(nv.nvmlDeviceGetClockInfo, handle, nv.NVML_CLOCK_MEM),
                "gpu_util_pct": getattr(util, "gpu", None),
                "mem_util_pct": getattr(util, "memory", None),
                "memory_used_bytes": getattr(memory, "used", None),
                "temperature_c": t(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU),
                "throttle_mask": t(self._throttle, handle) if self._throttle else None,
                "pids": self._pids(handle),
            })
        return out

    def _pids(self, handle: Any) -> list[int] | None:
        """Pids of the compute and graphics processes on one GPU (None when NVML cannot say)."""
        nv, found, any_ok = self._nvml, set(), False
        for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            fn = getattr(nv, name, None)
            procs = self._try(fn, handle) if fn is not None else None
            if procs is not None:
                any_ok = True
                found.update(int(p.pid) for p in procs if getattr(p, "pid", None) is not None)
        return sorted(found) if any_ok else None
