"""Implementations of the ``joint`` and ``multi_table`` strategies (imports torch)."""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench.model.embeddings import EmbeddingStrategy, uniform_table_init_


class JointEmbedding(EmbeddingStrategy):
    """One table of sum(n_i) rows; row = id + offset of its feature; one gather -> (B, F, D)."""

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        self.weight = nn.Parameter(torch.empty(sum(self.table_sizes), dim))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for offset, rows in zip(self.offsets.tolist(), self.table_sizes):
            uniform_table_init_(self.weight.data[offset : offset + rows], rows, generator)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        rows = self.prepare_indices(categorical) + self.offsets
        return nn.functional.embedding(rows, self.weight, sparse=True)


class MultiTableEmbedding(EmbeddingStrategy):
    """One table per feature; F lookups stacked into (B, F, D).

    ``sparse=False`` gives dense gradients (every row updated every step): only the benchmarks use it,
    as the baseline the sparse strategies are measured against.
    """

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None,
                 sparse: bool = True) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        self.tables = nn.ModuleList(nn.Embedding(rows, dim, sparse=sparse) for rows in self.table_sizes)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for table, rows in zip(self.tables, self.table_sizes):
            uniform_table_init_(table.weight.data, rows, generator)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        return torch.stack([table(ids[:, f]) for f, table in enumerate(self.tables)], dim=1)
