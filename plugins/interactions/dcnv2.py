"""The ``dcnv2`` interaction: MLPerf DLRMv2's low-rank cross network (registration only; no torch here).

TorchRec's ``LowRankCrossNet`` (``--dcn_num_layers=3 --dcn_low_rank_dim=512`` in the MLPerf reference) over
the bottom output and the pooled embeddings flattened: width ``n * d`` (3456 for 26 features of dim 128),
no padding. Implementation: :mod:`dlrmbench.model.dcnv2`.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import Field, PositiveInt

from dlrmbench import hookimpl
from dlrmbench.plugin_api import PluginOptions, PluginSpec


class Dcnv2Options(PluginOptions):
    """The cross network's shape (defaults: the MLPerf reference)."""

    layers: PositiveInt = Field(default=3, description="cross layers [--dcn_num_layers]")
    low_rank: PositiveInt = Field(default=512, description="rank of each layer's W V factorisation [--dcn_low_rank_dim]")


def dcnv2_width(options: Any, num_vectors: int, dim: int) -> int:
    return num_vectors * dim


@hookimpl
def register_interactions(register: Callable[[PluginSpec], None]) -> None:
    register(PluginSpec(kind="interaction", name="dcnv2", options=Dcnv2Options, output_width=dcnv2_width,
                        mlp_init="torch",  # the DLRMv2 reference's MLPs: TorchRec Perceptrons, nn.Linear's default
                        summary="DCNv2 low-rank cross network (MLPerf DLRMv2: 3 layers, rank 512), no padding",
                        factory="dlrmbench.model.dcnv2:build_dcnv2"))
