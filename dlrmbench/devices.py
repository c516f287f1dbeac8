"""The device vocabulary: one row per device type a case may name (``device: cpu``, ``device: cuda``).

Each row says how to probe the machine for it (light: no torch), how the worker addresses,
synchronises and measures it (torch, imported inside the functions), which torch.distributed
backend its ranks use. Its telemetry comes from the telemetry plugins that declare the type. Adding a
device type (``xpu``) is one row plus its probe; the planner, the worker, the timers and the launcher
read this table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

    from dlrmbench.host import Host


@dataclass(frozen=True)
class DeviceType:
    """One device type.

    Attributes:
        name: what a suite writes (``cpu``).
        torch_type: ``torch.device`` type (``cuda``).
        distributed_backend: torch.distributed backend of its ranks (``nccl``, ``gloo``).
        count: ``count(host)`` devices of this type here (None: unlimited, the CPU's processes).
        unavailable: ``unavailable(host)`` why none is usable here, or None.
        compute_capability: ``compute_capability(host)`` of the first device, or None when not applicable.
        synchronize: wait for queued work (timers read clocks after it).
        peak_memory: ``(bytes, what was measured)`` of this process on ``device``.
    """

    name: str
    torch_type: str
    distributed_backend: str
    count: Callable[["Host"], "int | None"]
    unavailable: Callable[["Host"], "str | None"]
    compute_capability: Callable[["Host"], "tuple[int, int] | None"]
    synchronize: Callable[["torch.device"], None]
    peak_memory: Callable[["torch.device"], "tuple[int, str]"]
    indexed: bool = True

    def torch_device(self, local_rank: int = 0) -> str:
        """The ``torch.device`` string of rank ``local_rank`` on this node."""
        return f"{self.torch_type}:{local_rank}" if self.indexed else self.torch_type

    def set_current(self, local_rank: int) -> None:
        """Make ``local_rank``'s device the current one (ranks of one node share the host)."""
        if self.torch_type == "cuda":
            import torch

            torch.cuda.set_device(local_rank)


def _process_peak_rss(device: "torch.device") -> tuple[int, str]:
    """The process's peak RSS (VmHWM) on Linux; 0 where /proc does not exist."""
    try:
        with open(f"/proc/{os.getpid()}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024, "process peak RSS (VmHWM)"
    except OSError:
        pass
    return 0, "process peak RSS (VmHWM)"


def _cuda_peak(device: "torch.device") -> tuple[int, str]:
    import torch

    return int(torch.cuda.max_memory_allocated(device)), "cuda max_memory_allocated"


def _cuda_sync(device: "torch.device") -> None:
    import torch

    torch.cuda.synchronize(device)


def _no_sync(device: "torch.device") -> None:
    return None


def _cuda_capability(host: "Host") -> tuple[int, int] | None:
    return host.gpus[0].compute_capability if host.gpus else None


DEVICES: dict[str, DeviceType] = {
    "cpu": DeviceType(
        name="cpu", torch_type="cpu", distributed_backend="gloo",
        count=lambda host: None, unavailable=lambda host: None, compute_capability=lambda host: None,
        synchronize=_no_sync, peak_memory=_process_peak_rss, indexed=False,
    ),
    "cuda": DeviceType(
        name="cuda", torch_type="cuda", distributed_backend="nccl",
        count=lambda host: host.cuda_devices,
        unavailable=lambda host: None if host.cuda_devices else host.no_gpu_reason(),
        compute_capability=_cuda_capability, synchronize=_cuda_sync, peak_memory=_cuda_peak,
    ),
}
"""Every device type, by the name a suite uses."""


def device_of(name: str) -> DeviceType:
    """The row of ``name`` (a KeyError names the known device types)."""
    try:
        return DEVICES[name]
    except KeyError:
        raise KeyError(f"unknown device {name!r}; known: {', '.join(DEVICES)}") from None


def device_type_of(device: "torch.device") -> DeviceType:
    """The row of a live ``torch.device`` (by its type)."""
    for row in DEVICES.values():
        if row.torch_type == device.type:
            return row
    raise KeyError(f"no device type for torch device {device}")
