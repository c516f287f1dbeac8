"""The built-in telemetry sources (registration only): NVML for NVIDIA GPUs, and the host (/proc)."""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class NoOptions(PluginOptions):
    """This source has no options."""


class _Opener:
    """A source whose ``open`` is a reader class's own ``open`` (imported when the sampler starts)."""

    def __init__(self, opener: Callable[[Any], Any]) -> None:
        self.open = opener


def nvml_source(ctx: Any) -> _Opener:
    from dlrmbench.telemetry.nvml import NvmlReader

    return _Opener(NvmlReader.open)


def host_source(ctx: Any) -> _Opener:
    from dlrmbench.telemetry.hostproc import open_host

    return _Opener(open_host)


@hookimpl
def register_telemetry(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(kind="telemetry", name="nvml", options=NoOptions, devices=("cuda",),
                        summary="NVIDIA GPUs through NVML: power, energy, clocks, memory, throttling, processes",
                        factory="dlrmbench_plugins.telemetry:nvml_source"))
    register(PluginSpec(kind="telemetry", name="host", options=NoOptions,
                        summary="the host through /proc and /sys: CPU, memory, the worker tree, other processes",
                        factory="dlrmbench_plugins.telemetry:host_source"))
