"""The ``joint_sparse`` and ``joint_fused`` embedding strategies (registration only; no torch here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec
from dlrmbench_plugins.kernels.capability import TritonOptions, triton_reason

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host


class NoOptions(PluginOptions):
    """This strategy has no options."""


def _fused_reason(host: "Host", case: "Case | None", options: Any) -> str | None:
    # The gather kernel tiles lookups and columns, so it has no feature-count or width limit.
    return triton_reason(host, case, options)


@hookimpl
def register_embeddings(register: Callable[[PluginSpec], None]) -> None:
    register(
        PluginSpec(
            kind="embedding",
            name="joint_sparse",
            summary="one table with per-feature offsets; gather forward, sparse COO gradient backward",
            factory="dlrmbench_plugins.embeddings._fused_tables:build_joint_sparse",
            options=NoOptions,
        )
    )
    register(
        PluginSpec(
            kind="embedding",
            name="joint_fused",
            summary="one table; Triton gather (one-hot) or bag kernel (multi-hot) adding offsets in the kernel, "
                    "float16 out under AMP (any F, D)",
            factory="dlrmbench_plugins.embeddings._fused_tables:build_joint_fused",
            options=TritonOptions,
            check=_fused_reason,
            requires=("triton",),
            multi_hot=True,
        )
    )
