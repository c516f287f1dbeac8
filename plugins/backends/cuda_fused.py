"""The ``cuda_fused`` backend: Triton kernels for the dot interaction (registration only; no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginSpec
from dlrmbench_plugins.kernels.capability import TritonOptions, triton_reason

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host

# Keep in step with dlrmbench_plugins.kernels.dot_interaction (not imported here: it imports torch).
MAX_VECTORS = 128
MAX_DIM = 512


def cuda_fused_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    """Triton must be usable here, and the dot kernel's tile must fit (<= 127 features, dim <= 512)."""
    reason = triton_reason(host, case, options)
    if reason or case is None or case.model.interaction.name != "dot":
        return reason
    if case.model.embedding_dim > MAX_DIM:
        return f"its Triton dot interaction handles embedding_dim <= {MAX_DIM}, not {case.model.embedding_dim}"
    features = len(case.model.table_sizes) if case.model.table_sizes else None
    if features is not None and features + 1 > MAX_VECTORS:
        return f"its Triton dot interaction handles up to {MAX_VECTORS - 1} categorical features, not {features}"
    return None


@hookimpl
def register_backends(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="backend",
            name="cuda_fused",
            summary="Triton dot interaction (forward+backward, fp32/fp16, reference layout); nn.Linear MLPs",
            factory="dlrmbench_plugins.backends._cuda_fused:build",
            options=TritonOptions,
            check=cuda_fused_reason,
            requires=("triton",),
        )
    )
