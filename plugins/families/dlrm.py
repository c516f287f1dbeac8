"""The ``dlrm`` workload family: NVIDIA's 2020 DLRM and MLPerf DLRMv2 (through the ``dcnv2`` interaction).

Registration only (no torch): the model configuration is :class:`dlrmbench.config.schema.ModelConfig`
(the ``model:`` block every suite written before families existed uses), the model is assembled from a
backend, an embedding strategy and an interaction, and quality is the ROC AUC and log loss of the click
logit. Its memory is planned per rank of dlrmbench's hybrid layout.
"""

from __future__ import annotations

from typing import Any, Callable

from dlrmbench import hookimpl
from dlrmbench.config.schema import ModelConfig
from dlrmbench.distributed.hybrid_memory import plan_dlrm_memory
from dlrmbench.plugin_api import FamilyMetric, PluginSpec


def mlp_macs(in_features: int, sizes: list[int]) -> int:
    """Multiply-accumulates of one sample through an MLP."""
    total = 0
    for width in sizes:
        total += in_features * width
        in_features = width
    return total


def dlrm_flops_per_sample(config: ModelConfig, resolved: Any) -> float | None:
    """Training FLOPs per sample of the dense layers and the interaction's pairwise products: 2 FLOPs a
    multiply-accumulate, x3 for forward and backward (weight and input gradients). Embedding lookups move
    bytes, not FLOPs; an interaction's own weights (DCNv2's cross layers) are counted by their GEMMs when
    the plugin declares its width only: the figure is then a lower bound."""
    if resolved.table_sizes is None:
        return None
    n = 1 + len(resolved.table_sizes)
    d = config.embedding_dim
    width = resolved.output_width(n, d) or n * d
    macs = mlp_macs(config.num_numerical, list(config.bottom_mlp)) + mlp_macs(width, list(config.top_mlp))
    if width == d + n * (n - 1) // 2 + 1:
        macs += n * n * d  # the Gram matrix of the n vectors (bmm)
    return float(2 * 3 * macs)


@hookimpl
def register_families(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(
        kind="family", name="dlrm", options=ModelConfig,
        summary="DLRM: bottom MLP, embeddings, interaction, top MLP; click logit (NVIDIA 2020, MLPerf DLRMv2)",
        factory="dlrmbench_plugins.families._dlrm:build_family",
        uses=("backend", "embedding", "interaction"),
        metrics=(FamilyMetric("auc", "", True, "ROC AUC"),
                 FamilyMetric("log_loss", "", False, "log loss")),
        target_metric="auc",
        flops_per_sample=dlrm_flops_per_sample,
        memory_plan=plan_dlrm_memory,
        default_topology="dlrmbench",
        serving=True,
        verify="dlrmbench_plugins.families.dlrm_verify:family_rows",
    ))

