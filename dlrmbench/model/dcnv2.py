"""DCNv2 low-rank cross network over the concatenated bottom output and pooled embeddings (imports torch).

What the MLPerf DLRMv2 reference runs (``mlcommons/training:recommendation_v2/torchrec_dlrm``,
``--interaction_type=dcn --dcn_num_layers=3 --dcn_low_rank_dim=512``), built like TorchRec's
``torchrec.modules.crossnet.LowRankCrossNet`` inside ``torchrec.models.dlrm.InteractionDCNArch``:

- input ``x0 = concat(bottom (B, d), embedded (B, F, d))`` flattened to ``(B, (1 + F) * d)``, bottom
  first (3456 for 26 features of dim 128); no padding;
- per layer ``l``: ``x_{l+1} = x0 * (W_l (V_l x_l) + b_l) + x_l`` with ``W_l (N, r)``, ``V_l (r, N)``;
- initialisation: ``W_l`` and ``V_l`` Xavier-normal (``std = sqrt(2 / (fan_in + fan_out))``), ``b_l`` zeros,
  drawn per layer in the order W_0, V_0, ..., then W_1, V_1 ... as TorchRec's constructor does
  (two ParameterLists: all W first, then all V). Our draws come from the model's seeded generator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from dlrmbench.plugin_api import BuildContext


def dcnv2_width(num_vectors: int, dim: int) -> int:
    """Width of the cross network's input and output: the flattened vectors (no padding)."""
    return num_vectors * dim


class LowRankCrossNet(nn.Module):
    """``num_layers`` low-rank cross layers over ``(B, N)``; ``(B, N)`` out."""

    def __init__(self, in_features: int, num_layers: int = 3, low_rank: int = 512) -> None:
        super().__init__()
        if num_layers < 1 or low_rank < 1:
            raise ValueError(f"the cross network needs num_layers >= 1 and low_rank >= 1, got {num_layers}, {low_rank}")
        self.in_features, self.num_layers, self.low_rank = in_features, num_layers, low_rank
        self.W_kernels = nn.ParameterList(nn.Parameter(torch.empty(in_features, low_rank)) for _ in range(num_layers))
        self.V_kernels = nn.ParameterList(nn.Parameter(torch.empty(low_rank, in_features)) for _ in range(num_layers))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(in_features)) for _ in range(num_layers))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Xavier-normal kernels (all W, then all V, as TorchRec allocates them), zero biases."""
        with torch.no_grad():
            for kernel in list(self.W_kernels) + list(self.V_kernels):
                fan_out, fan_in = kernel.shape
                kernel.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)
            for bias in self.bias:
                bias.zero_()

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, v, b in zip(self.W_kernels, self.V_kernels, self.bias):
            x = x0 * (nn.functional.linear(nn.functional.linear(x, v), w) + b) + x
        return x


class Dcnv2Interaction(nn.Module):
    """The ``dcnv2`` interaction: ``(B, d)``, ``(B, F, d)`` in; ``(B, (1 + F) * d)`` out."""

    zero_padding_column = False  # the top MLP's last input is a real feature, not the dot's zero pad

    def __init__(self, num_vectors: int, dim: int, num_layers: int = 3, low_rank: int = 512) -> None:
        super().__init__()
        self.out_features = dcnv2_width(num_vectors, dim)
        self.crossnet = LowRankCrossNet(self.out_features, num_layers, low_rank)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        self.crossnet.reset_parameters(generator)

    def forward(self, bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        x0 = torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1).flatten(1)
        return self.crossnet(x0)



def build_dcnv2(ctx: "BuildContext") -> Dcnv2Interaction:
    """Factory of the ``dcnv2`` interaction plugin (the model initialises it from the case's seed)."""
    return Dcnv2Interaction(ctx.num_vectors, ctx.embedding_dim, ctx.options.layers, ctx.options.low_rank)
