"""Implementations of the ``joint`` and ``multi_table`` strategies (imports torch)."""

from __future__ import annotations

import torch
from torch import nn

from dlrmbench.batch import Ids, SparseFeatures
from dlrmbench.model.embeddings import EmbeddingBase, uniform_table_init_
from dlrmbench.plugin_api import BuildContext


def build_joint(ctx: BuildContext) -> "JointEmbedding":
    return JointEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices, ctx.options)


def build_multi_table(ctx: BuildContext) -> "MultiTableEmbedding":
    return MultiTableEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices,
                               ctx.options)


class JointEmbedding(EmbeddingBase):
    """One table of sum(n_i) rows; row = id + offset of its feature; one gather -> (B, F, D).

    Multi-hot ids: one ``embedding_bag`` (sum) over all F x B bags of the joint table.
    """

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        self.weight = nn.Parameter(torch.empty(sum(self.table_sizes), dim))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for offset, rows in zip(self.offsets.tolist(), self.table_sizes):
            uniform_table_init_(self.weight.data[offset : offset + rows], rows, generator)

    def forward(self, categorical: Ids) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        if isinstance(ids, SparseFeatures):
            rows = ids.values + self.offsets[ids.feature_of_values()]
            pooled = nn.functional.embedding_bag(rows, self.weight, ids.bag_offsets()[:-1], mode="sum", sparse=True)
            return pooled.view(ids.num_features, ids.batch_size, self.dim).transpose(0, 1)
        rows = ids + self.offsets
        return nn.functional.embedding(rows, self.weight, sparse=True)


class MultiTableEmbedding(EmbeddingBase):
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

    def forward(self, categorical: Ids) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        if isinstance(ids, SparseFeatures):  # one embedding_bag (sum) per feature
            pooled = []
            for f, table in enumerate(self.tables):
                values, offsets = ids.feature(f)
                pooled.append(nn.functional.embedding_bag(values, table.weight, offsets, mode="sum",
                                                          sparse=table.sparse))
            return torch.stack(pooled, dim=1)
        return torch.stack([table(ids[:, f]) for f, table in enumerate(self.tables)], dim=1)
