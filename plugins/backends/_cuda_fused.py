"""Implementation of the ``cuda_fused`` backend (imports torch and triton)."""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench.model.interactions import interaction_width
from dlrmbench.plugin_api import BuildContext
from dlrmbench.model.mlp import TorchMlp
from dlrmbench_plugins.kernels.capability import TritonOptions


class TritonDotInteraction(nn.Module):
    """The dot interaction as one Triton kernel each way; output layout of DotInteraction."""

    def __init__(self, num_vectors: int, dim: int) -> None:
        super().__init__()
        self.num_vectors, self.dim = num_vectors, dim
        self.out_features = interaction_width("dot", num_vectors, dim)
        self.zero_padding_column = True  # the reference zeroes the top MLP's weights on the pad

    def forward(self, bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        from dlrmbench_plugins.kernels.dot_interaction import triton_dot_interaction

        return triton_dot_interaction(bottom, embedded)


class CudaFusedBackend:
    """nn.Linear MLPs (apex's fused MLP is the ``apex_mlp`` backend), Triton dot interaction.

    ``cat`` has nothing to fuse and stays the plain concatenation. The fused embedding gather is
    the ``joint_fused`` strategy (strategies are chosen separately, so results stay comparable).
    """

    def __init__(self, options: TritonOptions | None = None) -> None:
        self.options = options or TritonOptions()
        if self.options.interpret:
            from dlrmbench_plugins.kernels.launch import enable_interpreter

            enable_interpreter()

    def mlp(self, in_features: int, sizes: list[int]) -> nn.Module:
        return TorchMlp(in_features, sizes)

    def interaction(self, ctx: BuildContext) -> nn.Module | None:
        """The Triton kernel for ``dot``; any other interaction is the interaction plugin's own."""
        if ctx.case.model.interaction.name == "dot":
            return TritonDotInteraction(ctx.num_vectors, ctx.embedding_dim)
        return None

    def finalize(self, model: nn.Module) -> nn.Module:
        return model


def build(ctx: BuildContext) -> CudaFusedBackend:
    return CudaFusedBackend(ctx.options)
