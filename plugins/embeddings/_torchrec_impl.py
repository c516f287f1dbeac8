"""Implementations of the ``torchrec`` and ``torchrec_fused`` strategies (imports torch and torchrec).

Both hold one table per feature in a TorchRec collection keyed ``cat_<i>``, take ids ``(B, F)``
through the same checks as every strategy, hand TorchRec a ``KeyedJaggedTensor`` (one id per
feature and sample: lengths of one) and return its pooled ``KeyedTensor`` as ``(B, F, D)``.

- ``torchrec``: ``torchrec.EmbeddingBagCollection``; its tables get dense gradients, which the
  harness's optimizer applies like any other parameter.
- ``torchrec_fused``: ``FusedEmbeddingBagCollection``: FBGEMM's table-batched embedding kernel
  (``fbgemm-gpu-cpu`` on the CPU, ``fbgemm-gpu`` on CUDA) with exact SGD applied to the touched
  rows inside backward; the tables carry no gradient, so the harness's optimizer skips them and
  gives the strategy the learning rate of each step instead (``applies_own_optimizer``).

Tables are initialised row block by row block from the model's generator, in feature order, so
both start from the weights ``multi_table`` starts from for the same seed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlrmbench.model.embeddings import EmbeddingBase, uniform_table_init_
from dlrmbench.plugin_api import BuildContext


def build_torchrec(ctx: BuildContext) -> "TorchRecEmbedding":
    return TorchRecEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices, ctx.options)


def build_torchrec_fused(ctx: BuildContext) -> "TorchRecFusedEmbedding":
    return TorchRecFusedEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices,
                                  ctx.options)


def feature_key(index: int) -> str:
    return f"cat_{index}"


def table_configs(table_sizes: list[int], dim: int) -> list[Any]:
    """One TorchRec ``EmbeddingBagConfig`` per feature (sum pooling, one feature per table)."""
    from torchrec import EmbeddingBagConfig, PoolingType

    return [EmbeddingBagConfig(name=f"table_{i}", embedding_dim=dim, num_embeddings=rows,
                               feature_names=[feature_key(i)], pooling=PoolingType.SUM)
            for i, rows in enumerate(table_sizes)]


def one_hot_features(ids: torch.Tensor, keys: list[str]) -> Any:
    """``(B, F)`` ids as a ``KeyedJaggedTensor``: feature-major values, every length one."""
    from torchrec import KeyedJaggedTensor

    batch, features = ids.shape
    values = ids.t().reshape(-1)
    offsets = torch.arange(batch * features + 1, device=ids.device, dtype=torch.int64)
    return KeyedJaggedTensor(keys=keys, values=values, offsets=offsets, stride=batch)


class _TorchRecStrategy(EmbeddingBase):
    """What both TorchRec strategies share: keys, ids in, ``(B, F, D)`` out, initialisation."""

    collection: nn.Module

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        self.keys = [feature_key(i) for i in range(len(self.table_sizes))]

    def tables(self) -> list[torch.Tensor]:
        """Each feature's ``(rows, D)`` table, in feature order (views of the collection's storage)."""
        params = dict(self.collection.named_parameters())
        return [params[f"embedding_bags.table_{i}.weight"] for i in range(len(self.table_sizes))]

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        for table, rows in zip(self.tables(), self.table_sizes):
            uniform_table_init_(table.data, rows, generator)

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        pooled = self.collection(one_hot_features(ids, self.keys)).values()
        return pooled.view(ids.shape[0], len(self.keys), self.dim)


class TorchRecEmbedding(_TorchRecStrategy):
    """``torchrec.EmbeddingBagCollection``: dense table gradients, applied by the harness's optimizer."""

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        from torchrec import EmbeddingBagCollection

        self.collection = EmbeddingBagCollection(tables=table_configs(self.table_sizes, dim),
                                                 device=torch.device("cpu"))


class TorchRecFusedEmbedding(_TorchRecStrategy):
    """``FusedEmbeddingBagCollection`` (FBGEMM TBE) with exact SGD fused into backward.

    Built on the CPU like every strategy; moving the model to a CUDA device rebuilds the
    collection there (FBGEMM picks its kernels when the collection is built) and copies the rows.
    """

    applies_own_optimizer = True

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        self.collection = self._make_collection(torch.device("cpu"))
        self._lr: float | None = None

    def _make_collection(self, device: torch.device) -> nn.Module:
        from torchrec.modules.fused_embedding_modules import FusedEmbeddingBagCollection

        return FusedEmbeddingBagCollection(tables=table_configs(self.table_sizes, self.dim),
                                           optimizer_type=torch.optim.SGD, optimizer_kwargs={"lr": 0.0},
                                           device=device)

    def set_learning_rate(self, lr: float) -> None:
        """The rate the fused SGD applies in the coming backward (the harness's schedule)."""
        self._lr = float(lr)
        optimizer = self.collection.fused_optimizer()
        for group in optimizer.param_groups:
            group["lr"] = self._lr
        optimizer.step()  # a fused optimizer's step only hands the rate to the kernel

    def forward(self, categorical: torch.Tensor) -> torch.Tensor:
        if self._lr is None and self.training and torch.is_grad_enabled():
            raise RuntimeError("torchrec_fused applies SGD inside backward: the training loop must call "
                               "set_learning_rate(lr) on it before each step")
        return super().forward(categorical)

    def _apply(self, fn: Any, recurse: bool = True) -> "TorchRecFusedEmbedding":
        current = self.tables()[0].device
        target = fn(torch.empty(0, device=current)).device
        if target != current:
            rebuilt = self._make_collection(target)
            with torch.no_grad():
                for new, old in zip(rebuilt.parameters(), self.collection.parameters()):
                    new.copy_(old)
            self.collection = rebuilt
            if self._lr is not None:
                self.set_learning_rate(self._lr)
        return super()._apply(fn, recurse)
