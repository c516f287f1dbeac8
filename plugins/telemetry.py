"""The built-in telemetry sources (registration only): NVML for NVIDIA GPUs, and the host (/proc)."""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginSpec


def nvml_source(ctx: Any) -> Any:
    """The NVML reader class: its ``open(indices)`` is the source's."""
    from dlrmbench.telemetry.nvml import NvmlReader

    return NvmlReader


def host_source(ctx: Any) -> Any:
    """The /proc reader class: its ``open(root_pid)`` is the source's."""
    from dlrmbench.telemetry.hostproc import HostReader

    return HostReader


@hookimpl
def register_telemetry(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(kind="telemetry", name="nvml", devices=("cuda",),
                        summary="NVIDIA GPUs through NVML: power, energy, clocks, memory, throttling, processes",
                        factory="dlrmbench_plugins.telemetry:nvml_source"))
    register(PluginSpec(kind="telemetry", name="host",
                        summary="the host through /proc and /sys: CPU, memory, the worker tree, other processes",
                        factory="dlrmbench_plugins.telemetry:host_source"))
