"""The ``compiled`` backend: torch.compile of the dense parts (registration only; no torch here)."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any, Callable, Literal

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec, module_available

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class CompiledOptions(PluginOptions):
    """How torch.compile is called."""

    mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = "default"
    """torch.compile's mode (``reduce-overhead`` uses CUDA graphs on GPUs)."""
    compiler: str = "inductor"
    """torch.compile's backend: ``inductor``; ``aot_eager`` checks tracing without generating code."""
    dynamic: bool = False
    """Compile for dynamic batch sizes instead of recompiling for a new one (e.g. a short last batch)."""


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use on the CPU (``CXX`` or g++/clang++ on PATH), if any."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++", "c++"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def compiled_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    if getattr(options, "compiler", "inductor") != "inductor":
        return None
    device = case.device if case is not None else ("cuda" if host.cuda_devices else "cpu")
    if device == "cpu" and cxx_compiler() is None:
        return "torch.compile's inductor needs a C++ compiler on the CPU (g++ or clang++ on PATH, or set CXX)"
    if device == "cuda" and not module_available("triton"):
        return "torch.compile's inductor needs Triton on CUDA GPUs (pip install triton)"
    return None


@hookimpl
def register_backends(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="backend",
            name="compiled",
            summary="torch.compile of the dense parts (bottom MLP, interaction, top MLP) as one graph",
            factory="dlrmbench_plugins.backends._compiled:build",
            options=CompiledOptions,
            check=compiled_reason,
        )
    )
