"""Implementations of the ``torchrec`` and ``torchrec_fused`` strategies (imports torch and torchrec).

Both hold one table per feature in a TorchRec collection keyed ``cat_<i>``, take ids (``(B, F)``
one-hot, or :class:`~dlrmbench.batch.SparseFeatures`: lengths or a fixed hotness) through the same
checks as every strategy, hand TorchRec a ``KeyedJaggedTensor`` (the same feature-major layout:
values as they are, lengths of one for one-hot ids, ``bag_lengths()`` otherwise), sum-pool, and
return the pooled ``KeyedTensor`` as ``(B, F, D)``.

- ``torchrec``: ``torchrec.EmbeddingBagCollection``; its tables get dense gradients, which the
  harness's optimizer applies like any other parameter.
- ``torchrec_fused``: ``FusedEmbeddingBagCollection``: FBGEMM's table-batched embedding kernel
  (``fbgemm-gpu-cpu`` on the CPU, ``fbgemm-gpu`` on CUDA) with exact SGD applied to the touched
  rows inside backward, or exact Adagrad (``optimizer.name: adagrad``: FBGEMM's EXACT_ADAGRAD,
  duplicates summed before the update, accumulators from 0, the adagrad plugin's ``eps``); the
  tables carry no gradient, so the harness's optimizer skips them and gives the strategy the
  learning rate of each step instead (``applies_own_optimizer``). The Adagrad accumulators are
  part of the module's state dict (``get_extra_state``), so checkpoints carry them.

Tables are initialised row block by row block from the model's generator, in feature order, so
both start from the weights ``multi_table`` starts from for the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dlrmbench.batch import Ids, SparseFeatures, ids_batch_size
from dlrmbench.model.embeddings import EmbeddingBase, uniform_table_init_
from dlrmbench.plugin_api import BuildContext

FUSED_OPTIMIZERS: dict[str, str] = {"sgd": "SGD", "adagrad": "Adagrad"}
"""``optimizer.name`` -> the ``torch.optim`` class TorchRec maps to FBGEMM's EXACT_SGD / EXACT_ADAGRAD."""
DEFAULT_ADAGRAD_EPS = 1e-8  # the adagrad plugin's default (MLPerf checker value)


def build_torchrec(ctx: BuildContext) -> "TorchRecEmbedding":
    return TorchRecEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices, ctx.options)


def build_torchrec_fused(ctx: BuildContext) -> "TorchRecFusedEmbedding":
    optimizer = ctx.case.optimizer
    eps = float(optimizer.options.get("eps", DEFAULT_ADAGRAD_EPS))  # validated by the adagrad plugin's options
    return TorchRecFusedEmbedding(list(ctx.table_sizes or ()), ctx.embedding_dim, ctx.case.model.hash_indices,
                                  ctx.options, optimizer=optimizer.name, eps=eps)


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


def keyed_jagged(ids: Ids, keys: list[str]) -> Any:
    """Either form of ids as a ``KeyedJaggedTensor`` (``SparseFeatures`` already has its layout:
    feature-major values; its lengths, or its fixed hotness repeated per sample)."""
    if not isinstance(ids, SparseFeatures):
        return one_hot_features(ids, keys)
    from torchrec import KeyedJaggedTensor

    return KeyedJaggedTensor(keys=keys, values=ids.values, lengths=ids.bag_lengths(), stride=ids.batch_size)


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

    def forward(self, categorical: Ids) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        pooled = self.collection(keyed_jagged(ids, self.keys)).values()
        return pooled.view(ids_batch_size(ids), len(self.keys), self.dim)


class TorchRecEmbedding(_TorchRecStrategy):
    """``torchrec.EmbeddingBagCollection``: dense table gradients, applied by the harness's optimizer."""

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        from torchrec import EmbeddingBagCollection

        self.collection = EmbeddingBagCollection(tables=table_configs(self.table_sizes, dim),
                                                 device=torch.device("cpu"))


class TorchRecFusedEmbedding(_TorchRecStrategy):
    """``FusedEmbeddingBagCollection`` (FBGEMM TBE) with exact SGD or exact Adagrad fused into backward.

    Built on the CPU like every strategy; moving the model to a CUDA device rebuilds the
    collection there (FBGEMM picks its kernels when the collection is built) and copies the rows
    and the optimizer state.
    """

    applies_own_optimizer = True

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool = False, options: object = None,
                 optimizer: str = "sgd", eps: float = DEFAULT_ADAGRAD_EPS) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        if optimizer not in FUSED_OPTIMIZERS:
            raise ValueError(f"torchrec_fused implements optimizer.name {' or '.join(FUSED_OPTIMIZERS)}, "
                             f"not {optimizer!r}")
        self.optimizer_name, self.eps = optimizer, eps
        self.collection = self._make_collection(torch.device("cpu"))
        self._lr: float | None = None

    def _make_collection(self, device: torch.device) -> nn.Module:
        from torchrec.modules.fused_embedding_modules import FusedEmbeddingBagCollection

        kwargs: dict[str, float] = {"lr": 0.0}
        if self.optimizer_name == "adagrad":
            kwargs["eps"] = self.eps
        return FusedEmbeddingBagCollection(tables=table_configs(self.table_sizes, self.dim),
                                           optimizer_type=getattr(torch.optim, FUSED_OPTIMIZERS[self.optimizer_name]),
                                           optimizer_kwargs=kwargs, device=device)

    def optimizer_states(self) -> list[torch.Tensor]:
        """FBGEMM's optimizer state of each table, in feature order (Adagrad: the ``(rows, D)`` sums of
        squared gradients; SGD: none). Views of the kernel's storage: writing them changes the state."""
        return [state for module in self.collection._emb_modules  # noqa: SLF001 (TorchRec keeps them private)
                for table in module._emb_module.split_optimizer_states() for state in table]

    def optimizer_state_bytes(self, state_bytes_per_parameter: float = 0.0) -> int:
        return sum(s.numel() * s.element_size() for s in self.optimizer_states())

    def get_extra_state(self) -> dict[str, Any]:
        """What a checkpoint must hold besides the rows to resume exactly: the optimizer and its state."""
        return {"optimizer": self.optimizer_name, "states": [s.detach().clone() for s in self.optimizer_states()]}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Continue from a saved state; one saved with another optimizer is left out (a fresh optimizer, as
        the optimizer plugin's own state is when ``optimizer.name`` changes between save and load)."""
        if not isinstance(state, dict) or state.get("optimizer") != self.optimizer_name:
            return
        mine = self.optimizer_states()
        states = list(state.get("states", []))
        if len(states) != len(mine) or any(a.shape != b.shape for a, b in zip(states, mine)):
            raise ValueError(f"this torchrec_fused optimizer state holds {[tuple(s.shape) for s in states]}, "
                             f"this model needs {[tuple(s.shape) for s in mine]}")
        with torch.no_grad():
            for target, saved_state in zip(mine, states):
                target.copy_(saved_state)

    def shardable(self, gradient_scale: float = 1.0, table_sizes: list[int] | None = None) -> "ShardableEmbeddings":
        """The same tables as TorchRec's ``DistributedModelParallel`` shards them (topology ``torchrec_dmp``):
        an ``EmbeddingBagCollection`` on the meta device with this strategy's optimizer applied in backward
        (``table_sizes``: tables of these sizes instead, for a plan made without building the real ones).
        ``gradient_scale``: how many times the global-mean gradient the tables will receive (DMP sums the
        ranks' gradients); Adagrad's eps is scaled by it so that the update is the single-process one."""
        kwargs: dict[str, float] = {"lr": 0.0}
        if self.optimizer_name == "adagrad":
            kwargs["eps"] = self.eps * gradient_scale
        return ShardableEmbeddings(list(table_sizes or self.table_sizes), self.dim, self.hash_indices,
                                   self.optimizer_name, kwargs)

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
            state = self.get_extra_state()
            rebuilt = self._make_collection(target)
            with torch.no_grad():
                for new, old in zip(rebuilt.parameters(), self.collection.parameters()):
                    new.copy_(old)
            self.collection = rebuilt
            self.set_extra_state(state)
            if self._lr is not None:
                self.set_learning_rate(self._lr)
        return super()._apply(fn, recurse)


class ShardableEmbeddings(EmbeddingBase):
    """What ``DistributedModelParallel`` shards: an ``EmbeddingBagCollection`` on the meta device (DMP allocates
    each rank's shards), its optimizer applied in backward (DMP builds FBGEMM's fused kernels from it); ids
    in, ``(B, F, D)`` out, with the same id checks as every strategy."""

    applies_own_optimizer = True

    def __init__(self, table_sizes: list[int], dim: int, hash_indices: bool, optimizer: str,
                 optimizer_kwargs: dict[str, float]) -> None:
        super().__init__(table_sizes, dim, hash_indices)
        from torchrec import EmbeddingBagCollection
        from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

        self.keys = [feature_key(i) for i in range(len(self.table_sizes))]
        self.ebc = EmbeddingBagCollection(tables=table_configs(self.table_sizes, dim), device=torch.device("meta"))
        apply_optimizer_in_backward(getattr(torch.optim, FUSED_OPTIMIZERS[optimizer]), self.ebc.parameters(),
                                    optimizer_kwargs)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The single-process initial rows (:func:`uniform_table_init_` per table, in feature order, from
        ``generator``) written into the parts of the tables this rank holds. Each table's draw is made a block
        of rows at a time (:data:`INIT_BLOCK_BYTES`) and the part of a block that falls in a local shard is
        copied into it: host memory is the shards plus one block, the generator ends where the
        single-process model's does (the dense layers drawn after the tables match too), and the time is
        one draw of every table (about 1 GB/s on one CPU core). Before sharding (meta tables) the draw only
        advances ``generator``."""
        from dlrmbench.distributed.shards import local_parts

        for index, rows in enumerate(self.table_sizes):
            parts = local_parts(self.ebc, index)
            step = max(1, INIT_BLOCK_BYTES // (self.dim * 4))
            block = torch.empty(min(step, rows), self.dim)
            bound = math.sqrt(1.0 / rows)  # uniform_table_init_'s bound: the draw is the same stream of numbers
            for start in range(0, rows, step):
                chunk = block[:min(step, rows - start)]
                with torch.no_grad():
                    chunk.uniform_(-bound, bound, generator=generator)
                    for (row, col), target in parts:
                        low, high = max(start, row), min(start + len(chunk), row + target.shape[0])
                        if low < high:
                            target[low - row:high - row].copy_(chunk[low - start:high - start, col:col + target.shape[1]])

    def forward(self, categorical: Ids) -> torch.Tensor:
        ids = self.prepare_indices(categorical)
        return self.embedded(self.ebc(keyed_jagged(ids, self.keys)), ids_batch_size(ids))

    def sparse_input(self, categorical: Ids) -> Any:
        """``categorical`` checked (or folded) as :meth:`forward` does, as the ``KeyedJaggedTensor`` the collection
        takes (what TorchRec's train pipeline hands the sharded collection's input distribution)."""
        return keyed_jagged(self.prepare_indices(categorical), self.keys)

    def embedded(self, pooled: Any, rows: int) -> torch.Tensor:
        """The collection's pooled ``KeyedTensor`` of ``rows`` samples as ``(B, F, D)`` in feature order."""
        if list(pooled.keys()) != self.keys:  # the sharded collection returns its features grouped by shard
            vectors = pooled.to_dict()
            return torch.stack([vectors[key] for key in self.keys], dim=1)
        return pooled.values().view(rows, len(self.keys), self.dim)


INIT_BLOCK_BYTES = 64 << 20
"""The rows :meth:`ShardableEmbeddings.reset_parameters` draws at a time (the host memory it adds)."""

