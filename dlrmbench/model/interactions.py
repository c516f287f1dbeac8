"""Feature interactions in the reference's output layout (facts sheet 1.5).

``dot``: pairwise dot products of the ``n = 1 + F`` vectors (bottom-MLP output first), the strict
lower triangle in row-major order ``(1,0), (2,0), (2,1), (3,0), ...``, appended after the bottom-MLP
output, then one zero of padding: width ``d + n(n-1)/2 + 1`` (480 for 26 features of dim 128).
``cat``: the ``n`` vectors flattened: width ``n * d`` (3456).
``dcnv2``: MLPerf DLRMv2's low-rank cross network (3 layers, rank 512) over the flattened vectors:
width ``n * d`` (:mod:`dlrmbench.model.dcnv2`).
"""

from __future__ import annotations

import torch
from torch import nn

DOT_PADDING = 1  # the reference's kPaddingSize: 479 -> 480, "a multiple of 8" for tensor cores


def interaction_width(kind: str, num_vectors: int, dim: int) -> int:
    """Width of the top MLP's input for ``num_vectors`` vectors (bottom MLP + features) of ``dim``."""
    if kind == "dot":
        return dim + num_vectors * (num_vectors - 1) // 2 + DOT_PADDING
    if kind in ("cat", "dcnv2"):
        return num_vectors * dim
    raise ValueError(f"unknown interaction {kind!r}; choose dot, cat or dcnv2")


class DotInteraction(nn.Module):
    """Batched-matmul dot interaction. ``(B, d)``, ``(B, F, d)`` in; ``(B, width)`` out.

    Its backward is one ``bmm`` (:mod:`dlrmbench.model.dot_autograd`), not autograd's two.
    """

    def __init__(self, num_vectors: int, dim: int) -> None:
        super().__init__()
        self.num_vectors, self.dim = num_vectors, dim
        rows, cols = torch.tril_indices(num_vectors, num_vectors, offset=-1)
        self.register_buffer("flat_index", rows * num_vectors + cols, persistent=False)
        self.register_buffer("flat_index_transposed", cols * num_vectors + rows, persistent=False)
        self.out_features = interaction_width("dot", num_vectors, dim)
        self.zero_padding_column = True  # the reference zeroes the top MLP's weights on the pad

    def forward(self, bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        from dlrmbench.model.dot_autograd import dot_interaction

        return dot_interaction(bottom, embedded, self.flat_index, self.flat_index_transposed, DOT_PADDING)


class CatInteraction(nn.Module):
    """Concatenation interaction. ``(B, d)``, ``(B, F, d)`` in; ``(B, (1+F)*d)`` out."""

    def __init__(self, num_vectors: int, dim: int) -> None:
        super().__init__()
        self.out_features = interaction_width("cat", num_vectors, dim)
        self.zero_padding_column = True  # dlrmbench's rule since the 2020 model: the last input column starts at 0

    def forward(self, bottom: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        return torch.cat([bottom.unsqueeze(1), embedded.to(bottom.dtype)], dim=1).flatten(1)


def make_interaction(kind: str, num_vectors: int, dim: int) -> nn.Module:
    """The plain PyTorch interaction module for ``kind``."""
    if kind == "dot":
        return DotInteraction(num_vectors, dim)
    if kind == "cat":
        return CatInteraction(num_vectors, dim)
    if kind == "dcnv2":
        from dlrmbench.model.dcnv2 import Dcnv2Interaction

        return Dcnv2Interaction(num_vectors, dim)  # the reference's 3 layers, low rank 512
    raise ValueError(f"unknown interaction {kind!r}; choose dot, cat or dcnv2")
