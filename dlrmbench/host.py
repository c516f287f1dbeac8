"""What this machine can run, probed without torch: CUDA GPUs through NVML, CPU count.

The planner and ``list-plugins`` use this to decide skips before anything heavy is imported.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Gpu:
    """One visible NVIDIA GPU."""

    index: int
    name: str
    memory_bytes: int
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Host:
    """The capabilities of the machine a suite is planned for."""

    gpus: tuple[Gpu, ...] = ()
    cpu_count: int = 1
    gpu_probe_error: str | None = None
    memory_bytes: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def cuda_devices(self) -> int:
        return len(self.gpus)

    def no_gpu_reason(self) -> str:
        """A human explanation of why no CUDA GPU is usable here."""
        if self.gpu_probe_error:
            return f"needs a CUDA GPU; none found ({self.gpu_probe_error})"
        return "needs a CUDA GPU; none found"


def _visible_indices(count: int) -> list[int]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    out = []
    for part in visible.split(","):
        part = part.strip()
        if part.isdigit() and int(part) < count:
            out.append(int(part))
        elif part:  # UUIDs or junk: be conservative and stop, as CUDA does
            break
    return out


def probe_gpus() -> tuple[tuple[Gpu, ...], str | None]:
    """List the NVIDIA GPUs NVML reports, or return the reason NVML is unusable."""
    try:
        import pynvml
    except ImportError:
        return (), "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return (), f"NVML unavailable: {type(exc).__name__}"
    try:
        gpus = []
        for index in _visible_indices(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total
            try:
                cc = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(handle))
            except Exception:
                cc = None
            gpus.append(Gpu(index=index, name=name, memory_bytes=int(memory), compute_capability=cc))
        return tuple(gpus), None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


@functools.lru_cache(maxsize=1)
def current_host() -> Host:
    """Probe this machine once per process. ``DLRMBENCH_FAKE_GPUS=N`` fakes N GPUs (for tests)."""
    fake = os.environ.get("DLRMBENCH_FAKE_GPUS")
    if fake is not None and fake.isdigit():
        gpus = tuple(Gpu(i, "Fake GPU", 80 * 2**30, (9, 0)) for i in range(int(fake)))
        error = None if gpus else "DLRMBENCH_FAKE_GPUS=0"
    else:
        gpus, error = probe_gpus()
    return Host(gpus=gpus, cpu_count=os.cpu_count() or 1, gpu_probe_error=error, memory_bytes=_host_memory())
