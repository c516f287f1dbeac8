"""The ``apex_mlp`` backend: NVIDIA apex's fused MLP (registration only; no torch, no apex import)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host

APEX_MISSING = "NVIDIA apex is not installed (build it from source; the PyPI package named apex is unrelated)"


class ApexOptions(PluginOptions):
    """The apex backend has no options."""


def nvidia_apex_installed() -> bool:
    """True when an ``apex`` package with an ``mlp`` subpackage is importable (found on disk, not imported:
    importing apex imports torch, and the unrelated PyPI ``apex`` has no ``mlp``)."""
    try:
        spec = importlib.util.find_spec("apex")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(location) / "mlp").is_dir() for location in spec.submodule_search_locations)


def apex_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    if not nvidia_apex_installed():
        return APEX_MISSING
    if case is not None and case.device != "cuda":
        return "apex's fused MLP runs only on CUDA GPUs"
    if not host.cuda_devices:
        return host.no_gpu_reason()
    return None


@hookimpl
def register_backends(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="backend",
            name="apex_mlp",
            summary="NVIDIA apex's fused MLP (apex.mlp, the reference's default on GPUs); batched-matmul interaction",
            factory="dlrmbench_plugins.backends._apex_mlp:build",
            options=ApexOptions,
            check=apex_reason,
        )
    )
