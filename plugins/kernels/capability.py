"""Capability checks for plugins built on the Triton kernels (light: no torch, no triton import)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dlrmbench.plugin_api import PluginOptions, module_available

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class TritonOptions(PluginOptions):
    """Options of the plugins whose kernels are written in Triton."""

    interpret: bool = False
    """Run the kernels in Triton's interpreter on the CPU (slow: for tests, never for timings)."""


def interpreter_requested(options: TritonOptions | None) -> bool:
    env = os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "on", "yes")
    return env or bool(options is not None and getattr(options, "interpret", False))


def triton_reason(host: "Host", case: "Case | None", options: TritonOptions | None) -> str | None:
    """Why the Triton kernels cannot run here for ``case``, or None."""
    if not module_available("triton"):
        return "needs Triton (pip install triton, or dlrmbench[triton])"
    device = case.device if case is not None else ("cuda" if host.cuda_devices else "cpu")
    if device == "cpu" and not interpreter_requested(options):
        return ("its Triton kernels need a CUDA GPU; on the CPU set options: {interpret: true} "
                "(Triton's interpreter: correct but slow, for tests only)")
    if device == "cuda" and not host.cuda_devices:
        return host.no_gpu_reason()
    return None
